//! Runners: tasks that take a text's waiting statements to the database, batch after batch, on
//! a connection they keep while the lane has others to spare.

use std::sync::Arc;
use std::time::Instant;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{AssertSqlSafe, PgPool, Postgres};

use super::answers::{by_key, by_member};
use super::{Coalescer, Member, Timed};
use crate::db::{DbError, bind_postgres, fetch_postgres};
use crate::query::Value;
use crate::sql::Combining;

/// Batches a runner runs on the connection it holds before handing it back to the pool, which
/// tests it then and retires it past its lifetime.
const HELD_BATCHES: usize = 100;

impl Coalescer {
    /// Runs batches of one statement text until none waits, on one connection while the pool
    /// has others to spare: handing a connection back costs a round trip, sqlx's test of it.
    pub(super) async fn runner(self: Arc<Self>, pool: PgPool, sql: Arc<str>) {
        let mut held: Option<(PoolConnection<Postgres>, usize)> = None;
        while let Some((batch, combining)) = self.next_batch(&sql) {
            let (conn, runs) = match held.take() {
                Some(held) => held,
                None => match pool.acquire().await {
                    Ok(conn) => (conn, 0),
                    Err(error) => {
                        let busy = matches!(error, sqlx::Error::PoolTimedOut);
                        let failure = error.to_string();
                        for (_, reply) in batch {
                            let _ = reply.send(Err(if busy {
                                DbError::Busy
                            } else {
                                DbError::Combined(failure.clone())
                            }));
                        }
                        continue;
                    }
                },
            };
            let conn = self.run_batch(&pool, conn, &sql, batch, combining).await;
            if let Some(conn) = conn.filter(|_| runs + 1 < HELD_BATCHES && !saturated(&pool)) {
                held = Some((conn, runs + 1));
            }
        }
    }

    /// Runs one batch on `conn` and answers its members; hands `conn` back unless the batch
    /// failed.
    async fn run_batch(
        &self,
        pool: &PgPool,
        mut conn: PoolConnection<Postgres>,
        sql: &Arc<str>,
        batch: Vec<Member>,
        combining: Combining,
    ) -> Option<PoolConnection<Postgres>> {
        let mut distinct: Vec<&[Value]> = Vec::new();
        let slots: Vec<usize> = batch
            .iter()
            .map(|(params, _)| {
                let equal = match combining {
                    Combining::Reads => distinct.iter().position(|d| *d == params.as_slice()),
                    Combining::Inserts | Combining::Rows => None,
                };
                equal.unwrap_or_else(|| {
                    distinct.push(params);
                    distinct.len() - 1
                })
            })
            .collect();
        let started = Instant::now();
        let shares = u32::try_from(distinct.len()).unwrap_or(u32::MAX);
        let answers = match distinct.as_slice() {
            [params] => fetch_postgres(&mut *conn, sql, params)
                .await
                .map(|answer| vec![answer]),
            members => {
                let combined = self.combined(sql, members.len());
                let rows = fetch_all(&mut conn, combined, members).await;
                match combining {
                    Combining::Rows => rows.and_then(|rows| by_key(rows, members.len())),
                    Combining::Reads | Combining::Inserts => {
                        rows.and_then(|rows| by_member(rows, members.len()))
                    }
                }
            }
        };
        match answers {
            Ok(answers) => {
                let cost = started.elapsed() / shares;
                for ((_, reply), slot) in batch.into_iter().zip(slots) {
                    let answer = answers[slot].clone();
                    let _ = reply.send(Ok(Timed { answer, cost }));
                }
                Some(conn)
            }
            // The database refused the statement and rolled it back whole: each member runs
            // alone, for its own answer or error. Any other failure is every member's: the
            // connection broke, maybe after a write committed. Either way the connection goes
            // back to the pool, which tests it, and the members run alone on others.
            Err(error) => {
                drop(conn);
                let again = matches!(error, sqlx::Error::Database(_));
                let failure = error.to_string();
                for (params, reply) in batch {
                    let answer = if again {
                        let started = Instant::now();
                        fetch_postgres(pool, sql, &params)
                            .await
                            .map(|answer| Timed {
                                answer,
                                cost: started.elapsed(),
                            })
                            .map_err(DbError::from)
                    } else {
                        Err(DbError::Combined(failure.clone()))
                    };
                    let _ = reply.send(answer);
                }
                None
            }
        }
    }
}

/// Runs a combined statement with each member's parameters in turn.
async fn fetch_all(
    conn: &mut PgConnection,
    sql: Arc<str>,
    members: &[&[Value]],
) -> Result<Vec<PgRow>, sqlx::Error> {
    let params: Vec<Value> = members.iter().flat_map(|p| p.iter().cloned()).collect();
    bind_postgres(sqlx::query(AssertSqlSafe(sql)), &params)
        .fetch_all(conn)
        .await
}

/// Whether every connection the pool may open is out, so that a runner may be waiting for one.
fn saturated(pool: &PgPool) -> bool {
    pool.num_idle() == 0 && pool.size() >= pool.options().get_max_connections()
}

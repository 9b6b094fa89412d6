//! Concurrent reads on PostgreSQL share round trips.
//!
//! Every request is one statement, and on PostgreSQL most of a statement's cost is the round
//! trip (the protocol messages, two socket writes and reads, the backend's per-statement work),
//! not the index lookup. Reads of the same statement text (the same endpoint and shape, any
//! parameters) that arrive while that statement already runs twice on the serving thread wait,
//! and the next runner to finish runs all of them as one statement:
//!
//! ```sql
//! SELECT 0, q.* FROM (<statement, $1..$k>) q UNION ALL SELECT 1, q.* FROM (<statement, $k+1..$2k>) q ...
//! ```
//!
//! Members with equal parameters run once and share the answer. A batch only ever starts after
//! every member arrived, so each answer reflects the database at a moment between its request's
//! arrival and its response, as if it had run alone. Under light load nothing waits: a read runs
//! at once. If the combined statement fails, every member runs alone, so each gets its own error.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::{AssertSqlSafe, PgPool, Row};
use tokio::sync::oneshot;

use super::{DbError, JsonRow, Statement, bind_postgres, fetch_postgres};
use crate::query::Value;

/// Statements of one text running at once on one serving thread; more wait and share.
const PARALLEL: usize = 2;
/// Most members in one combined statement.
const MAX_BATCH: usize = 32;
/// PostgreSQL's limit on bound parameters in one statement.
const MAX_PARAMS: usize = u16::MAX as usize;

type Reply = oneshot::Sender<Result<Option<JsonRow>, DbError>>;

/// The waiting reads of one serving thread's pool, by statement text.
#[derive(Debug, Default)]
pub(super) struct Coalescer {
    queues: Mutex<HashMap<Arc<str>, Queue>>,
}

#[derive(Debug, Default)]
struct Queue {
    running: usize,
    waiting: Vec<(Vec<Value>, Reply)>,
    /// Combined statement texts, by member count - 2.
    combined: Vec<Arc<str>>,
}

impl Coalescer {
    /// Runs a read statement, alone or combined with concurrent reads of the same text.
    pub(super) async fn fetch(
        self: &Arc<Self>,
        pool: &PgPool,
        statement: &Statement,
    ) -> Result<Option<JsonRow>, DbError> {
        let (reply, answer) = oneshot::channel();
        let start_runner = {
            let mut queues = self.queues();
            let queue = queues.entry(statement.sql.clone()).or_default();
            queue.waiting.push((statement.params.clone(), reply));
            let free = queue.running < PARALLEL;
            if free {
                queue.running += 1;
            }
            free
        };
        if start_runner {
            // A runner is a task of its own, so a request that goes away never strands the reads
            // waiting behind it.
            tokio::spawn(Arc::clone(self).runner(pool.clone(), statement.sql.clone()));
        }
        answer.await.map_err(|_| DbError::Busy)?
    }

    fn queues(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Queue>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs batches of one statement text until none waits.
    async fn runner(self: Arc<Self>, pool: PgPool, sql: Arc<str>) {
        while let Some(batch) = self.next_batch(&sql) {
            let mut distinct: Vec<&[Value]> = Vec::new();
            let slots: Vec<usize> = batch
                .iter()
                .map(|(params, _)| {
                    distinct
                        .iter()
                        .position(|d| *d == params.as_slice())
                        .unwrap_or_else(|| {
                            distinct.push(params);
                            distinct.len() - 1
                        })
                })
                .collect();
            let answers = match distinct.as_slice() {
                [params] => fetch_postgres(&pool, &statement(&sql, params.to_vec()))
                    .await
                    .map(|answer| vec![answer]),
                members => {
                    let combined = self.combined(&sql, members.len());
                    fetch_combined(&pool, combined, members).await
                }
            };
            match answers {
                Ok(answers) => {
                    for ((_, reply), slot) in batch.into_iter().zip(slots) {
                        let _ = reply.send(Ok(answers[slot].clone()));
                    }
                }
                // Each member alone, for its own answer or error.
                Err(_) => {
                    for (params, reply) in batch {
                        let answer = fetch_postgres(&pool, &statement(&sql, params)).await;
                        let _ = reply.send(answer.map_err(DbError::from));
                    }
                }
            }
        }
    }

    /// The next reads waiting for a statement text; `None` ends the runner.
    fn next_batch(&self, sql: &Arc<str>) -> Option<Vec<(Vec<Value>, Reply)>> {
        let mut queues = self.queues();
        let queue = queues.get_mut(sql)?;
        if queue.waiting.is_empty() {
            queue.running -= 1;
            if queue.running == 0 {
                queues.remove(sql);
            }
            return None;
        }
        let params = queue.waiting[0].0.len().max(1);
        let take = queue.waiting.len().min(MAX_BATCH).min(MAX_PARAMS / params);
        Some(queue.waiting.drain(..take).collect())
    }

    /// The combined statement of `members` copies of a statement text, built once.
    fn combined(&self, sql: &Arc<str>, members: usize) -> Arc<str> {
        let mut queues = self.queues();
        let queue = queues.entry(sql.clone()).or_default();
        while queue.combined.len() + 1 < members {
            let n = queue.combined.len() + 2;
            queue.combined.push(combine(sql, n).into());
        }
        queue.combined[members - 2].clone()
    }
}

fn statement(sql: &Arc<str>, params: Vec<Value>) -> Statement {
    Statement {
        sql: sql.clone(),
        params,
        per_row: false,
        writes: false,
    }
}

/// Runs the combined statement and answers each member's JSON (and count), in member order.
async fn fetch_combined(
    pool: &PgPool,
    sql: Arc<str>,
    members: &[&[Value]],
) -> Result<Vec<Option<JsonRow>>, sqlx::Error> {
    let params: Vec<Value> = members.iter().flat_map(|p| p.iter().cloned()).collect();
    let rows = bind_postgres(sqlx::query(AssertSqlSafe(sql)), &params)
        .fetch_all(pool)
        .await?;
    let mut answers = vec![None; members.len()];
    for row in rows {
        let member = usize::try_from(row.try_get::<i32, _>(0)?).unwrap_or(usize::MAX);
        let Some(slot) = answers.get_mut(member) else {
            continue;
        };
        let Some(json) = row.try_get::<Option<String>, _>(1)? else {
            continue;
        };
        let count = if row.len() > 2 {
            row.try_get::<Option<i64>, _>(2)?
        } else {
            None
        };
        *slot = Some(JsonRow { json, count });
    }
    Ok(answers)
}

/// `members` copies of a statement as one `UNION ALL`, each tagged with its member number and
/// with its parameters renumbered after the previous member's.
fn combine(sql: &str, members: usize) -> String {
    let pieces = pieces(sql);
    let params = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Param(n) => Some(*n),
            Piece::Text(_) => None,
        })
        .max()
        .unwrap_or(0);
    let mut out = String::with_capacity((sql.len() + 32) * members);
    for member in 0..members {
        if member > 0 {
            out.push_str(" UNION ALL ");
        }
        let _ = write!(out, "SELECT {member}, q.* FROM (");
        for piece in &pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Param(n) => {
                    let _ = write!(out, "${}", n + member * params);
                }
            }
        }
        out.push_str(") q");
    }
    out
}

enum Piece<'s> {
    Text(&'s str),
    Param(usize),
}

/// Splits statement text at its `$n` placeholders, skipping quoted strings and identifiers.
fn pieces(sql: &str) -> Vec<Piece<'_>> {
    let bytes = sql.as_bytes();
    let mut pieces = Vec::new();
    let mut quote: Option<u8> = None;
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None if b == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|d| d.is_ascii_digit())
                    .count();
                pieces.push(Piece::Text(&sql[start..i]));
                pieces.push(Piece::Param(
                    sql[i + 1..i + 1 + digits].parse().unwrap_or(0),
                ));
                i += 1 + digits;
                start = i;
                continue;
            }
            None => {}
        }
        i += 1;
    }
    pieces.push(Piece::Text(&sql[start..]));
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_statements_renumber_parameters_outside_quotes() {
        let sql = r#"SELECT json_build_object('a$1', t."b$2")::text FROM "t" t WHERE t."id" = $1 AND t."at" > $2::timestamp LIMIT 1"#;
        assert_eq!(
            combine(sql, 2),
            r#"SELECT 0, q.* FROM (SELECT json_build_object('a$1', t."b$2")::text FROM "t" t WHERE t."id" = $1 AND t."at" > $2::timestamp LIMIT 1) q UNION ALL SELECT 1, q.* FROM (SELECT json_build_object('a$1', t."b$2")::text FROM "t" t WHERE t."id" = $3 AND t."at" > $4::timestamp LIMIT 1) q"#
        );
    }

    #[test]
    fn statements_without_parameters_combine_unchanged() {
        assert_eq!(
            combine("SELECT 1", 2),
            "SELECT 0, q.* FROM (SELECT 1) q UNION ALL SELECT 1, q.* FROM (SELECT 1) q"
        );
    }
}

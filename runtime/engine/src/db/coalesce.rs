//! Concurrent statements of one shape on PostgreSQL share round trips.
//!
//! Every request is one statement, and on PostgreSQL most of a statement's cost is the round
//! trip (the protocol messages, two socket writes and reads, the backend's per-statement work)
//! and, for a write, the commit's WAL flush, not the index lookup or the insert itself.
//! Statements of the same text (the same endpoint and shape, any parameters) that arrive while
//! that statement already runs twice (an insert: once) on the serving thread wait, and the next
//! runner to finish runs all of them as one statement. Reads become one `UNION ALL`:
//!
//! ```sql
//! SELECT 0, q.* FROM (<statement, $1..$k>) q UNION ALL SELECT 1, q.* FROM (<statement, $k+1..$2k>) q ...
//! ```
//!
//! and plain inserts one statement, committed together (one flush). An insert of one row whose
//! key the database generates becomes one multi-row insert answering each row's key, which tells
//! its member (the rows go in in member order, so the keys rise in member order):
//!
//! ```sql
//! INSERT INTO t AS w (a, b) SELECT v.c1, v.c2 FROM (VALUES ($1, $2, 0), ($3, $4, 1)) v(c1, c2, m)
//! ORDER BY v.m RETURNING w.id::int8, '[' || <object>::text || ']'
//! ```
//!
//! (measured on the benchmark's inserts: PostgreSQL's CPU per row 134 -> 116 µs, 20% more
//! inserts a second, and 5-10% less again than numbering the rows by key in SQL, against the
//! form for the other inserts, one write per member in a CTE of
//! its own, which PostgreSQL starts and answers member by member):
//!
//! ```sql
//! WITH w0 AS (INSERT ... $1..$k RETURNING *), w1 AS (INSERT ... $k+1..$2k RETURNING *)
//! SELECT 0, (SELECT <answer> FROM w0 w) UNION ALL SELECT 1, (SELECT <answer> FROM w1 w)
//! ```
//!
//! Reads with equal parameters run once and share the answer. A batch only ever starts after
//! every member arrived, so each answer reflects the database at a moment between its request's
//! arrival and its response, as if it had run alone. Under light load nothing waits: a statement
//! runs at once. When the database refuses a combined statement (one member's unique or foreign
//! key violation, say), PostgreSQL has rolled all of it back, and every member runs alone, so
//! each gets its own answer or error.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{AssertSqlSafe, PgPool, Postgres, Row};
use tokio::sync::oneshot;

use super::{DbError, Dialect, JsonRow, OneRow, Sharing, Statement, bind_postgres, fetch_postgres};
use crate::query::Value;

/// Runners of one read text at once on one serving thread; more reads wait and share.
const PARALLEL_READS: usize = 2;
/// Runners of one insert text at once on one serving thread. One runner, holding its
/// connection, batches every insert that arrives while its statement runs: 7.7-7.9 rows a commit
/// on the benchmark instead of 4.5-5.5 with four, and 11-36% more inserts a second in ten
/// interleaved pairs of 10-second runs.
const PARALLEL_INSERTS: usize = 1;
/// When statements of a text wait this long and no runner of it takes a batch, the runners are
/// stalled (a lock wait, a slow disk) and one more starts, up to [`MOST_RUNNERS`]: a runner stuck
/// behind a lock must not hold up every later statement of its text.
const STALLED: Duration = Duration::from_millis(50);
const MOST_RUNNERS: usize = 4;
/// Batches a runner runs on the connection it holds before handing it back to the pool, which
/// tests it then and retires it past its lifetime.
const HELD_BATCHES: usize = 100;
/// Most members in one combined statement.
const MAX_BATCH: usize = 32;
/// Statement texts whose queue, with its combined texts, stays while idle: rebuilding the
/// combined texts each time a queue empties cost 3-4% of the runtime's CPU under load.
const KEPT_QUEUES: usize = 64;

type Reply = oneshot::Sender<Result<Timed, DbError>>;

/// A statement's answer, and the database's time for it: the run of the statement that answered
/// it, shared out among the distinct members of that statement.
#[derive(Debug)]
pub(super) struct Timed {
    pub answer: Option<JsonRow>,
    pub cost: Duration,
}

/// A waiting statement's parameters and where its answer goes.
type Member = (Vec<Value>, Reply);

/// The waiting statements of one serving thread's pool, by statement text, and the combined
/// texts built for them, kept while idle for up to [`KEPT_QUEUES`] texts.
#[derive(Debug, Default)]
pub(super) struct Coalescer {
    queues: Mutex<HashMap<Arc<str>, Queue>>,
}

#[derive(Debug)]
struct Queue {
    sharing: Sharing,
    running: usize,
    waiting: Vec<Member>,
    /// Batches taken so far, and whether a [`Coalescer::watchdog`] watches them.
    batches: u64,
    watched: bool,
    /// Combined statement texts, by member count - 2.
    combined: Vec<Arc<str>>,
}

impl Coalescer {
    /// Runs a statement, alone or combined with concurrent statements of the same text.
    pub(super) async fn fetch(
        self: &Arc<Self>,
        pool: &PgPool,
        statement: &Statement,
    ) -> Result<Timed, DbError> {
        let (reply, answer) = oneshot::channel();
        let (start_runner, watch) = {
            let mut queues = self.queues();
            let queue = queues
                .entry(statement.sql.clone())
                .or_insert_with(|| Queue {
                    sharing: statement.sharing.clone(),
                    running: 0,
                    waiting: Vec::new(),
                    batches: 0,
                    watched: false,
                    combined: Vec::new(),
                });
            queue.waiting.push((statement.params.clone(), reply));
            let parallel = match queue.sharing {
                Sharing::Read => PARALLEL_READS,
                _ => PARALLEL_INSERTS,
            };
            let free = queue.running < parallel;
            if free {
                queue.running += 1;
            }
            let watch = !free && !queue.watched;
            queue.watched |= watch;
            (free, watch.then_some(queue.batches))
        };
        if start_runner {
            // A runner is a task of its own, so a request that goes away never strands the reads
            // waiting behind it.
            tokio::spawn(Arc::clone(self).runner(pool.clone(), statement.sql.clone()));
        }
        if let Some(seen) = watch {
            let watchdog = Arc::clone(self).watchdog(pool.clone(), statement.sql.clone(), seen);
            tokio::spawn(watchdog);
        }
        answer.await.map_err(|_| DbError::Busy)?
    }

    /// Watches a text while its statements wait for a runner: when no batch of it starts for
    /// [`STALLED`], its runners are stalled and one more starts, up to [`MOST_RUNNERS`].
    async fn watchdog(self: Arc<Self>, pool: PgPool, sql: Arc<str>, mut seen: u64) {
        loop {
            tokio::time::sleep(STALLED).await;
            let mut queues = self.queues();
            let Some(queue) = queues.get_mut(&sql) else {
                return;
            };
            if !queue.waiting.is_empty() && queue.batches != seen {
                seen = queue.batches;
                continue;
            }
            queue.watched = false;
            if queue.waiting.is_empty() || queue.running >= MOST_RUNNERS {
                return;
            }
            queue.running += 1;
            drop(queues);
            tokio::spawn(self.runner(pool, sql));
            return;
        }
    }

    fn queues(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Queue>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs batches of one statement text until none waits, on one connection while the pool
    /// has others to spare: handing a connection back costs a round trip, sqlx's test of it.
    async fn runner(self: Arc<Self>, pool: PgPool, sql: Arc<str>) {
        let mut held: Option<(PoolConnection<Postgres>, usize)> = None;
        while let Some((batch, sharing)) = self.next_batch(&sql) {
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
            let conn = self.run_batch(&pool, conn, &sql, batch, &sharing).await;
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
        sharing: &Sharing,
    ) -> Option<PoolConnection<Postgres>> {
        let mut distinct: Vec<&[Value]> = Vec::new();
        let slots: Vec<usize> = batch
            .iter()
            .map(|(params, _)| {
                let equal = match sharing {
                    Sharing::Read => distinct.iter().position(|d| *d == params.as_slice()),
                    _ => None,
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
            [params] => fetch_postgres(&mut *conn, &statement(sql, sharing, params.to_vec()))
                .await
                .map(|answer| vec![answer]),
            members => {
                let combined = self.combined(sql, members.len());
                let rows = fetch_all(&mut conn, combined, members).await;
                match sharing {
                    Sharing::Insert {
                        one_row: Some(_), ..
                    } => rows.and_then(|rows| by_key(rows, members.len())),
                    _ => rows.and_then(|rows| by_member(rows, members.len())),
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
                        fetch_postgres(pool, &statement(sql, sharing, params))
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

    /// The next reads waiting for a statement text; `None` ends the runner.
    fn next_batch(&self, sql: &Arc<str>) -> Option<(Vec<Member>, Sharing)> {
        let mut queues = self.queues();
        let queue = queues.get_mut(sql)?;
        if queue.waiting.is_empty() {
            queue.running -= 1;
            if queues.len() > KEPT_QUEUES {
                queues.retain(|_, queue| queue.running > 0);
            }
            return None;
        }
        let params = queue.waiting[0].0.len().max(1);
        let most = Dialect::Postgres.max_params() / params;
        let take = queue.waiting.len().min(MAX_BATCH).min(most).max(1);
        queue.batches += 1;
        Some((queue.waiting.drain(..take).collect(), queue.sharing.clone()))
    }

    /// The combined statement of `members` copies of a statement text, built once.
    fn combined(&self, sql: &Arc<str>, members: usize) -> Arc<str> {
        let mut queues = self.queues();
        let queue = queues
            .get_mut(sql)
            .expect("a running statement keeps its queue");
        while queue.combined.len() + 1 < members {
            let n = queue.combined.len() + 2;
            let combined = match &queue.sharing {
                Sharing::Insert {
                    write,
                    object,
                    one_row: Some(one_row),
                    ..
                } => combine_rows(sql, write, object, one_row, n),
                Sharing::Insert { write, answer, .. } => combine_inserts(sql, write, answer, n),
                _ => combine_reads(sql, n),
            };
            queue.combined.push(combined.into());
        }
        queue.combined[members - 2].clone()
    }
}

fn statement(sql: &Arc<str>, sharing: &Sharing, params: Vec<Value>) -> Statement {
    Statement {
        sql: sql.clone(),
        params,
        per_row: false,
        sharing: sharing.clone(),
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

/// Each member's JSON (and count), in member order, from rows tagged with their member number.
fn by_member(rows: Vec<PgRow>, members: usize) -> Result<Vec<Option<JsonRow>>, sqlx::Error> {
    let mut answers = vec![None; members];
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

/// Each member's JSON, in member order, from a combined one-row insert's rows: the members'
/// generated keys rise in member order.
fn by_key(rows: Vec<PgRow>, members: usize) -> Result<Vec<Option<JsonRow>>, sqlx::Error> {
    let mut keyed = rows
        .iter()
        .map(|row| Ok((row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    keyed.sort_unstable_by_key(|(key, _)| *key);
    let mut answers = vec![None; members];
    for (slot, (_, json)) in answers.iter_mut().zip(keyed) {
        *slot = Some(JsonRow { json, count: None });
    }
    Ok(answers)
}

/// `members` copies of a read as one `UNION ALL`, each tagged with its member number and with
/// its parameters renumbered after the previous member's.
fn combine_reads(sql: &str, members: usize) -> String {
    let pieces = pieces(sql);
    let params = max_param(&pieces);
    let mut out = String::with_capacity((sql.len() + 32) * members);
    push_members(&mut out, members, " UNION ALL ", |out, member| {
        let _ = write!(out, "SELECT {member}, q.* FROM (");
        push_renumbered(out, &pieces, member * params);
        out.push_str(") q");
    });
    out
}

/// `members` copies of an insert as one statement: each member's write in a CTE of its own,
/// then each member's answer, tagged with its member number.
fn combine_inserts(
    sql: &str,
    write: &Range<usize>,
    answer: &Range<usize>,
    members: usize,
) -> String {
    let params = max_param(&pieces(sql));
    let write = pieces(&sql[write.clone()]);
    let answer = pieces(&sql[answer.clone()]);
    let mut out = String::with_capacity((sql.len() + 64) * members);
    out.push_str("WITH ");
    push_members(&mut out, members, ", ", |out, member| {
        let _ = write!(out, "w{member} AS (");
        push_renumbered(out, &write, member * params);
        out.push_str(" RETURNING *)");
    });
    out.push(' ');
    push_members(&mut out, members, " UNION ALL ", |out, member| {
        let _ = write!(out, "SELECT {member}, (SELECT ");
        push_renumbered(out, &answer, member * params);
        let _ = write!(out, " FROM w{member} w)");
    });
    out
}

/// `members` copies of a one-row insert as one multi-row insert, answering each row's generated
/// key beside its answer. The rows go in in member order (`ORDER BY` below the insert), so the
/// keys rise in member order, and a row's rank by key is its member number: PostgreSQL promises
/// no order for `RETURNING`.
fn combine_rows(
    sql: &str,
    write: &Range<usize>,
    object: &Range<usize>,
    row: &OneRow,
    members: usize,
) -> String {
    let params = max_param(&pieces(sql));
    let write = &sql[write.clone()];
    let values = pieces(&write[row.values.clone()]);
    let columns: Vec<String> = (1..=row.columns).map(|c| format!("v.c{c}")).collect();
    let mut out = String::with_capacity((sql.len() + 32) * members);
    let _ = write!(
        out,
        "{} AS w{} SELECT {} FROM (VALUES ",
        &write[..row.table],
        &write[row.table..row.head.end],
        columns.join(", ")
    );
    push_members(&mut out, members, ", ", |out, member| {
        out.push('(');
        push_renumbered(out, &values, member * params);
        let _ = write!(out, ", {member})");
    });
    let names: Vec<String> = (1..=row.columns).map(|c| format!("c{c}")).collect();
    let _ = write!(
        out,
        ") v({}, m) ORDER BY v.m RETURNING w.{}::int8, '[' || ",
        names.join(", "),
        row.key
    );
    push_renumbered(&mut out, &pieces(&sql[object.clone()]), 0);
    out.push_str("::text || ']'");
    out
}

/// Writes each member's part, separated.
fn push_members(
    out: &mut String,
    members: usize,
    separator: &str,
    mut part: impl FnMut(&mut String, usize),
) {
    for member in 0..members {
        if member > 0 {
            out.push_str(separator);
        }
        part(out, member);
    }
}

fn max_param(pieces: &[Piece<'_>]) -> usize {
    pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Param(n) => Some(*n),
            Piece::Text(_) => None,
        })
        .max()
        .unwrap_or(0)
}

fn push_renumbered(out: &mut String, pieces: &[Piece<'_>], offset: usize) {
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Param(n) => {
                let _ = write!(out, "${}", n + offset);
            }
        }
    }
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
    use sqlx::postgres::PgPoolOptions;

    use super::*;

    #[test]
    fn combined_statements_renumber_parameters_outside_quotes() {
        let sql = r#"SELECT json_build_object('a$1', t."b$2")::text FROM "t" t WHERE t."id" = $1 AND t."at" > $2::timestamp LIMIT 1"#;
        assert_eq!(
            combine_reads(sql, 2),
            r#"SELECT 0, q.* FROM (SELECT json_build_object('a$1', t."b$2")::text FROM "t" t WHERE t."id" = $1 AND t."at" > $2::timestamp LIMIT 1) q UNION ALL SELECT 1, q.* FROM (SELECT json_build_object('a$1', t."b$2")::text FROM "t" t WHERE t."id" = $3 AND t."at" > $4::timestamp LIMIT 1) q"#
        );
    }

    #[test]
    fn combined_inserts_write_each_member_in_its_own_cte() {
        let sql = r#"WITH w AS (INSERT INTO "t" ("a") VALUES ($1) RETURNING *) SELECT json_agg(w."a") FROM w"#;
        let write = sql.find("INSERT").unwrap()..sql.find(" RETURNING").unwrap();
        let answer = sql.find("json_agg").unwrap()..sql.find(" FROM w").unwrap();
        assert_eq!(
            combine_inserts(sql, &write, &answer, 2),
            r#"WITH w0 AS (INSERT INTO "t" ("a") VALUES ($1) RETURNING *), w1 AS (INSERT INTO "t" ("a") VALUES ($2) RETURNING *) SELECT 0, (SELECT json_agg(w."a") FROM w0 w) UNION ALL SELECT 1, (SELECT json_agg(w."a") FROM w1 w)"#
        );
    }

    #[test]
    fn combined_one_row_inserts_answer_each_rows_generated_key() {
        let sql = r#"WITH w AS (INSERT INTO "t" ("a", "b") VALUES ($1, $2::date) RETURNING *) SELECT coalesce(json_agg(json_build_object('id', w."id")), '[]')::text FROM w"#;
        let write = sql.find("INSERT").unwrap()..sql.find(" RETURNING").unwrap();
        let row = OneRow {
            table: r#"INSERT INTO "t""#.len(),
            head: 0..sql[write.clone()].find(" VALUES").unwrap(),
            values: sql[write.clone()].find("$1").unwrap()..sql[write.clone()].len() - 1,
            columns: 2,
            key: r#""id""#.into(),
        };
        let object = sql.find("json_build_object").unwrap()..sql.find("), '[]')").unwrap();
        assert_eq!(
            combine_rows(sql, &write, &object, &row, 2),
            r#"INSERT INTO "t" AS w ("a", "b") SELECT v.c1, v.c2 FROM (VALUES ($1, $2::date, 0), ($3, $4::date, 1)) v(c1, c2, m) ORDER BY v.m RETURNING w."id"::int8, '[' || json_build_object('id', w."id")::text || ']'"#
        );
    }

    #[test]
    fn statements_without_parameters_combine_unchanged() {
        assert_eq!(
            combine_reads("SELECT 1", 2),
            "SELECT 0, q.* FROM (SELECT 1) q UNION ALL SELECT 1, q.* FROM (SELECT 1) q"
        );
    }

    /// Runs `texts` distinct statements one after another, checking each answer, and waits
    /// until no runner is left.
    async fn run_distinct(
        coalescer: &Arc<Coalescer>,
        pool: &PgPool,
        texts: std::ops::Range<usize>,
    ) {
        for n in texts {
            let statement = Statement {
                sql: format!("SELECT '{n}'::text").into(),
                params: Vec::new(),
                per_row: false,
                sharing: Sharing::Read,
            };
            let timed = coalescer.fetch(pool, &statement).await.expect("a read");
            assert_eq!(timed.answer.expect("a row").json, n.to_string());
        }
        while coalescer.queues().values().any(|queue| queue.running > 0) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A pool on TEST_POSTGRES_URL, with its URL; `None` (the test skips) when it is not set.
    async fn postgres(options: PgPoolOptions) -> Option<(String, PgPool)> {
        let url = std::env::var("TEST_POSTGRES_URL").ok()?;
        let pool = options
            .connect(&url)
            .await
            .expect("connect to TEST_POSTGRES_URL");
        Some((url, pool))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_statement_texts_are_kept_up_to_a_bound() {
        let Some((_, pool)) = postgres(PgPoolOptions::new()).await else {
            return;
        };
        let coalescer = Arc::new(Coalescer::default());
        run_distinct(&coalescer, &pool, 0..10).await;
        assert_eq!(coalescer.queues().len(), 10, "idle texts stay");
        run_distinct(&coalescer, &pool, 10..10 + 2 * KEPT_QUEUES).await;
        let kept = coalescer.queues().len();
        assert!(kept <= KEPT_QUEUES, "{kept} idle texts kept");
    }

    #[tokio::test]
    async fn every_member_of_a_batch_that_gets_no_connection_is_busy() {
        let options = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_millis(200));
        let Some((_, pool)) = postgres(options).await else {
            return;
        };
        let held = pool.acquire().await.expect("the only connection");
        let coalescer = Arc::new(Coalescer::default());
        let reads: Vec<Statement> = (0..4)
            .map(|n| Statement {
                sql: "SELECT $1::text".into(),
                params: vec![Value::Text(n.to_string())],
                per_row: false,
                sharing: Sharing::Read,
            })
            .collect();
        // Queued together before the runner first runs (one thread), so they run as one batch.
        let answers =
            futures_util::future::join_all(reads.iter().map(|read| coalescer.fetch(&pool, read)))
                .await;
        for answer in answers {
            assert!(matches!(answer, Err(DbError::Busy)), "{answer:?}");
        }
        drop(held);
        let answer = coalescer.fetch(&pool, &reads[1]).await.expect("a read");
        assert_eq!(answer.answer.expect("a row").json, "1");
    }

    #[tokio::test]
    async fn a_runner_hands_its_connection_back_when_the_pool_has_no_other() {
        let options = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(1));
        let Some((_, pool)) = postgres(options).await else {
            return;
        };
        let coalescer = Arc::new(Coalescer::default());
        let read = |sql: &str, n: i64| Statement {
            sql: sql.into(),
            params: vec![Value::Int(n)],
            per_row: false,
            sharing: Sharing::Read,
        };
        // Slow reads of one text arrive faster than they run: its runners always have more,
        // for longer than the acquire timeout. (Their parameters are equal, so that each batch
        // sleeps once.)
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let arrivals = tokio::spawn({
            let (coalescer, pool, stop) = (Arc::clone(&coalescer), pool.clone(), Arc::clone(&stop));
            async move {
                let mut reads = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (coalescer, pool) = (Arc::clone(&coalescer), pool.clone());
                    let slow = read("SELECT $1::text FROM pg_sleep(0.05)", 7);
                    reads.push(tokio::spawn(
                        async move { coalescer.fetch(&pool, &slow).await },
                    ));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                reads
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let other = coalescer
            .fetch(&pool, &read("SELECT ($1 + 1)::text", 41))
            .await
            .expect("the other text gets the connection in turn");
        assert_eq!(other.answer.expect("a row").json, "42");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for task in arrivals.await.expect("the arrivals") {
            let answer = task.await.expect("the task").expect("a slow read");
            assert_eq!(answer.answer.expect("a row").json, "7");
        }
    }

    /// `sql`, an insert of `$1` into column `a` answering `json_agg(w."a")::text FROM w`, of `n`.
    fn insert(sql: &str, n: i64) -> Statement {
        let write = sql.find("INSERT").unwrap()..sql.find(" RETURNING").unwrap();
        let answer = sql.find("json_agg").unwrap()..sql.find("::text FROM w").unwrap();
        let object = sql.find(r#"w."a")"#).unwrap()..sql.find(")::text").unwrap();
        Statement {
            sql: sql.into(),
            params: vec![Value::Int(n)],
            per_row: false,
            sharing: Sharing::Insert {
                write,
                answer,
                object,
                one_row: None,
            },
        }
    }

    #[tokio::test]
    async fn inserts_behind_one_waiting_on_a_lock_get_another_runner() {
        let Some((_, pool)) = postgres(PgPoolOptions::new()).await else {
            return;
        };
        let table = format!("coalesce_stalled_{}", std::process::id());
        let setup =
            format!("DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (a int PRIMARY KEY)");
        sqlx::raw_sql(AssertSqlSafe(setup))
            .execute(&pool)
            .await
            .expect("a table");
        // A transaction holds key 1 uncommitted: an insert of 1 waits until it ends.
        let mut holder = pool.begin().await.expect("a transaction");
        sqlx::raw_sql(AssertSqlSafe(format!("INSERT INTO {table} VALUES (1)")))
            .execute(&mut *holder)
            .await
            .expect("key 1 held");
        let sql = format!(
            r#"WITH w AS (INSERT INTO {table} ("a") VALUES ($1) RETURNING *) SELECT json_agg(w."a")::text FROM w"#
        );
        let coalescer = Arc::new(Coalescer::default());
        let blocked = tokio::spawn({
            let (coalescer, pool, first) = (Arc::clone(&coalescer), pool.clone(), insert(&sql, 1));
            async move { coalescer.fetch(&pool, &first).await }
        });
        let waiting = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO {table} %'"
        );
        while sqlx::query_scalar::<_, i64>(AssertSqlSafe(waiting.clone()))
            .fetch_one(&pool)
            .await
            .expect("backends")
            == 0
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let second = tokio::time::timeout(
            Duration::from_secs(5),
            coalescer.fetch(&pool, &insert(&sql, 2)),
        )
        .await
        .expect("the insert of 2 is not held up behind the insert of 1")
        .expect("an answer");
        assert_eq!(second.answer.expect("a row").json, "[2]");
        holder.rollback().await.expect("key 1 let go");
        let first = blocked.await.expect("the task").expect("an answer");
        assert_eq!(first.answer.expect("a row").json, "[1]");
        let drop = format!("DROP TABLE {table}");
        sqlx::raw_sql(AssertSqlSafe(drop))
            .execute(&pool)
            .await
            .expect("drop");
    }

    #[tokio::test]
    async fn a_combined_write_the_database_ends_runs_again_member_by_member() {
        let Some((url, pool)) = postgres(PgPoolOptions::new()).await else {
            return;
        };
        let table = format!("coalesce_ended_{}", std::process::id());
        let setup = format!(
            "DROP TABLE IF EXISTS {table}, {table}_pause; CREATE TABLE {table} (a int); \
             CREATE TABLE {table}_pause (seconds float8); INSERT INTO {table}_pause VALUES (30)"
        );
        sqlx::raw_sql(AssertSqlSafe(setup))
            .execute(&pool)
            .await
            .expect("tables");
        // The batch waits until its backend is ended; the statements run again do not.
        let sql = format!(
            r#"WITH w AS (INSERT INTO {table} ("a") VALUES ($1::int + (SELECT 0 FROM {table}_pause, pg_sleep(seconds))) RETURNING *) SELECT json_agg(w."a")::text FROM w"#
        );
        let inserts: Vec<Statement> = (0..3).map(|n| insert(&sql, n)).collect();
        let coalescer = Arc::new(Coalescer::default());
        // Queued together before the runner first runs (one thread), so they run as one batch.
        let batch = futures_util::future::join_all(
            inserts.iter().map(|insert| coalescer.fetch(&pool, insert)),
        );
        let end_it = async {
            let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                .await
                .expect("admin");
            // Only a backend already asleep: it has read the pause, so setting it to 0 (for the
            // statements run again) cannot race the batch's own read of it.
            let waiting = format!(
                "SELECT pid FROM pg_stat_activity WHERE query LIKE '%{table}_pause, pg_sleep%' \
                 AND wait_event = 'PgSleep' AND pid <> pg_backend_pid()"
            );
            loop {
                let pids: Vec<(i32,)> = sqlx::query_as(AssertSqlSafe(waiting.clone()))
                    .fetch_all(&mut admin)
                    .await
                    .expect("backends");
                if let [(pid,)] = pids.as_slice() {
                    let pause = format!("UPDATE {table}_pause SET seconds = 0");
                    sqlx::raw_sql(AssertSqlSafe(pause))
                        .execute(&mut admin)
                        .await
                        .expect("no more pauses");
                    sqlx::query("SELECT pg_terminate_backend($1)")
                        .bind(pid)
                        .execute(&mut admin)
                        .await
                        .expect("terminate");
                    return;
                }
                assert!(pids.is_empty(), "the three inserts run as one statement");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let (answers, ()) = tokio::join!(batch, end_it);
        let answers: Vec<String> = answers
            .into_iter()
            .map(|answer| answer.expect("an answer").answer.expect("a row").json)
            .collect();
        assert_eq!(answers, ["[0]", "[1]", "[2]"]);
        let count = format!("SELECT array_agg(a ORDER BY a)::text FROM {table}");
        let (rows,): (String,) = sqlx::query_as(AssertSqlSafe(count))
            .fetch_one(&pool)
            .await
            .expect("rows");
        assert_eq!(rows, "{0,1,2}", "each row written once");
        let drop = format!("DROP TABLE {table}, {table}_pause");
        sqlx::raw_sql(AssertSqlSafe(drop))
            .execute(&pool)
            .await
            .expect("drop");
    }
}

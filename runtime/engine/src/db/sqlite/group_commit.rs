//! SQLite's one writer commits queued writes together.
//!
//! Every SQLite commit appends each page the transaction changed to the WAL: an insert into a
//! table with four indexes writes five pages, 20 KiB, for a row of a hundred bytes. Writes that
//! queue while the writer is busy run one after the other in the next transaction and commit
//! together, so a page changed by all of them is written once. Each still runs as its own
//! statement: SQLite backs out a failed statement alone and the transaction goes on, so a
//! member's constraint violation is its own error and the others commit. The answers go out
//! after the commit, so no client hears of a write before it is durable and visible. Under light
//! load nothing waits: a write that finds the writer free runs at once, alone.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::connection::fetch;
use crate::db::{DbError, JsonRow, Statement};

/// Most writes in one transaction.
const MAX_BATCH: usize = 16;

type Answer = Result<Option<JsonRow>, DbError>;
type Member = (Statement, oneshot::Sender<Answer>);

/// The writes waiting for the writer.
#[derive(Debug, Default)]
pub(super) struct WriteQueue {
    state: Mutex<State>,
    /// How many wait, and how many commit together, for `/metrics`.
    depth: Gauge,
    batches: Option<Histogram>,
}

#[derive(Debug, Default)]
struct State {
    waiting: Vec<Member>,
    /// Whether a task is taking batches to the writer.
    running: bool,
}

fn depth(state: &State) -> i64 {
    i64::try_from(state.waiting.len()).unwrap_or(i64::MAX)
}

impl WriteQueue {
    /// A queue reporting how many writes wait on `depth`, and each batch's size on `batches`.
    pub(super) fn new(depth: Gauge, batches: Histogram) -> Self {
        Self {
            state: Mutex::default(),
            depth,
            batches: Some(batches),
        }
    }

    /// Runs a write, alone or committed together with the writes queued beside it.
    pub(super) async fn write(
        self: &Arc<Self>,
        writer: &Arc<tokio::sync::Mutex<Connection>>,
        acquire_timeout: Duration,
        statement: &Statement,
    ) -> Answer {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut state = self.state();
            state.waiting.push((statement.clone(), reply));
            self.depth.set(depth(&state));
            !std::mem::replace(&mut state.running, true)
        };
        if start {
            // A task of its own, so a request that goes away never strands the writes queued
            // behind it.
            tokio::spawn(Arc::clone(self).run(writer.clone(), acquire_timeout));
        }
        answer.await.map_err(|_| DbError::Busy)?
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the writer and runs what waits, batch after batch, until nothing does.
    async fn run(self: Arc<Self>, writer: Arc<tokio::sync::Mutex<Connection>>, timeout: Duration) {
        loop {
            let conn = tokio::time::timeout(timeout, writer.lock()).await;
            let batch = {
                let mut state = self.state();
                if state.waiting.is_empty() {
                    state.running = false;
                    return;
                }
                let take = state.waiting.len().min(MAX_BATCH);
                let batch = state.waiting.drain(..take).collect::<Vec<_>>();
                self.depth.set(depth(&state));
                if let Some(batches) = &self.batches {
                    batches.observe(take as f64);
                }
                batch
            };
            match conn {
                Ok(conn) => commit_together(&conn, batch),
                // The writer stayed taken (by a long transaction): every queued write is busy.
                Err(_) => {
                    for (_, reply) in batch {
                        let _ = reply.send(Err(DbError::Busy));
                    }
                }
            }
            // The batch ran on this serving thread, whose other requests (the answers just sent
            // among them) waited meanwhile; an uncontended lock does not yield, so without this
            // a steady stream of writes kept them waiting for many batches in a row.
            tokio::task::yield_now().await;
        }
    }
}

/// Runs a batch in one transaction; alone when it is one write, or when a failure ended the
/// transaction (SQLite rolls the whole transaction back on some errors, such as a full disk or
/// an `ON CONFLICT ROLLBACK` constraint), so that every write still gets its own answer.
fn commit_together(conn: &Connection, batch: Vec<Member>) {
    if batch.len() == 1 {
        return alone(conn, batch);
    }
    if let Err(error) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Another process holds the database's write lock past the busy timeout.
        for (_, reply) in batch {
            let _ = reply.send(Err(copy(&error)));
        }
        return;
    }
    let mut answers = Vec::with_capacity(batch.len());
    for (statement, _) in &batch {
        let answer = fetch(conn, statement);
        if answer.is_err() && conn.is_autocommit() {
            return alone(conn, batch);
        }
        answers.push(answer);
    }
    if conn.execute_batch("COMMIT").is_err() {
        let _ = conn.execute_batch("ROLLBACK");
        return alone(conn, batch);
    }
    for ((_, reply), answer) in batch.into_iter().zip(answers) {
        let _ = reply.send(answer.map_err(DbError::from));
    }
}

fn alone(conn: &Connection, batch: Vec<Member>) {
    for (statement, reply) in batch {
        let _ = reply.send(fetch(conn, &statement).map_err(DbError::from));
    }
}

/// The same error for each member of a batch.
fn copy(error: &rusqlite::Error) -> DbError {
    match error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(*failure, message.clone()))
        }
        other => DbError::Combined(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Dialect;
    use crate::query::Value;
    use crate::sql::testing;

    /// Queues inserts of `(x, y)` while the writer is held, then lets them run as one batch.
    async fn batch(rows: &[(i64, i64)]) -> (Vec<Answer>, i64) {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(
            "CREATE TABLE t (x INTEGER UNIQUE, y INTEGER UNIQUE ON CONFLICT ROLLBACK)",
        )
        .expect("table");
        let writer = Arc::new(tokio::sync::Mutex::new(conn));
        let queue = Arc::new(WriteQueue::default());
        let held = writer.lock().await;
        let tasks: Vec<_> = rows
            .iter()
            .map(|&(x, y)| {
                let (queue, writer) = (queue.clone(), writer.clone());
                let insert = testing::write(
                    Dialect::Sqlite,
                    "INSERT INTO t VALUES (?, ?) RETURNING json_object('x', x)",
                    vec![Value::Int(x), Value::Int(y)],
                    true,
                );
                tokio::spawn(
                    async move { queue.write(&writer, Duration::from_secs(5), &insert).await },
                )
            })
            .collect();
        while queue.state().waiting.len() < rows.len() {
            tokio::task::yield_now().await;
        }
        drop(held);
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.expect("task"));
        }
        let conn = writer.lock().await;
        let count = conn
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .expect("count");
        (answers, count)
    }

    fn outcomes(answers: &[Answer]) -> Vec<Result<String, ()>> {
        answers
            .iter()
            .map(|a| match a {
                Ok(row) => Ok(row.as_ref().expect("a row").json.clone()),
                Err(_) => Err(()),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_failed_write_in_a_batch_fails_alone() {
        let (answers, count) = batch(&[(1, 1), (2, 2), (1, 3), (4, 4)]).await;
        assert_eq!(
            outcomes(&answers),
            [
                Ok(r#"[{"x":1}]"#.into()),
                Ok(r#"[{"x":2}]"#.into()),
                Err(()),
                Ok(r#"[{"x":4}]"#.into())
            ]
        );
        assert_eq!(count, 3);
    }

    #[tokio::test]
    async fn a_failure_that_ends_the_transaction_reruns_each_write_alone() {
        // `ON CONFLICT ROLLBACK` rolls back the whole transaction, with the writes before it.
        let (answers, count) = batch(&[(1, 1), (2, 1), (3, 3)]).await;
        assert_eq!(
            outcomes(&answers),
            [
                Ok(r#"[{"x":1}]"#.into()),
                Err(()),
                Ok(r#"[{"x":3}]"#.into())
            ]
        );
        assert_eq!(count, 2);
    }
}

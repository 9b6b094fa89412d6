//! Concurrent statements of one shape on PostgreSQL share round trips.
//!
//! Every request is one statement, and on PostgreSQL most of a statement's cost is the round
//! trip (the protocol messages, two socket writes and reads, the backend's per-statement work)
//! and, for a write, the commit's WAL flush, not the index lookup or the insert itself.
//! Statements of the same text (the same endpoint and shape, any parameters) that arrive while
//! that statement already runs twice (an insert: once) on the lane wait, and the next runner to
//! finish runs all of them as one statement, which the SQL layer renders from their plan
//! ([`crate::sql::combine`]): reads as one `UNION ALL`, inserts as one statement committed
//! together (one flush).
//!
//! Reads with equal parameters run once and share the answer. A batch only ever starts after
//! every member arrived, so each answer reflects the database at a moment between its request's
//! arrival and its response, as if it had run alone. Under light load nothing waits: a statement
//! runs at once. When the database refuses a combined statement (one member's unique or foreign
//! key violation, say), PostgreSQL has rolled all of it back, and every member runs alone, so
//! each gets its own answer or error.
//!
//! Here: the queues of waiting statements, by text, with their combined texts; [`runner`] takes
//! batches from them to the database, and [`answers`] splits a combined statement's rows into
//! its members' answers.

mod answers;
mod runner;
#[cfg(test)]
mod tests;

use prometheus_client::metrics::histogram::Histogram;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::oneshot;

use super::{DbError, Dialect, JsonRow, Statement, fetch_postgres};
use crate::query::Value;
use crate::sql::{Combining, Plan};

/// Runners of one read text at once on one lane; more reads wait and share.
const PARALLEL_READS: usize = 2;
/// Runners of one insert text at once on one lane. One runner, holding its connection, batches
/// every insert that arrives while its statement runs: fewer, bigger commits than several
/// runners make (see bench/NOTES.md).
const PARALLEL_INSERTS: usize = 1;
/// When statements of a text wait this long and no runner of it takes a batch, the runners are
/// stalled (a lock wait, a slow disk) and one more starts, up to [`MOST_RUNNERS`]: a runner stuck
/// behind a lock must not hold up every later statement of its text.
const STALLED: Duration = Duration::from_millis(50);
const MOST_RUNNERS: usize = 4;
/// Most members in one combined statement.
const MAX_BATCH: usize = 32;
/// Statement texts whose queue, with its combined texts, stays while idle, so that a busy text's
/// combined statements are rendered once, not each time its queue empties (see bench/NOTES.md).
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

/// The waiting statements of one lane, by statement text, and the combined texts rendered for
/// them, kept while idle for up to [`KEPT_QUEUES`] texts.
#[derive(Debug, Default)]
pub(super) struct Coalescer {
    queues: Mutex<HashMap<Arc<str>, Queue>>,
    /// Where the members of each batch are counted, for `/metrics`.
    batch_members: Option<Histogram>,
}

#[derive(Debug)]
struct Queue {
    plan: Plan,
    combining: Combining,
    running: usize,
    waiting: Vec<Member>,
    /// Batches taken so far, and whether a [`Coalescer::watchdog`] watches them.
    batches: u64,
    watched: bool,
    /// Combined statement texts, by member count - 2.
    combined: Vec<Arc<str>>,
}

impl Coalescer {
    /// A coalescer counting each batch's members on `batch_members`.
    pub(super) fn counting(batch_members: Histogram) -> Self {
        Self {
            queues: Mutex::default(),
            batch_members: Some(batch_members),
        }
    }

    /// Statements queued for a runner (a connection) now.
    pub(super) fn waiting(&self) -> usize {
        self.queues()
            .values()
            .map(|queue| queue.waiting.len())
            .sum()
    }

    /// Runs a statement, alone or combined with concurrent statements of the same text.
    pub(super) async fn fetch(
        self: &Arc<Self>,
        pool: &PgPool,
        statement: &Statement,
    ) -> Result<Timed, DbError> {
        let Some(combining) = statement.plan.combining() else {
            let started = Instant::now();
            let answer = fetch_postgres(pool, &statement.sql, &statement.params).await?;
            let cost = started.elapsed();
            return Ok(Timed { answer, cost });
        };
        let (reply, answer) = oneshot::channel();
        let (start_runner, watch) = {
            let mut queues = self.queues();
            let queue = queues
                .entry(statement.sql.clone())
                .or_insert_with(|| Queue {
                    plan: statement.plan.clone(),
                    combining,
                    running: 0,
                    waiting: Vec::new(),
                    batches: 0,
                    watched: false,
                    combined: Vec::new(),
                });
            queue.waiting.push((statement.params.clone(), reply));
            let parallel = match queue.combining {
                Combining::Reads => PARALLEL_READS,
                Combining::Inserts | Combining::Rows => PARALLEL_INSERTS,
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

    /// The next statements waiting for a text, and how they combine; `None` ends the runner.
    fn next_batch(&self, sql: &Arc<str>) -> Option<(Vec<Member>, Combining)> {
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
        if let Some(histogram) = &self.batch_members {
            histogram.observe(take as f64);
        }
        Some((queue.waiting.drain(..take).collect(), queue.combining))
    }

    /// The combined statement of `members` statements of a text, rendered once.
    fn combined(&self, sql: &Arc<str>, members: usize) -> Arc<str> {
        let mut queues = self.queues();
        let queue = queues
            .get_mut(sql)
            .expect("a running statement keeps its queue");
        while queue.combined.len() + 1 < members {
            let n = queue.combined.len() + 2;
            let combined = crate::sql::combine(sql, &queue.plan, n)
                .expect("only statements that combine are queued");
            queue.combined.push(combined.into());
        }
        queue.combined[members - 2].clone()
    }
}

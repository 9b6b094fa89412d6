//! The process's one reader of the change log. It wakes when this process commits a write,
//! when another process's sequencer notifies (PostgreSQL), or every `events.poll_ms` (writes
//! of other processes, `psql`), reads what is new once, and hands it to every subscriber.
//! A subscriber first catches up from the log itself, then takes the hub's batches: it
//! subscribes to them before it reads, so nothing falls between the two, and skips what it
//! has already seen; one that falls too far behind reads the log again. Every subscriber thus
//! sees each change once, in id order, however the wake-ups arrive or are lost.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::log::{self, Bounds, Change, Log};
use super::pg::{PgWorker, listen};
use crate::config::EventsConfig;
use crate::db::{Commits, Database, DbError, Dialect, SqliteDb};

/// Changes read from the log at once.
const PAGE: i64 = 1_000;

/// The shortest time between two rounds of the hub. A round has a cost of its own (on
/// PostgreSQL a sequencing transaction, its commit and a notification), so under a stream of
/// writes rounds are spaced: at 50 ms the bench's PostgreSQL inserts with capture on ran at
/// 82% of capture off, at 20 ms at 79% (the first write after a quiet spell is sequenced at
/// once).
const ROUND_EVERY: Duration = Duration::from_millis(50);

/// The longest [`ChangeHub::settle`] waits.
const SETTLE_WITHIN: Duration = Duration::from_secs(2);

/// Batches a subscriber may fall behind before it reads the log again instead.
const BACKLOG: usize = 1_024;

/// The connections the change log keeps of its own on PostgreSQL (the sequencer's and the
/// listener's), beside the `database.max_connections` that serve requests.
pub const PG_CONNECTIONS: u32 = 2;

/// The change log's hub: cheap to clone.
#[derive(Debug, Clone)]
pub struct ChangeHub(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    log: Log,
    config: EventsConfig,
    batches: broadcast::Sender<Arc<[Arc<Change>]>>,
    /// Sequencing rounds (PostgreSQL): begun and finished, for [`ChangeHub::settle`].
    rounds: watch::Sender<(u64, u64)>,
    /// Where the hub starts handing out while it has none to go on from: the least id a new
    /// subscriber has caught up to from the log.
    resume: Mutex<Option<i64>>,
    stopped: watch::Sender<bool>,
}

impl Inner {
    fn resume(&self) -> std::sync::MutexGuard<'_, Option<i64>> {
        self.resume
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ChangeHub {
    /// A hub over the database's log; nothing runs until [`ChangeHub::start`].
    pub fn new(db: Database, config: &EventsConfig) -> Self {
        Self(Arc::new(Inner {
            log: Log::new(db),
            config: config.clone(),
            batches: broadcast::channel(BACKLOG).0,
            rounds: watch::channel((0, 0)).0,
            resume: Mutex::new(None),
            stopped: watch::channel(false).0,
        }))
    }

    pub fn config(&self) -> &EventsConfig {
        &self.0.config
    }

    /// Starts reading the log (and, on PostgreSQL, sequencing it and listening for other
    /// processes) and pruning it, on the current Tokio runtime.
    pub async fn start(&self) -> Result<(), DbError> {
        // The log answers, or start-up fails here rather than in the background.
        self.0.log.bounds().await?;
        let hub = self.clone();
        tokio::spawn(async move { hub.run().await });
        Ok(())
    }

    /// Ends every subscription and the hub's work (before the server stops, so open streams do
    /// not hold the graceful shutdown).
    pub fn stop(&self) {
        self.0.stopped.send_replace(true);
    }

    /// Resolves once the hub is stopped.
    pub async fn stopped(&self) {
        let mut stopped = self.0.stopped.subscribe();
        let _ = stopped.wait_for(|s| *s).await;
    }

    /// Makes every change committed before the call readable in the log: on PostgreSQL it
    /// waits for a sequencing round that begins after it (a reader then sees its own writes);
    /// on SQLite the log is written in the writing transaction itself. Gives up after
    /// [`SETTLE_WITHIN`] (the round failed, say), with what is readable by then.
    pub async fn settle(&self) {
        if self.0.log.db().dialect() != Dialect::Postgres {
            return;
        }
        let mut rounds = self.0.rounds.subscribe();
        let begun = rounds.borrow().0;
        self.0.log.db().commits().signal();
        let done = tokio::time::timeout(
            SETTLE_WITHIN,
            rounds.wait_for(|(_, finished)| *finished > begun),
        );
        if done.await.is_err() {
            tracing::warn!("the change log's sequencer did not finish a round in time");
        }
    }

    /// A page of the log after `after`.
    pub async fn page(&self, after: i64, limit: i64) -> Result<Vec<Change>, DbError> {
        self.0.log.after(after, limit).await
    }

    pub async fn bounds(&self) -> Result<Bounds, DbError> {
        self.0.log.bounds().await
    }

    /// Every change after `after`, once each, in id order.
    pub fn subscribe(&self, after: i64) -> Subscription {
        Subscription {
            hub: self.clone(),
            batches: self.0.batches.subscribe(),
            stopped: self.0.stopped.subscribe(),
            cursor: after,
            pending: VecDeque::new(),
            caught_up: false,
        }
    }

    /// The hub's one task: wakes on this process's commits, other processes' notifications
    /// (PostgreSQL) and every `events.poll_ms`; sequences (PostgreSQL), reads what is new and
    /// hands it out; prunes at a quarter of the retention (at least every second, at most
    /// every minute).
    async fn run(self) {
        let db = self.0.log.db().clone();
        let commits = db.commits().clone();
        let remote = Commits::default();
        let mut worker = None;
        if let Database::Postgres(pg) = &db {
            let listener = listen(pg.connect_options().clone(), remote.clone());
            let hub = self.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = listener => {}
                    () = hub.stopped() => {}
                }
            });
            worker = Some(PgWorker::new(pg.connect_options().clone()));
        }
        let poll = Duration::from_millis(self.0.config.poll_ms);
        let retention = Duration::from_secs(self.0.config.retention_secs);
        let prune_every = (retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        let mut next_prune = tokio::time::Instant::now();
        let mut last_round = tokio::time::Instant::now();
        let mut head = None;
        let mut stopped = self.0.stopped.subscribe();
        loop {
            let local = tokio::select! {
                () = commits.wait() => true,
                () = remote.wait() => false,
                () = tokio::time::sleep(poll) => true,
                () = tokio::time::sleep_until(next_prune) => {
                    self.prune(worker.as_mut()).await;
                    next_prune = tokio::time::Instant::now() + prune_every;
                    continue;
                }
                _ = stopped.changed() => return,
            };
            // Under a stream of writes, rounds come at most every ROUND_EVERY: each sequences
            // and reads what gathered meanwhile, for one commit and one read of its own. A
            // sequencer's notification (at most one a round of it) is read at once.
            if local {
                let since = last_round.elapsed();
                if since < ROUND_EVERY {
                    tokio::time::sleep(ROUND_EVERY - since).await;
                }
                last_round = tokio::time::Instant::now();
                if let Some(worker) = &mut worker {
                    self.0.rounds.send_modify(|(begun, _)| *begun += 1);
                    worker.sequence().await;
                    self.0
                        .rounds
                        .send_modify(|(begun, finished)| *finished = *begun);
                }
            }
            if let Err(error) = self.read_new(&mut head).await {
                tracing::warn!(%error, "reading the change log failed; trying again");
            }
        }
    }

    /// Reads every change after `head` (the last id handed out) and hands it out. With nobody
    /// subscribed it reads nothing and forgets the head; it then goes on from the least id a
    /// new subscriber has caught up to from the log itself (before that, the subscriber's own
    /// reads cover everything).
    async fn read_new(&self, head: &mut Option<i64>) -> Result<(), DbError> {
        if self.0.batches.receiver_count() == 0 {
            *head = None;
            self.0.resume().take();
            return Ok(());
        }
        let mut after = match head.or_else(|| self.0.resume().take()) {
            Some(after) => after,
            None => return Ok(()),
        };
        *head = Some(after);
        loop {
            let page = self.0.log.after(after, PAGE).await?;
            let Some(last) = page.last().map(|c| c.id) else {
                return Ok(());
            };
            let full = page.len() as i64 == PAGE;
            let batch: Arc<[Arc<Change>]> = page.into_iter().map(Arc::new).collect();
            // A subscriber gone meanwhile is not an error.
            let _ = self.0.batches.send(batch);
            after = last;
            *head = Some(last);
            if !full {
                return Ok(());
            }
        }
    }

    /// Prunes what is past retention: on PostgreSQL on the sequencer's connection, on SQLite on
    /// one of its own.
    async fn prune(&self, worker: Option<&mut PgWorker>) {
        let retention = Duration::from_secs(self.0.config.retention_secs);
        let pruned = match (worker, self.0.log.db()) {
            (Some(worker), _) => worker.prune(retention).await,
            (None, Database::Sqlite(lite)) => prune_sqlite(lite, retention).await,
            (None, Database::Postgres(_)) => Ok(0),
        };
        match pruned {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(deleted, "pruned the change log"),
            Err(error) => {
                tracing::warn!(%error, "pruning the change log failed; trying again later")
            }
        }
    }
}

/// One reader's place in the log.
#[derive(Debug)]
pub struct Subscription {
    hub: ChangeHub,
    batches: broadcast::Receiver<Arc<[Arc<Change>]>>,
    stopped: watch::Receiver<bool>,
    /// The last id handed to the reader.
    cursor: i64,
    pending: VecDeque<Arc<Change>>,
    caught_up: bool,
}

impl Subscription {
    /// The next change; `None` once the hub stops. Cancel-safe (the feed races it against its
    /// heartbeat): a change is taken off the queue only when it is returned, and a log read cut
    /// short is simply read again.
    pub async fn next(&mut self) -> Result<Option<Arc<Change>>, DbError> {
        loop {
            if *self.stopped.borrow() {
                return Ok(None);
            }
            if let Some(change) = self.pending.pop_front() {
                if change.id > self.cursor {
                    self.cursor = change.id;
                    return Ok(Some(change));
                }
                continue;
            }
            if !self.caught_up {
                let page = self.hub.page(self.cursor, PAGE).await?;
                self.caught_up = (page.len() as i64) < PAGE;
                if self.caught_up {
                    let reached = page.last().map_or(self.cursor, |c| c.id);
                    let mut resume = self.hub.0.resume();
                    *resume = Some(resume.map_or(reached, |r| r.min(reached)));
                }
                self.pending.extend(page.into_iter().map(Arc::new));
                continue;
            }
            tokio::select! {
                received = self.batches.recv() => match received {
                    // Ids follow each other: a batch that starts past the next one means the
                    // hub began after changes this reader has not read; read the log again.
                    Ok(batch) if batch.first().is_some_and(|c| c.id > self.cursor + 1) => {
                        self.caught_up = false;
                    }
                    Ok(batch) => self.pending.extend(batch.iter().cloned()),
                    Err(broadcast::error::RecvError::Lagged(_)) => self.caught_up = false,
                    Err(broadcast::error::RecvError::Closed) => return Ok(None),
                },
                _ = self.stopped.changed() => return Ok(None),
            }
        }
    }

    /// The last id handed out.
    pub fn cursor(&self) -> i64 {
        self.cursor
    }
}

/// Prunes the SQLite log on a connection of its own.
async fn prune_sqlite(lite: &SqliteDb, retention: Duration) -> Result<u64, sqlx::Error> {
    let sql = log::prune_statement(Dialect::Sqlite);
    let cutoff = log::cutoff(retention);
    let mut conn = lite.connect().await?;
    let mut deleted = 0;
    loop {
        let batch = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(&cutoff)
            .execute(&mut conn)
            .await?
            .rows_affected();
        deleted += batch;
        if batch < log::PRUNE_BATCH {
            sqlx::Connection::close(conn).await?;
            return Ok(deleted);
        }
    }
}

//! The change log's own PostgreSQL connections: the listener that wakes the hub when another
//! process's sequencer has moved changes into the log, and the worker connection that sequences
//! (see [`super::sequencer`]) and prunes. Both are taken out of `database.max_connections`
//! ([`super::PG_CONNECTIONS`]) and opened again after a failure.

use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{ConnectOptions as _, PgConnection};

use super::capture::INBOX_TABLE;
use super::log;
use super::sequencer::{self, CHANNEL};
use crate::db::{Commits, Dialect};

/// Listens for other processes' sequencers, forever; a lost connection is opened again (what
/// was notified meanwhile is found by the next poll).
pub async fn listen(options: PgConnectOptions, remote: Commits) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options);
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "listening for changes failed; trying again in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(CHANNEL).await {
            tracing::warn!(%error, "listening for changes failed; trying again in 1 s");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        loop {
            match listener.recv().await {
                Ok(_) => remote.signal(),
                Err(error) => {
                    tracing::warn!(%error, "the change listener's connection broke; reopening");
                    remote.signal();
                    break;
                }
            }
        }
    }
}

/// The connection that sequences and prunes.
pub struct PgWorker {
    options: PgConnectOptions,
    conn: Option<PgConnection>,
    /// Changes moved since the inbox was last vacuumed, and when that was.
    moved: i64,
    vacuumed: Instant,
    /// The connection's user may vacuum the inbox: it owns it. An app's own role does not,
    /// and leaves the inbox to autovacuum (and to the owner's runtimes).
    vacuums: bool,
}

/// How often the worker vacuums the inbox while changes flow through it.
const VACUUM_EVERY: Duration = Duration::from_secs(1);

impl PgWorker {
    pub fn new(options: PgConnectOptions) -> Self {
        Self {
            options,
            conn: None,
            moved: 0,
            vacuumed: Instant::now(),
            vacuums: false,
        }
    }

    /// Moves what the inbox holds into the log; a failure is logged, and the next round tries
    /// again on a new connection.
    pub async fn sequence(&mut self) {
        let Some(conn) = self.connection().await else {
            return;
        };
        match sequencer::sequence(conn).await {
            Ok(moved) => self.moved += moved,
            Err(error) => {
                tracing::warn!(%error, "sequencing changes failed; trying again");
                self.conn = None;
                return;
            }
        }
        if self.vacuums && self.moved > 0 && self.vacuumed.elapsed() >= VACUUM_EVERY {
            self.vacuum().await;
        }
    }

    /// Vacuums the inbox: every change passes through it once, leaving a dead row behind, and
    /// each round scans it, so between autovacuum's visits (a minute apart) the scans would
    /// grow with the traffic. Vacuumed every second while changes flow, it stays a few pages.
    async fn vacuum(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let sql = format!("VACUUM (SKIP_LOCKED) {INBOX_TABLE}");
        if let Err(error) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(conn).await {
            tracing::warn!(%error, "vacuuming the change inbox failed");
        }
        self.moved = 0;
        self.vacuumed = Instant::now();
    }

    /// Deletes the changes past `retention`; answers how many log rows (statements' changes)
    /// it deleted.
    pub async fn prune(&mut self, retention: Duration) -> Result<u64, sqlx::Error> {
        let Some(conn) = self.connection().await else {
            return Ok(0);
        };
        let sql = log::prune_statement(Dialect::Postgres);
        let cutoff = log::cutoff(retention);
        let mut deleted = 0;
        loop {
            let batch: i64 = match sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&cutoff)
                .fetch_one(&mut *conn)
                .await
            {
                Ok(count) => count,
                Err(error) => {
                    self.conn = None;
                    return Err(error);
                }
            };
            let batch = u64::try_from(batch).unwrap_or_default();
            deleted += batch;
            if batch < log::PRUNE_BATCH {
                return Ok(deleted);
            }
        }
    }

    async fn connection(&mut self) -> Option<&mut PgConnection> {
        if self.conn.is_none() {
            let connected = match self.options.connect().await {
                Ok(mut conn) => match sequencer::prepare(&mut conn).await {
                    Ok(()) => owns_inbox(&mut conn).await.map(|owns| (conn, owns)),
                    Err(error) => Err(error),
                },
                Err(error) => Err(error),
            };
            match connected {
                Ok((conn, owns)) => {
                    self.conn = Some(conn);
                    self.vacuums = owns;
                }
                Err(error) => {
                    tracing::warn!(%error, "the change log cannot connect; trying again");
                    return None;
                }
            }
        }
        self.conn.as_mut()
    }
}

/// Whether the connection's user owns the inbox (and so may vacuum it).
async fn owns_inbox(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce((SELECT pg_has_role(relowner, 'USAGE') FROM pg_class \
         WHERE oid = to_regclass($1)), false)",
    )
    .bind(INBOX_TABLE)
    .fetch_one(conn)
    .await
}

//! Which runtime process publishes an app. On PostgreSQL, the one holding the app's session
//! advisory lock: one connection of the process's own holds the locks of every app it serves,
//! tries for those it lacks every few seconds and checks itself as often. When it breaks, every
//! lock it held is gone with it (another process may take them), so this process stops
//! publishing until it holds them again; for the moment between the break and the check, the
//! streams' duplicate window absorbs what both send. On SQLite there is no lock: every process
//! publishes, and the duplicate window absorbs the doubles.

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _, PgConnection};
use tokio::sync::watch;

use super::{Target, Trouble};
use crate::db::Database;
use crate::events::ChangeHub;

/// How often the locks this process lacks are tried for, and its lock connection checked.
const EVERY: Duration = Duration::from_secs(3);

/// Whether this process may publish an app now.
#[derive(Debug)]
pub enum Lease {
    /// SQLite: always.
    Always,
    /// PostgreSQL: while it holds the app's lock.
    Lock(watch::Receiver<bool>),
}

impl Lease {
    /// Resolves once this process may publish.
    pub async fn acquired(&mut self) {
        if let Self::Lock(held) = self
            && held.wait_for(|held| *held).await.is_err()
        {
            // The keeper is gone (the hub stopped): the lock will not come.
            std::future::pending::<()>().await;
        }
    }

    /// Resolves once this process may no longer publish.
    pub async fn lost(&mut self) {
        match self {
            Self::Always => std::future::pending().await,
            Self::Lock(held) => {
                let _ = held.wait_for(|held| !*held).await;
            }
        }
    }
}

/// One lease per target, in order; on PostgreSQL kept by a task until the hub stops.
pub fn leases(db: &Database, targets: &[Target], hub: &ChangeHub) -> Vec<Lease> {
    let Database::Postgres(pg) = db else {
        return targets.iter().map(|_| Lease::Always).collect();
    };
    let (locks, leases): (Vec<Lock>, Vec<Lease>) = targets
        .iter()
        .map(|target| {
            let (held, lease) = watch::channel(false);
            let lock = Lock {
                app: target.app.clone(),
                key: lock_key(&target.stream),
                held,
                told_waiting: false,
            };
            (lock, Lease::Lock(lease))
        })
        .unzip();
    let keeper = Keeper {
        options: pg.connect_options().clone(),
        conn: None,
        locks,
    };
    tokio::spawn(keeper.run(hub.clone()));
    leases
}

/// The advisory lock key of publishing to `stream`: the same in every process and version.
fn lock_key(stream: &str) -> i64 {
    // FNV-1a, 64 bits, of a name no other lock of the runtime's uses.
    let name = format!("runtime: publish to NATS stream {stream}");
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    hash.cast_signed()
}

/// One app's lock.
struct Lock {
    app: String,
    key: i64,
    held: watch::Sender<bool>,
    /// Whether "another process publishes" was said since this process last held it.
    told_waiting: bool,
}

/// The connection holding the locks, and what it holds.
struct Keeper {
    options: PgConnectOptions,
    conn: Option<PgConnection>,
    locks: Vec<Lock>,
}

impl Keeper {
    /// Keeps the locks until the hub stops, then lets them go.
    async fn run(mut self, hub: ChangeHub) {
        let mut trouble = Trouble::default();
        loop {
            match self.round().await {
                Ok(()) => {
                    if trouble.over() {
                        tracing::info!("the connection for the NATS publishing locks is back");
                    }
                }
                Err(error) => {
                    self.drop_locks();
                    if trouble.due() {
                        tracing::warn!(%error, "the connection holding the NATS publishing locks failed; publishing pauses until it is back");
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(EVERY) => {}
                () = hub.stopped() => break,
            }
        }
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
    }

    /// Checks the connection (opening it when needed) and tries for every lock not held.
    async fn round(&mut self) -> Result<(), sqlx::Error> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self.conn.insert(self.options.connect().await?),
        };
        conn.ping().await?;
        for lock in self.locks.iter_mut().filter(|lock| !*lock.held.borrow()) {
            let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(lock.key)
                .fetch_one(&mut *conn)
                .await?;
            if taken {
                tracing::info!(app = %lock.app, "this runtime publishes the app's changes to NATS");
                lock.held.send_replace(true);
                lock.told_waiting = false;
            } else if !lock.told_waiting {
                tracing::info!(app = %lock.app, "another runtime publishes the app's changes to NATS; this one takes over if it stops");
                lock.told_waiting = true;
            }
        }
        Ok(())
    }

    /// The connection broke: every lock went with it.
    fn drop_locks(&mut self) {
        self.conn = None;
        for lock in &self.locks {
            lock.held.send_replace(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::lock_key;

    #[test]
    fn each_stream_has_its_own_lasting_lock_key() {
        assert_eq!(lock_key("RUNTIME_SHARED"), lock_key("RUNTIME_SHARED"));
        assert_ne!(lock_key("RUNTIME_SHARED"), lock_key("RUNTIME_CUSTOMERS"));
        // Processes of two versions share the lock: the key is FNV-1a's, never to change.
        assert_eq!(
            lock_key("RUNTIME_SHARED"),
            0xe01a_c0df_f914_1c97_u64.cast_signed()
        );
    }
}

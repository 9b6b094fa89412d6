//! PostgreSQL: one pool per serving thread, and the answers of expensive reads.
//!
//! A tokio socket is driven by the runtime it was opened on. Every actix worker runs its own
//! runtime, so a connection from one shared pool is usually driven by another thread than the one
//! that awaits it: each answer from PostgreSQL first wakes that thread, which then wakes the
//! worker. Each serving thread therefore opens its own connections, on its own runtime, lazily.
//!
//! Reads of a statement text that took the database [`EXPENSIVE`] or more a few times in a row
//! (scans) are answered from a [`ReadCache`] while PostgreSQL's snapshot stays the same, that is
//! while nothing was committed on the server: such a read costs one `pg_current_snapshot()`,
//! which concurrent reads share, instead of its scan.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::coalesce::{Coalescer, Timed};
use super::read_cache::{Expensive, ReadCache};
use super::{DbError, Dialect, JsonRow, Statement};
use crate::sql::Text;

/// Reads whose statement took the database at least this long are worth keeping: a scan of
/// thousands of rows. A point read or a page of 50 takes tens of microseconds of the database's
/// time; a statement's time is the run it shared divided among its members.
const EXPENSIVE: Duration = Duration::from_millis(1);

/// How many runs in a row a text must be that slow: a busy machine stretches any one run.
const EXPENSIVE_RUNS: u8 = 3;

/// The statement that names what a new statement would see: the same text means no commit since.
const SNAPSHOT: &str = "SELECT pg_current_snapshot()::text";

#[derive(Debug, Clone)]
pub struct PgDb {
    /// The one-connection pool opened at start, for migrations and the catalog.
    pool: PgPool,
    lanes: Arc<Lanes>,
    cache: Arc<Cache>,
}

#[derive(Debug)]
struct Cache {
    answers: ReadCache,
    expensive: Mutex<Expensive>,
    snapshot: Statement,
}

#[derive(Debug)]
struct Lanes {
    options: PgConnectOptions,
    per_thread: u32,
    acquire_timeout: Duration,
}

/// A serving thread's pool and its statements waiting to share a round trip.
#[derive(Debug, Clone)]
pub(super) struct ThreadPool {
    lanes: Weak<Lanes>,
    pub pool: PgPool,
    pub shared: Arc<Coalescer>,
}

thread_local! {
    static THREAD_POOLS: RefCell<Vec<ThreadPool>> = const { RefCell::new(Vec::new()) };
}

impl PgDb {
    pub fn new(
        pool: PgPool,
        options: PgConnectOptions,
        per_thread: u32,
        acquire_timeout: Duration,
        cache_bytes: usize,
    ) -> Self {
        Self {
            pool,
            lanes: Arc::new(Lanes {
                options,
                per_thread,
                acquire_timeout,
            }),
            cache: Arc::new(Cache {
                answers: ReadCache::new(cache_bytes),
                expensive: Mutex::new(Expensive::new(EXPENSIVE_RUNS, micros(EXPENSIVE))),
                snapshot: snapshot_read(),
            }),
        }
    }

    /// Runs a read, combined with concurrent reads of its text, or answers it from the cache.
    pub(super) async fn read(&self, statement: &Statement) -> Result<Option<JsonRow>, DbError> {
        let local = self.local();
        let cache = &self.cache;
        if !cache.answers.enabled() || !cache.expensive().contains(statement) {
            return self.timed_read(&local, statement).await;
        }
        let snapshot = local.shared.fetch(&local.pool, &cache.snapshot).await?;
        let version = snapshot.answer.map(|row| row.json).unwrap_or_default();
        let epoch = cache.answers.at_version(&version);
        if let Some(answer) = cache.answers.get(statement, epoch) {
            return Ok(answer);
        }
        let answer = self.timed_read(&local, statement).await?;
        cache.answers.put(statement, epoch, &answer);
        Ok(answer)
    }

    /// Runs a read, noting whether it was expensive.
    async fn timed_read(
        &self,
        local: &ThreadPool,
        statement: &Statement,
    ) -> Result<Option<JsonRow>, DbError> {
        let Timed { answer, cost } = local.shared.fetch(&local.pool, statement).await?;
        if self.cache.answers.enabled() {
            self.cache.expensive().note(statement, micros(cost));
        }
        Ok(answer)
    }

    /// The pool opened at start.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The calling thread's own pool, opened on first use.
    pub(super) fn local(&self) -> ThreadPool {
        THREAD_POOLS.with(|pools| {
            let mut pools = pools.borrow_mut();
            if let Some(local) = pools
                .iter()
                .find(|p| std::ptr::eq(p.lanes.as_ptr(), Arc::as_ptr(&self.lanes)))
            {
                return local.clone();
            }
            let pool = PgPoolOptions::new()
                .max_connections(self.lanes.per_thread)
                .test_before_acquire(false)
                .acquire_timeout(self.lanes.acquire_timeout)
                .connect_lazy_with(self.lanes.options.clone());
            // Pools of databases that are gone are dropped only here, off the per-query path.
            pools.retain(|p| p.lanes.strong_count() > 0);
            let local = ThreadPool {
                lanes: Arc::downgrade(&self.lanes),
                pool,
                shared: Arc::default(),
            };
            pools.push(local.clone());
            local
        })
    }
}

/// The read of [`SNAPSHOT`].
fn snapshot_read() -> Statement {
    let mut text = Text::new(Dialect::Postgres);
    text.push_str(SNAPSHOT);
    text.into_read(Vec::new())
}

fn micros(time: Duration) -> u64 {
    u64::try_from(time.as_micros()).unwrap_or(u64::MAX)
}

impl Cache {
    fn expensive(&self) -> std::sync::MutexGuard<'_, Expensive> {
        self.expensive
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use sqlx::{AssertSqlSafe, raw_sql};

    use super::*;
    use crate::query::Value;

    /// A PostgreSQL store on `TEST_POSTGRES_URL`'s database, with a table of one row, and a read
    /// of it that `pg_sleep` makes as slow as a scan and `random()` different on every run: equal
    /// answers can only come from the cache. `None` without `TEST_POSTGRES_URL`.
    async fn store(name: &str, cache_bytes: usize) -> Option<(PgDb, String, Statement)> {
        let url = std::env::var("TEST_POSTGRES_URL").ok()?;
        let options: PgConnectOptions = url.parse().expect("TEST_POSTGRES_URL");
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .expect("connect to TEST_POSTGRES_URL");
        let table = format!("{name}_{}", std::process::id());
        raw_sql(AssertSqlSafe(format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (x text); \
             INSERT INTO {table} VALUES ('a')"
        )))
        .execute(&pool)
        .await
        .expect("a table");
        let read = crate::sql::testing::read(
            Dialect::Postgres,
            &format!(
                "SELECT json_build_array(count(*), random())::text FROM {table}, \
                 pg_sleep(0.002) WHERE x LIKE ?"
            ),
            vec![Value::Text("%".into())],
        );
        let db = PgDb::new(pool, options, 2, Duration::from_secs(5), cache_bytes);
        Some((db, table, read))
    }

    async fn run(db: &PgDb, read: &Statement) -> (i64, f64) {
        let json = db.read(read).await.expect("read").expect("a row").json;
        serde_json::from_str(&json).expect("[count, random]")
    }

    async fn snapshot(db: &PgDb) -> String {
        let row: (String,) = sqlx::query_as(SNAPSHOT)
            .fetch_one(db.pool())
            .await
            .expect("snapshot");
        row.0
    }

    /// Two runs of the read with no commit anywhere on the server in between (other sessions may
    /// commit: then it tries again).
    async fn twice(db: &PgDb, read: &Statement) -> ((i64, f64), (i64, f64)) {
        loop {
            let before = snapshot(db).await;
            let answers = (run(db, read).await, run(db, read).await);
            if snapshot(db).await == before {
                return answers;
            }
        }
    }

    async fn drop_table(db: &PgDb, table: &str) {
        raw_sql(AssertSqlSafe(format!("DROP TABLE {table}")))
            .execute(db.pool())
            .await
            .expect("drop the table");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn expensive_reads_are_answered_from_the_cache_until_a_commit() {
        let Some((db, table, read)) = store("read_cache", 1 << 20).await else {
            return;
        };
        for _ in 0..EXPENSIVE_RUNS {
            run(&db, &read).await;
        }
        assert!(db.cache.expensive().contains(&read), "slow three times");
        let (first, second) = twice(&db, &read).await;
        assert_eq!(first, second, "the second answer is the kept one");
        raw_sql(AssertSqlSafe(format!("INSERT INTO {table} VALUES ('b')")))
            .execute(db.pool())
            .await
            .expect("a commit");
        let (count, random) = run(&db, &read).await;
        assert_eq!(count, 2, "the commit is seen");
        assert_ne!(random, first.1);
        drop_table(&db, &table).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nothing_is_kept_without_cache_memory() {
        let Some((db, table, read)) = store("no_read_cache", 0).await else {
            return;
        };
        for _ in 0..EXPENSIVE_RUNS {
            run(&db, &read).await;
        }
        let (first, second) = twice(&db, &read).await;
        assert_ne!(first.1, second.1, "every answer is computed");
        drop_table(&db, &table).await;
    }
}

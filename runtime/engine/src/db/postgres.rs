//! PostgreSQL: a lane of connections per serving thread, within one ceiling, and the answers of
//! expensive reads.
//!
//! A tokio socket is driven by the runtime it was opened on. Every actix worker runs its own
//! runtime, so a connection from one shared pool is usually driven by another thread than the one
//! that awaits it: each answer from PostgreSQL first wakes that thread, which then wakes the
//! worker. Each serving thread therefore gets a lane of its own, a pool that opens its
//! connections lazily on that thread's runtime. `database.max_connections` is shared out between
//! the lanes, so all of them together never hold more ([`lane_sizes`]); with more serving threads
//! than connections, the threads after the first `max_connections` share the lanes of the first
//! ones (their answers then wake another thread, but every thread is served). The start-up
//! connection (migrations, the catalog) is closed before any lane opens one.
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
use super::metrics::{DbMetrics, PoolState};
use super::read_cache::{Expensive, ReadCache};
use super::{Commits, DbError, Dialect, Failure, JsonRow, Statement};
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
    /// `database.statement_timeout_ms`, when shorter than the request deadline.
    statement_timeout: Option<Duration>,
    /// The one-connection pool opened at start, for migrations and the catalog; closed once a
    /// serving thread first asks for its lane.
    pool: PgPool,
    lanes: Arc<Lanes>,
    cache: Arc<Cache>,
    commits: Commits,
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
    metrics: DbMetrics,
    /// The most connections each lane may hold, in the order the lanes are claimed.
    sizes: Vec<u32>,
    acquire_timeout: Duration,
    /// The lanes opened so far, and how many threads have claimed one.
    claimed: Mutex<(Vec<Lane>, usize)>,
}

/// A lane: a pool, and its statements waiting to share a round trip. Each serving thread uses
/// one; a lane may serve several threads when there are more threads than connections.
#[derive(Debug, Clone)]
pub(super) struct Lane {
    lanes: Weak<Lanes>,
    pub pool: PgPool,
    pub shared: Arc<Coalescer>,
}

thread_local! {
    /// The lane of each database this thread has served.
    static THREAD_LANES: RefCell<Vec<Lane>> = const { RefCell::new(Vec::new()) };
}

/// The most connections each lane may hold: `max_connections` shared out as evenly as it goes
/// between one lane per serving thread, or between `max_connections` lanes of one connection
/// when there are more threads. Together they hold `max_connections` at most.
pub(super) fn lane_sizes(max_connections: u32, serving_threads: usize) -> Vec<u32> {
    let max_connections = max_connections.max(1);
    let lanes = u32::try_from(serving_threads)
        .unwrap_or(u32::MAX)
        .clamp(1, max_connections);
    (0..lanes)
        .map(|lane| max_connections / lanes + u32::from(lane < max_connections % lanes))
        .collect()
}

impl PgDb {
    /// Serves from lanes of the given sizes ([`lane_sizes`]), which open connections with
    /// `options`; `pool` is the start-up pool.
    pub(super) fn new(
        pool: PgPool,
        options: PgConnectOptions,
        sizes: Vec<u32>,
        acquire_timeout: Duration,
        cache_bytes: usize,
        metrics: DbMetrics,
        statement_timeout: Option<Duration>,
    ) -> Self {
        Self {
            statement_timeout,
            pool,
            lanes: Arc::new(Lanes {
                options,
                metrics: metrics.clone(),
                sizes,
                acquire_timeout,
                claimed: Mutex::default(),
            }),
            cache: Arc::new(Cache {
                answers: ReadCache::new(cache_bytes, metrics.clone()),
                expensive: Mutex::new(Expensive::new(EXPENSIVE_RUNS, micros(EXPENSIVE))),
                snapshot: snapshot_read(),
            }),
            commits: Commits::default(),
        }
    }

    pub(super) fn commits(&self) -> &Commits {
        &self.commits
    }

    /// How the serving connections connect, for the few connections of its own the change log
    /// keeps (they count within `database.max_connections`).
    pub fn connect_options(&self) -> &PgConnectOptions {
        &self.lanes.options
    }

    /// Runs a read, combined with concurrent reads of its text, or answers it from the cache.
    pub(super) async fn read(&self, statement: &Statement) -> Result<Option<JsonRow>, DbError> {
        let lane = self.lane().await;
        let cache = &self.cache;
        if !cache.answers.enabled() || !cache.expensive().contains(statement) {
            return self.timed_read(&lane, statement).await;
        }
        let snapshot = lane.shared.fetch(&lane.pool, &cache.snapshot).await?;
        let version = snapshot.answer.map(|row| row.json).unwrap_or_default();
        let epoch = cache.answers.at_version(&version);
        if let Some(answer) = cache.answers.get(statement, epoch) {
            return Ok(answer);
        }
        let answer = self.timed_read(&lane, statement).await?;
        cache.answers.put(statement, epoch, &answer);
        Ok(answer)
    }

    /// Runs a read, noting whether it was expensive.
    async fn timed_read(
        &self,
        lane: &Lane,
        statement: &Statement,
    ) -> Result<Option<JsonRow>, DbError> {
        let Timed { answer, cost } = lane.shared.fetch(&lane.pool, statement).await?;
        if self.cache.answers.enabled() {
            self.cache.expensive().note(statement, micros(cost));
        }
        Ok(answer)
    }

    pub fn statement_timeout(&self) -> Option<Duration> {
        self.statement_timeout
    }

    pub fn metrics(&self) -> &DbMetrics {
        &self.lanes.metrics
    }

    /// After a failed statement: when the database could not be reached, every idle connection
    /// is closed, so that once it is back no request meets a connection the outage broke (they
    /// are not pinged before use).
    pub(super) fn after(&self, error: &DbError) {
        if error.failure() != Failure::Unreachable {
            return;
        }
        let claimed = self
            .lanes
            .claimed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for lane in &claimed.0 {
            while let Some(mut connection) = lane.pool.try_acquire() {
                connection.close_on_drop();
            }
        }
    }

    /// The serving connections now: open ones idle or busy, and the most there may be.
    pub fn pool_state(&self) -> PoolState {
        let claimed = self
            .lanes
            .claimed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut state = PoolState {
            max: self.lanes.sizes.iter().map(|&s| u64::from(s)).sum(),
            ..PoolState::default()
        };
        for lane in &claimed.0 {
            let size = u64::from(lane.pool.size());
            let idle = u64::try_from(lane.pool.num_idle()).unwrap_or(u64::MAX);
            state.idle += idle;
            state.busy += size.saturating_sub(idle);
            state.waiting += u64::try_from(lane.shared.waiting()).unwrap_or(u64::MAX);
        }
        state
    }

    /// The pool opened at start, for migrations and the catalog; closed once serving begins.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The calling thread's lane, claimed on its first statement. The start-up pool is closed
    /// first (at once when it already is), so its connection is never open beside a serving one.
    pub(super) async fn lane(&self) -> Lane {
        let known = THREAD_LANES.with(|lanes| {
            lanes
                .borrow()
                .iter()
                .find(|lane| std::ptr::eq(lane.lanes.as_ptr(), Arc::as_ptr(&self.lanes)))
                .cloned()
        });
        if let Some(lane) = known {
            return lane;
        }
        self.pool.close().await;
        let lane = Lanes::claim(&self.lanes);
        THREAD_LANES.with(|lanes| {
            let mut lanes = lanes.borrow_mut();
            // Lanes of databases that are gone are dropped only here, off the per-query path.
            lanes.retain(|lane| lane.lanes.strong_count() > 0);
            lanes.push(lane.clone());
        });
        lane
    }
}

impl Lanes {
    /// The lane of the next thread to ask: a new one while there are lanes left to open, else
    /// one already open, in turn.
    fn claim(lanes: &Arc<Self>) -> Lane {
        let mut claimed = lanes.claimed.lock().unwrap_or_else(PoisonError::into_inner);
        let (open, threads) = &mut *claimed;
        let index = *threads % lanes.sizes.len();
        *threads += 1;
        if let Some(lane) = open.get(index) {
            return lane.clone();
        }
        let lane = Lane {
            lanes: Arc::downgrade(lanes),
            pool: PgPoolOptions::new()
                .max_connections(lanes.sizes[index])
                .test_before_acquire(false)
                .acquire_timeout(lanes.acquire_timeout)
                .connect_lazy_with(lanes.options.clone()),
            shared: Arc::new(Coalescer::counting(lanes.metrics.batch_members.clone())),
        };
        open.push(lane.clone());
        lane
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
    use crate::sql::testing;

    #[test]
    fn lanes_share_out_max_connections_and_never_hold_more() {
        assert_eq!(lane_sizes(10, 2), [5, 5]);
        assert_eq!(lane_sizes(10, 4), [3, 3, 2, 2]);
        assert_eq!(lane_sizes(4, 8), [1, 1, 1, 1]);
        assert_eq!(lane_sizes(4, 0), [4]);
        assert_eq!(lane_sizes(1, 1), [1]);
        for max in 1..20 {
            for threads in 0..30 {
                let sizes = lane_sizes(max, threads);
                assert_eq!(sizes.iter().sum::<u32>(), max, "{max} over {threads}");
                assert!(sizes.iter().all(|&size| size >= 1));
            }
        }
    }

    #[tokio::test]
    async fn threads_beyond_the_lanes_share_them_in_turn() {
        let lanes = Arc::new(Lanes {
            options: PgConnectOptions::new(),
            metrics: DbMetrics::default(),
            sizes: lane_sizes(2, 5),
            acquire_timeout: Duration::from_secs(1),
            claimed: Mutex::default(),
        });
        let claimed: Vec<Lane> = (0..5).map(|_| Lanes::claim(&lanes)).collect();
        let same = |a: usize, b: usize| Arc::ptr_eq(&claimed[a].shared, &claimed[b].shared);
        assert!(!same(0, 1));
        assert!(same(0, 2) && same(0, 4) && same(1, 3));
        let opened: u32 = lanes
            .claimed
            .lock()
            .unwrap()
            .0
            .iter()
            .map(|lane| lane.pool.options().get_max_connections())
            .sum();
        assert_eq!(opened, 2);
    }

    /// A PostgreSQL store on `TEST_POSTGRES_URL`'s database, a pool of its own to change that
    /// database with, a table of one row, and a read of it that `pg_sleep` makes as slow as a
    /// scan and `random()` different on every run: equal answers can only come from the cache.
    /// `None` without `TEST_POSTGRES_URL`.
    struct Store {
        db: PgDb,
        admin: PgPool,
        table: String,
        read: Statement,
    }

    async fn store(name: &str, cache_bytes: usize) -> Option<Store> {
        let url = std::env::var("TEST_POSTGRES_URL").ok()?;
        let options: PgConnectOptions = url.parse().expect("TEST_POSTGRES_URL");
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .expect("connect to TEST_POSTGRES_URL");
        let table = format!("{name}_{}", std::process::id());
        raw_sql(AssertSqlSafe(format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (x text); \
             INSERT INTO {table} VALUES ('a')"
        )))
        .execute(&admin)
        .await
        .expect("a table");
        let read = testing::read(
            Dialect::Postgres,
            &format!(
                "SELECT json_build_array(count(*), random())::text FROM {table}, \
                 pg_sleep(0.002) WHERE x LIKE ?"
            ),
            vec![Value::Text("%".into())],
        );
        let start_up = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(options.clone());
        let db = PgDb::new(
            start_up,
            options,
            lane_sizes(2, 1),
            Duration::from_secs(5),
            cache_bytes,
            DbMetrics::default(),
            None,
        );
        Some(Store {
            db,
            admin,
            table,
            read,
        })
    }

    impl Store {
        async fn run(&self) -> (i64, f64) {
            let json = self.db.read(&self.read).await.expect("read");
            serde_json::from_str(&json.expect("a row").json).expect("[count, random]")
        }

        async fn snapshot(&self) -> String {
            let row: (String,) = sqlx::query_as(SNAPSHOT)
                .fetch_one(&self.admin)
                .await
                .expect("snapshot");
            row.0
        }

        /// Two runs of the read with no commit anywhere on the server in between (other
        /// sessions may commit: then it tries again).
        async fn twice(&self) -> ((i64, f64), (i64, f64)) {
            loop {
                let before = self.snapshot().await;
                let answers = (self.run().await, self.run().await);
                if self.snapshot().await == before {
                    return answers;
                }
            }
        }

        async fn execute(&self, sql: String) {
            raw_sql(AssertSqlSafe(sql))
                .execute(&self.admin)
                .await
                .expect("a change");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn expensive_reads_are_answered_from_the_cache_until_a_commit() {
        let Some(store) = store("read_cache", 1 << 20).await else {
            return;
        };
        for _ in 0..EXPENSIVE_RUNS {
            store.run().await;
        }
        assert!(
            store.db.cache.expensive().contains(&store.read),
            "slow three times"
        );
        let (first, second) = store.twice().await;
        assert_eq!(first, second, "the second answer is the kept one");
        store
            .execute(format!("INSERT INTO {} VALUES ('b')", store.table))
            .await;
        let (count, random) = store.run().await;
        assert_eq!(count, 2, "the commit is seen");
        assert_ne!(random, first.1);
        store.execute(format!("DROP TABLE {}", store.table)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nothing_is_kept_without_cache_memory() {
        let Some(store) = store("no_read_cache", 0).await else {
            return;
        };
        for _ in 0..EXPENSIVE_RUNS {
            store.run().await;
        }
        let (first, second) = store.twice().await;
        assert_ne!(first.1, second.1, "every answer is computed");
        store.execute(format!("DROP TABLE {}", store.table)).await;
    }

    #[tokio::test]
    async fn the_start_up_connection_is_closed_before_the_first_serving_one_opens() {
        let Some(store) = store("start_up", 0).await else {
            return;
        };
        assert!(!store.db.pool().is_closed());
        store.run().await;
        assert!(store.db.pool().is_closed());
        store.execute(format!("DROP TABLE {}", store.table)).await;
    }
}

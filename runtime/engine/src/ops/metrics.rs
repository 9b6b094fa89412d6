//! The runtime's Prometheus metrics: one registry per runtime (no process-global state), the
//! request families the edge middleware updates, the statement families [`crate::api`] updates,
//! and the database layer's own handles; gauges of state (connections, migrations) are read
//! when scraped. Label values are bounded: route templates, never raw paths.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::db::Database;

/// Labels of a request counted once answered. Every value is interned ([`intern`]): the
/// label sets are bounded, and counting a request allocates nothing.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub app: &'static str,
    /// The route template (`/customers/{id}`), or `unmatched`.
    pub route: &'static str,
    pub method: &'static str,
    pub status: u16,
}

/// Labels of a request's duration: its status by class (`2xx`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DurationLabels {
    pub app: &'static str,
    pub route: &'static str,
    pub method: &'static str,
    pub status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppLabel {
    pub app: &'static str,
}

/// The one copy of a label value for the life of the process. Only bounded sets go through
/// it: app names and route templates (the router's own patterns).
pub fn intern(value: &str) -> &'static str {
    thread_local! {
        static SEEN: std::cell::RefCell<std::collections::HashSet<&'static str>> =
            std::cell::RefCell::default();
    }
    static ALL: std::sync::Mutex<std::collections::BTreeSet<&'static str>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    if let Some(found) = SEEN.with(|seen| seen.borrow().get(value).copied()) {
        return found;
    }
    let interned = {
        let mut all = ALL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match all.get(value) {
            Some(found) => *found,
            None => {
                let leaked: &'static str = Box::leak(value.to_owned().into_boxed_str());
                all.insert(leaked);
                leaked
            }
        }
    };
    SEEN.with(|seen| seen.borrow_mut().insert(interned));
    interned
}

/// What a statement did: `read`, `insert`, `update`, `upsert`, `delete` or `count`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

fn seconds_histogram() -> Histogram {
    // 0.25 ms .. ~8 s
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The kinds of statement, as labelled.
pub const STATEMENT_KINDS: [&str; 6] = ["read", "count", "insert", "update", "upsert", "delete"];

/// Statements the APIs run, by kind, and how long they take; each kind's series resolved once,
/// so counting a statement takes no lock.
#[derive(Debug, Clone)]
pub struct StatementMetrics {
    pub count: Family<KindLabel, Counter>,
    pub seconds: Family<KindLabel, Histogram, fn() -> Histogram>,
    counters: Vec<Counter>,
    histograms: Vec<Histogram>,
}

impl Default for StatementMetrics {
    fn default() -> Self {
        let count = Family::<KindLabel, Counter>::default();
        let seconds = Family::<KindLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            seconds_histogram,
        );
        let counters = STATEMENT_KINDS
            .iter()
            .map(|&kind| count.get_or_create(&KindLabel { kind }).clone())
            .collect();
        let histograms = STATEMENT_KINDS
            .iter()
            .map(|&kind| seconds.get_or_create(&KindLabel { kind }).clone())
            .collect();
        Self {
            count,
            seconds,
            counters,
            histograms,
        }
    }
}

impl StatementMetrics {
    /// Counts a statement of the kind at `kind` in [`STATEMENT_KINDS`].
    pub fn ran(&self, kind: usize) {
        self.counters[kind].inc();
    }

    /// Records how long a statement of the kind at `kind` took.
    pub fn took(&self, kind: usize, seconds: f64) {
        self.histograms[kind].observe(seconds);
    }
}

/// The request families.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub seconds: Family<DurationLabels, Histogram, fn() -> Histogram>,
    pub in_flight: Family<AppLabel, Gauge>,
}

/// One runtime's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub http: HttpMetrics,
    db: Database,
    pool_connections: Family<StateLabel, Gauge>,
    pool_max: Gauge,
    pool_waiting: Gauge,
    migrations: Gauge,
    nats_published: Family<AppLabel, Counter>,
}

impl Metrics {
    /// Registers every metric of a runtime over `db`, whose statements `statements` counts.
    pub fn new(db: &Database, statements: &StatementMetrics) -> Arc<Self> {
        let mut registry = Registry::default();
        let http = HttpMetrics {
            requests: Family::default(),
            seconds: Family::new_with_constructor(seconds_histogram),
            in_flight: Family::default(),
        };
        registry.register(
            "http_requests",
            "Requests answered, by app, route template, method and status",
            http.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from request to answer, by app, route template, method and status class",
            http.seconds.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "Requests being answered now, by app",
            http.in_flight.clone(),
        );
        let pool_connections = Family::<StateLabel, Gauge>::default();
        let pool_max = Gauge::default();
        registry.register(
            "db_pool_connections",
            "PostgreSQL serving connections open now, idle or busy",
            pool_connections.clone(),
        );
        registry.register(
            "db_pool_max",
            "The most serving connections the process may hold (database.max_connections)",
            pool_max.clone(),
        );
        let pool_waiting = Gauge::default();
        registry.register(
            "db_pool_waiting",
            "Statements waiting for a PostgreSQL connection now",
            pool_waiting.clone(),
        );
        let stats = db.metrics();
        registry.register(
            "db_pool_timeouts",
            "Requests that found no connection (SQLite: the writer) free within database.acquire_timeout_secs",
            stats.timeouts.clone(),
        );
        registry.register(
            "db_statements",
            "Statements the APIs ran, by kind",
            statements.count.clone(),
        );
        registry.register(
            "db_statement_duration_seconds",
            "Time a statement took, by kind",
            statements.seconds.clone(),
        );
        registry.register(
            "db_read_cache_hits",
            "Reads answered from the read cache",
            stats.cache_hits.clone(),
        );
        registry.register(
            "db_read_cache_misses",
            "Expensive reads the read cache could not answer",
            stats.cache_misses.clone(),
        );
        registry.register(
            "db_read_cache_bytes",
            "Bytes the read cache holds",
            stats.cache_bytes.clone(),
        );
        registry.register(
            "db_batch_members",
            "Statements per batch: PostgreSQL's combined statements, SQLite's group commits",
            stats.batch_members.clone(),
        );
        registry.register(
            "db_write_queue_depth",
            "Writes waiting for SQLite's writer",
            stats.write_queue.clone(),
        );
        let migrations = Gauge::default();
        registry.register(
            "migrations_applied",
            "Migrations applied to the database",
            migrations.clone(),
        );
        let nats_published = Family::<AppLabel, Counter>::default();
        registry.register(
            "events_nats_published",
            "Changes NATS JetStream stored (events.nats_url), by app",
            nats_published.clone(),
        );
        registry.register(
            "runtime_build",
            "The runtime's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        Arc::new(Self {
            registry,
            http,
            db: db.clone(),
            pool_connections,
            pool_max,
            pool_waiting,
            migrations,
            nats_published,
        })
    }

    /// The counter of an app's changes that NATS JetStream stored.
    pub fn nats_published(&self, app: &str) -> Counter {
        self.nats_published
            .get_or_create(&AppLabel { app: intern(app) })
            .clone()
    }

    /// Sets how many migrations the database holds.
    pub fn set_migrations(&self, applied: usize) {
        self.migrations
            .set(i64::try_from(applied).unwrap_or(i64::MAX));
    }

    /// The metrics in the text format, with the connection gauges read now.
    pub fn render(&self) -> String {
        if let Some(pool) = self.db.pool_state() {
            let set = |state: &'static str, value: u64| {
                self.pool_connections
                    .get_or_create(&StateLabel { state })
                    .set(i64::try_from(value).unwrap_or(i64::MAX));
            };
            set("idle", pool.idle);
            set("busy", pool.busy);
            self.pool_max
                .set(i64::try_from(pool.max).unwrap_or(i64::MAX));
            self.pool_waiting
                .set(i64::try_from(pool.waiting).unwrap_or(i64::MAX));
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

//! What the database layer counts for `/metrics`: the read cache's hits, misses and bytes, the
//! members of each batch (PostgreSQL's combined statements, SQLite's group commits) and the
//! writes queued for SQLite's writer. The
//! operations layer registers these handles; the layer itself only updates them.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

/// The database layer's metric handles; clones share their values.
#[derive(Debug, Clone)]
pub struct DbMetrics {
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub cache_bytes: Gauge,
    /// Statements per combined statement (PostgreSQL: concurrent reads or inserts of one text;
    /// SQLite: writes committed together).
    pub batch_members: Histogram,
    /// Writes waiting for SQLite's writer.
    pub write_queue: Gauge,
    /// Requests that found no connection (SQLite: the writer) free within the acquire timeout.
    pub timeouts: Counter,
}

impl Default for DbMetrics {
    fn default() -> Self {
        Self {
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            cache_bytes: Gauge::default(),
            batch_members: Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]),
            write_queue: Gauge::default(),
            timeouts: Counter::default(),
        }
    }
}

/// A connection pool's connections at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolState {
    pub idle: u64,
    pub busy: u64,
    /// The most it may hold.
    pub max: u64,
    /// Statements queued for a connection.
    pub waiting: u64,
}

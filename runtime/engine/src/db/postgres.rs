//! PostgreSQL: one pool per serving thread.
//!
//! A tokio socket is driven by the runtime it was opened on. Every actix worker runs its own
//! runtime, so a connection from one shared pool is usually driven by another thread than the one
//! that awaits it: each answer from PostgreSQL first wakes that thread, which then wakes the
//! worker. Each serving thread therefore opens its own connections, on its own runtime, lazily.

use std::cell::RefCell;
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::coalesce::Coalescer;

#[derive(Debug, Clone)]
pub struct PgDb {
    /// The one-connection pool opened at start, for migrations and the catalog.
    pool: PgPool,
    lanes: Arc<Lanes>,
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
    ) -> Self {
        Self {
            pool,
            lanes: Arc::new(Lanes {
                options,
                per_thread,
                acquire_timeout,
            }),
        }
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

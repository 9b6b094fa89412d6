//! `database.max_connections` is a ceiling for the serving connections of the whole process:
//! however many worker threads serve however many ports, PostgreSQL never sees more connections
//! from the runtime (beside the change log's own two), during a load of reads and inserts or
//! after it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;
use sqlx::{Connection, PgConnection};

use runtime::linked_apps;

use crate::helpers::{TestApp, TestDb};

const WORKERS: usize = 8;
const MAX_CONNECTIONS: u32 = 4;

/// The connections to the test database other than `conn` itself (client backends only: an
/// autovacuum worker may visit the database too).
async fn others(conn: &mut PgConnection) -> i64 {
    let all: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND backend_type = 'client backend'",
    )
    .fetch_one(conn)
    .await
    .expect("pg_stat_activity");
    all - 1
}

/// Samples [`others`] until `stop` is set; the most it saw.
async fn most_while(mut conn: PgConnection, stop: Arc<AtomicBool>) -> (i64, PgConnection) {
    let mut most = 0;
    while !stop.load(Ordering::Relaxed) {
        most = most.max(others(&mut conn).await);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    (most, conn)
}

/// One round of concurrent requests on every app's port and the composed one: reads of
/// several shapes and inserts of two.
async fn round(app: &TestApp, round: usize) {
    let requests = (0..48).map(|i| async move {
        let reply = match i % 6 {
            0 => {
                let address = format!("r{round}-{i}@example.com");
                app.post("shared", "/emails", json!({ "address": address }))
                    .await
            }
            1 => {
                let number = format!("+1 {round} {i}");
                app.post("runtime", "/phones", json!({ "number": number }))
                    .await
            }
            2 => app.get("customers", "/customers/1").await,
            3 => app.get("products", "/products?limit=5").await,
            4 => app.get("invoices", "/invoices?where.status.eq=draft").await,
            _ => app.get("runtime", "/customers?totalCount=true").await,
        };
        assert!(
            reply.status.is_success(),
            "{} {:?}",
            reply.status,
            reply.body
        );
    });
    join_all(requests).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_process_never_holds_more_connections_than_max_connections() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let app = TestApp::spawn_configured(db, linked_apps(), |config| {
        config.server.workers = WORKERS;
        config.database.max_connections = MAX_CONNECTIONS;
    })
    .await;
    app.seed().await;
    let sampler = PgConnection::connect(&app.db.url)
        .await
        .expect("a connection of the test's own");
    let stop = Arc::new(AtomicBool::new(false));
    let sampling = tokio::spawn(most_while(sampler, Arc::clone(&stop)));
    for n in 0..20 {
        round(&app, n).await;
    }
    stop.store(true, Ordering::Relaxed);
    let (during, mut sampler) = sampling.await.expect("the sampler");
    let mut after = 0;
    for _ in 0..20 {
        after = after.max(others(&mut sampler).await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(during >= 1, "the load used the database");
    // The serving connections, and the change log's own (its sequencer and listener).
    let ceiling = i64::from(MAX_CONNECTIONS + engine::events::PG_CONNECTIONS);
    assert!(during <= ceiling, "{during} connections during the load");
    assert!(after <= ceiling, "{after} connections after the load");
    sampler.close().await.expect("close");
    app.finish().await;
}

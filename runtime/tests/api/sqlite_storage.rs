//! SQLite storage under a steady write load: the runtime checkpoints the WAL in the background
//! (no write pays for a checkpoint), and the WAL starts over instead of growing with every write;
//! a clean shutdown leaves it empty.

use std::time::Duration;

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_wal_starts_over_after_background_checkpoints() {
    let app = TestApp::spawn_sqlite().await;
    let wal = format!("{}-wal", app.db.url.trim_start_matches("sqlite://"));
    let wal_size = || std::fs::metadata(&wal).map_or(0, |m| m.len());
    let mut next = 0;
    let mut write_batch = async |rows: usize| {
        for _ in 0..rows {
            next += 1;
            let address = format!("user{next}@example.com");
            let reply = app
                .post("runtime", "/emails", json!({ "address": address }))
                .await;
            assert_eq!(reply.status.as_u16(), 201, "{:?}", reply.body);
        }
        // Longer than the checkpoint interval: with no write meanwhile, the WAL is fully
        // checkpointed after this.
        tokio::time::sleep(Duration::from_millis(400)).await;
    };
    write_batch(80).await;
    let after_first = wal_size();
    assert!(after_first > 0, "the writes went through the WAL");
    // Each later batch is half the first: had the WAL not started over, it would have grown.
    write_batch(40).await;
    write_batch(40).await;
    assert!(
        wal_size() <= after_first,
        "the WAL grew from {after_first} to {} bytes: it was not checkpointed and restarted",
        wal_size()
    );
    assert_eq!(app.get("runtime", "/emails/160").await.status.as_u16(), 200);
    assert_eq!(app.get("runtime", "/emails/161").await.status.as_u16(), 404);
    app.finish().await;
}

#[tokio::test]
async fn a_clean_shutdown_leaves_the_wal_empty_and_the_rows_in_the_database() {
    let app = TestApp::spawn_sqlite().await;
    let file = app.db.url.trim_start_matches("sqlite://").to_string();
    let wal_size = || std::fs::metadata(format!("{file}-wal")).map_or(0, |m| m.len());
    for n in 1..=30 {
        let address = format!("user{n}@example.com");
        let reply = app
            .post("runtime", "/emails", json!({ "address": address }))
            .await;
        assert_eq!(reply.status.as_u16(), 201, "{:?}", reply.body);
    }
    assert!(wal_size() > 0, "the writes went through the WAL");
    let db = app.stop().await;
    assert_eq!(
        wal_size(),
        0,
        "the WAL still held frames after shutdown: the next start would read them all"
    );
    let app = TestApp::spawn_with(db, runtime::linked_apps()).await;
    let reply = app.get("runtime", "/emails/30").await;
    assert_eq!(reply.assert_ok()["address"], "user30@example.com");
    app.finish().await;
}

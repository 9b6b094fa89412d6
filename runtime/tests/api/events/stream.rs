//! `/changes` as Server-Sent Events: live changes from every writer, resumption from
//! `Last-Event-ID` or `after`, heartbeats, and an end when the runtime stops.

use std::time::Duration;

use serde_json::json;

use super::{Sse, last_id};
use crate::helpers::{TestApp, both};

both!(a_stream_shows_changes_as_they_commit_and_resumes, |app| {
    app.seed().await;
    let start = last_id(app, "runtime").await;
    let mut stream = Sse::open(app, "invoices", "/changes", &[]).await;

    app.post(
        "runtime",
        "/invoices",
        json!({"customerId": 2, "number": "INV-9", "status": "draft"}),
    )
    .await
    .assert_ok();
    app.post(
        "runtime",
        "/emails",
        json!({"address": "other@example.com"}),
    )
    .await
    .assert_ok();
    app.db
        .execute("UPDATE invoices SET status = 'void' WHERE number = 'INV-9'")
        .await;
    // The stream starts at the beginning of the log: the seed first, then the new changes.
    let mut events = Vec::new();
    while events.len() < 2 {
        let event = stream.next().await.expect("an event");
        if event.id > start {
            events.push(event);
        }
    }
    assert_eq!(events[0].event, "insert");
    assert_eq!(events[0].data["table"], "invoices");
    assert_eq!(events[0].data["row"]["number"], "INV-9");
    assert_eq!(events[0].data["id"], events[0].id);
    assert_eq!(events[1].event, "update");
    assert_eq!(events[1].data["row"]["status"], "void");
    assert!(events[0].id < events[1].id);
    drop(stream);

    // A client that saw the insert resumes after it, from the header or the parameter.
    let seen = events[0].id.to_string();
    let mut resumed = Sse::open(app, "invoices", "/changes", &[("last-event-id", &seen)]).await;
    let next = resumed.next().await.expect("the update again");
    assert_eq!((next.id, next.event.as_str()), (events[1].id, "update"));
    let mut resumed = Sse::open(app, "invoices", &format!("/changes?after={seen}"), &[]).await;
    assert_eq!(resumed.next().await.expect("the update").id, events[1].id);
    // The email, on a table the invoices app does not list, never reached its port.
    app.post(
        "runtime",
        "/invoices",
        json!({"customerId": 1, "number": "INV-10"}),
    )
    .await
    .assert_ok();
    let after = resumed.next().await.expect("the next invoice");
    assert_eq!(after.data["row"]["number"], "INV-10");
});

both!(
    an_idle_stream_sends_heartbeats,
    config: |config| config.events.heartbeat_secs = 1,
    |app| {
        let mut stream = Sse::open(app, "runtime", "/changes", &[]).await;
        let waiting = tokio::time::timeout(Duration::from_millis(2_500), stream.next()).await;
        assert!(waiting.is_err(), "no event on an empty log");
        assert!(stream.comments >= 1, "a heartbeat comment arrived");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_streams_end_when_the_runtime_stops() {
    let app = TestApp::spawn_sqlite().await;
    let mut stream = Sse::open(&app, "runtime", "/changes", &[]).await;
    let stopping = tokio::spawn(async move { app.finish().await });
    // Well inside server.shutdown_timeout_secs (30), which a stream left open would run out.
    let ended = tokio::time::timeout(Duration::from_secs(15), stream.next())
        .await
        .expect("the stream ended at once");
    assert!(ended.is_none());
    tokio::time::timeout(Duration::from_secs(15), stopping)
        .await
        .expect("the runtime stopped without waiting for the stream")
        .unwrap();
}

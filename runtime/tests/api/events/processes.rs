//! Several runtime processes over one database behave as one: a change committed through any
//! of them, or straight through SQL, reaches the streams of all of them.

use serde_json::json;

use super::Sse;
use crate::helpers::{TestApp, both};

both!(a_second_runtime_streams_the_first_ones_writes, |app| {
    let second = TestApp::spawn_with(app.db.alias(), runtime::linked_apps()).await;
    let mut stream = Sse::open(&second, "runtime", "/changes", &[]).await;
    app.post(
        "runtime",
        "/emails",
        json!({"address": "first@example.com"}),
    )
    .await
    .assert_ok();
    app.db
        .execute("INSERT INTO emails (address) VALUES ('sql@example.com')")
        .await;
    second
        .post(
            "runtime",
            "/emails",
            json!({"address": "second@example.com"}),
        )
        .await
        .assert_ok();
    let events = stream.take(3).await;
    let addresses: Vec<&str> = events
        .iter()
        .map(|e| e.data["row"]["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        addresses,
        ["first@example.com", "sql@example.com", "second@example.com"]
    );
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids, [1, 2, 3], "one sequence of ids across processes");
    drop(stream);
    second.stop().await;
});

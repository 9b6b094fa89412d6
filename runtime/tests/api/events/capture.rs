//! Every committed write of a served table reaches the log once, whoever writes it; a refused
//! or rolled-back write leaves nothing.

use std::time::Duration;

use serde_json::json;

use super::{all_changes, last_id, summary};
use crate::helpers::{TestApp, both};

/// Waits until `port` shows `count` changes after `after`; answers them.
async fn changes_after(
    app: &TestApp,
    port: &str,
    after: i64,
    count: usize,
) -> Vec<serde_json::Value> {
    for _ in 0..100 {
        let changes = all_changes(app, port, after).await;
        if changes.len() >= count {
            return changes;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    all_changes(app, port, after).await
}

fn entry(table: &str, op: &str, id: i64) -> (String, String, i64) {
    (table.to_string(), op.to_string(), id)
}

both!(every_write_path_is_captured_once_in_commit_order, |app| {
    app.seed().await;
    let start = last_id(app, "runtime").await;
    assert!(start > 0, "the seed's writes are in the log");

    app.post(
        "customers",
        "/customers",
        json!({"name": "Dee", "emailId": 1}),
    )
    .await
    .assert_ok();
    app.post(
        "runtime",
        "/phones",
        json!([{"number": "+1 1"}, {"number": "+1 2"}]),
    )
    .await
    .assert_ok();
    app.patch("customers", "/customers/4", json!({"name": "Dee B"}))
        .await
        .assert_ok();
    app.put("runtime", "/phones/3", json!({"number": "+1 3"}))
        .await
        .assert_ok();
    app.delete("runtime", "/phones/4").await.assert_ok();
    let saved = app
        .graphql(
            "runtime",
            r#"mutation { saveEmail(input: {address: "dee@example.com"}) { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(saved["data"]["saveEmail"]["id"], "4", "{saved}");
    app.post("invoices", "/invoices/1/finalize", json!({}))
        .await
        .assert_ok();
    app.db
        .execute("UPDATE products SET stock = 7 WHERE id = 1")
        .await;

    let changes = changes_after(app, "runtime", start, 9).await;
    assert_eq!(
        summary(&changes),
        vec![
            entry("customers", "insert", 4),
            entry("phones", "insert", 3),
            entry("phones", "insert", 4),
            entry("customers", "update", 4),
            entry("phones", "update", 3),
            entry("phones", "delete", 4),
            entry("emails", "insert", 4),
            entry("invoices", "update", 1),
            entry("products", "update", 1),
        ]
    );
    let ids: Vec<i64> = changes.iter().map(|c| c["id"].as_i64().unwrap()).collect();
    let expected: Vec<i64> = (start + 1..=start + 9).collect();
    assert_eq!(ids, expected, "ids follow each other");

    // The row after the change, with the API's names and values as the REST answers have them.
    let inserted = &changes[0];
    assert_eq!(inserted["row"]["name"], "Dee");
    assert_eq!(inserted["row"]["emailId"], 1);
    assert!(inserted["row"].get("email_id").is_none(), "{inserted}");
    let read = app.get("customers", "/customers/4?fields=createdAt").await;
    assert_eq!(
        inserted["row"]["createdAt"],
        read.assert_ok()["createdAt"],
        "timestamps render as the API renders them"
    );
    assert!(
        inserted["at"].as_str().unwrap().ends_with('Z'),
        "{inserted}"
    );
    assert_eq!(changes[3]["row"]["name"], "Dee B");
    let deleted = &changes[5];
    assert_eq!(deleted["row"], serde_json::Value::Null);
    assert_eq!(deleted["before"]["number"], "+1 2");
    assert_eq!(deleted["key"], json!({"id": 4}));
    assert_eq!(changes[7]["row"]["status"], "issued");
    assert_eq!(changes[8]["row"]["stock"], 7);
});

both!(refused_and_rolled_back_writes_leave_nothing, |app| {
    app.seed().await;
    let start = last_id(app, "runtime").await;

    app.post(
        "customers",
        "/customers",
        json!({"name": "X", "emailId": 999}),
    )
    .await
    .assert_error(422, "FOREIGN_KEY_VIOLATION", &[]);
    app.post("runtime", "/emails", json!({"address": "ada@example.com"}))
        .await
        .assert_error(409, "UNIQUE_VIOLATION", &[]);
    app.post(
        "customers",
        "/customers",
        json!([{"name": "Ok", "emailId": 1}, {"name": "Bad", "emailId": 999}]),
    )
    .await
    .assert_error(422, "FOREIGN_KEY_VIOLATION", &[]);
    app.post("invoices", "/invoices/2/finalize", json!({}))
        .await
        .assert_error(409, "CONFLICT", &["paid"]);
    app.db
        .execute("BEGIN; UPDATE products SET stock = 99 WHERE id = 2; ROLLBACK;")
        .await;
    // Time for the poll that finds other processes' writes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(last_id(app, "runtime").await, start, "nothing was logged");

    let email = app
        .post("runtime", "/emails", json!({"address": "new@example.com"}))
        .await;
    // PostgreSQL's sequences are not transactional: the refused inserts took ids.
    let email = email.assert_ok()["id"].as_i64().unwrap();
    let changes = changes_after(app, "runtime", start, 1).await;
    assert_eq!(summary(&changes), vec![entry("emails", "insert", email)]);
    assert_eq!(
        changes[0]["id"],
        start + 1,
        "no id was taken by what rolled back"
    );
});

both!(
    a_runtime_with_events_off_has_no_feed,
    config: |config| config.events.enabled = false,
    |app| {
        app.get("runtime", "/changes")
            .await
            .assert_error(404, "NOT_FOUND", &["events.enabled"]);
        let schema = app
            .graphql("runtime", "{ __schema { subscriptionType { name } } }", json!({}))
            .await;
        assert_eq!(schema["data"]["__schema"]["subscriptionType"], serde_json::Value::Null);
    }
);

/// A log of the earlier one-row-per-change form (PostgreSQL) is converted in place at start:
/// its changes keep their ids, a change still in the inbox is sequenced after them, and new
/// changes follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earlier_log_is_converted_on_postgres() {
    let Some(db) = crate::helpers::TestDb::postgres().await else {
        return;
    };
    db.execute(
        r#"CREATE TABLE runtime_change_inbox (seq bigserial NOT NULL, tbl text NOT NULL,
             op text NOT NULL, row json NOT NULL);
           CREATE TABLE runtime_changes (id bigint PRIMARY KEY, tbl text NOT NULL,
             op text NOT NULL, row json NOT NULL, at timestamptz NOT NULL);
           INSERT INTO runtime_changes VALUES
             (6, 'customers', 'insert', '{"id": 41, "name": "Ada"}', now()),
             (7, 'customers', 'delete', '{"id": 41, "name": "Ada"}', now());
           INSERT INTO runtime_change_inbox (tbl, op, row)
             VALUES ('customers', 'insert', '{"id": 42, "name": "Grace"}');"#,
    )
    .await;
    let app = TestApp::spawn_with(db, runtime::linked_apps()).await;
    app.seed().await;
    let changes = changes_after(&app, "runtime", 0, 4).await;
    let ids: Vec<i64> = changes.iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(ids[..3], [6, 7, 8], "{changes:?}");
    assert_eq!(
        summary(&changes[..3]),
        [
            entry("customers", "insert", 41),
            entry("customers", "delete", 41),
            entry("customers", "insert", 42)
        ]
    );
    assert_eq!(changes[0]["row"]["name"], "Ada");
    assert_eq!(changes[1]["row"], serde_json::Value::Null);
    assert_eq!(changes[1]["before"]["name"], "Ada");
    let ids: Vec<i64> = changes.iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "gapless after the conversion: {ids:?}"
    );
    app.finish().await;
}

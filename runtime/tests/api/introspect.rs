//! `runtime db introspect` on a database built by hand SQL (no migration of ours): one proposed
//! app per group of tables joined by foreign keys, the table without a key named, `--write`
//! adding the apps; and a table without a key served through its collection routes.

use std::collections::BTreeMap;

use engine::config::AppConfig;
use engine::model::Access;
use serde_json::json;

use crate::app_commands::run;
use crate::helpers::{TestApp, TestDb};

/// Two groups joined by foreign keys (authors <- books, warehouses <- stock) and a log
/// without a primary key.
const HAND_SQL: &str = "
    CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE books (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL REFERENCES authors (id), title TEXT NOT NULL);
    CREATE TABLE warehouses (id INTEGER PRIMARY KEY, city TEXT NOT NULL);
    CREATE TABLE stock (id INTEGER PRIMARY KEY, warehouse_id INTEGER REFERENCES warehouses (id), sku TEXT);
    CREATE TABLE audit_log (at TEXT NOT NULL, message TEXT NOT NULL);
";

const CONFIG: &str = "# adopted\n[server]\nport = 5000\n\n[admin]\nenabled = false\n";

const PROPOSED: &str = "[apps.audit_log]
port = 5001
enabled = true
tables = { audit_log = \"read-write\" }

[apps.authors]
port = 5002
enabled = true
tables = { authors = \"read-write\", books = \"read-write\" }

[apps.warehouses]
port = 5003
enabled = true
tables = { warehouses = \"read-write\", stock = \"read-write\" }
";

/// Builds the hand-made tables (the SQLite file first: the runtime has not created it).
async fn build_by_hand(db: &TestDb) {
    if let Some(path) = db.url.strip_prefix("sqlite://") {
        std::fs::File::create(path).unwrap();
    }
    db.execute(HAND_SQL).await;
}

async fn proposes_and_writes(db: TestDb) {
    build_by_hand(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("runtime.toml");
    std::fs::write(&file, CONFIG).unwrap();
    let out = run(dir.path(), &db, &["db", "introspect"], true);
    assert!(out.ends_with(&format!("\n{PROPOSED}")), "{out}");
    let keyless = out
        .lines()
        .find(|l| l.contains("Without a primary key"))
        .unwrap_or_else(|| panic!("no keyless note: {out}"));
    assert!(keyless.ends_with(": audit_log"), "{keyless}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        CONFIG,
        "printing writes nothing"
    );
    let out = run(dir.path(), &db, &["db", "introspect", "--write"], true);
    assert!(out.contains("added app `authors`"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{CONFIG}\n{PROPOSED}")
    );
    let list = run(dir.path(), &db, &["app", "list"], true);
    let warehouses = list
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .find(|l| l.starts_with("warehouses "));
    assert_eq!(
        warehouses.as_deref(),
        Some("warehouses 5003 true config stock (read-write), warehouses (read-write)"),
        "{list}"
    );
    db.drop_database().await;
}

#[tokio::test]
async fn proposes_and_writes_sqlite() {
    proposes_and_writes(TestDb::sqlite()).await;
}

#[tokio::test]
async fn proposes_and_writes_postgres() {
    if let Some(db) = TestDb::postgres().await {
        proposes_and_writes(db).await;
    }
}

#[tokio::test]
async fn reads_another_schema_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    db.execute(&format!(
        "CREATE SCHEMA legacy; SET search_path TO legacy; {HAND_SQL}"
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("runtime.toml"), CONFIG).unwrap();
    let out = run(
        dir.path(),
        &db,
        &["db", "introspect", "--schema", "legacy"],
        true,
    );
    assert!(out.ends_with(&format!("\n{PROPOSED}")), "{out}");
    assert!(out.contains("search_path%3Dlegacy"), "{out}");
    let out = run(dir.path(), &db, &["db", "introspect"], false);
    assert!(out.contains("no table"), "public is empty: {out}");
    let sqlite = TestDb::sqlite();
    let out = run(
        dir.path(),
        &sqlite,
        &["db", "introspect", "--schema", "legacy"],
        false,
    );
    assert!(out.contains("PostgreSQL"), "{out}");
    // The runtime serves the schema when the URL sets the search path, as the note says.
    let mut legacy = db.alias();
    legacy.url = format!("{}?options=-c%20search_path%3Dlegacy", db.url);
    let app = TestApp::spawn_configured(legacy, runtime::linked_apps(), |config| {
        adopt(config, "authors", &["authors", "books"]);
    })
    .await;
    let created = app
        .post("authors", "/authors", json!({"id": 1, "name": "Ann"}))
        .await;
    assert_eq!(created.status.as_u16(), 201, "{:?}", created.body);
    app.finish().await;
    db.drop_database().await;
}

/// A table-only app of read-write `tables`, on port 0.
fn adopt(config: &mut engine::config::Config, name: &str, tables: &[&str]) {
    config.apps.insert(
        name.into(),
        AppConfig {
            port: Some(0),
            enabled: Some(true),
            tables: Some(
                tables
                    .iter()
                    .map(|t| ((*t).to_string(), Access::ReadWrite))
                    .collect::<BTreeMap<_, _>>(),
            ),
            rules: None,
            ..AppConfig::default()
        },
    );
}

async fn a_table_without_a_key_has_collection_routes_only(db: TestDb) {
    build_by_hand(&db).await;
    let app = TestApp::spawn_configured(db, runtime::linked_apps(), |config| {
        adopt(config, "audit", &["audit_log"]);
    })
    .await;
    let one = json!({"at": "2024-01-01", "message": "first"});
    let created = app.post("audit", "/auditLogs", one).await;
    assert_eq!(created.status.as_u16(), 201, "{:?}", created.body);
    assert_eq!(created.header("location"), None);
    let two = json!([{"at": "2024-01-02", "message": "second"}]);
    assert_eq!(
        app.post("audit", "/auditLogs", two).await.status.as_u16(),
        201
    );
    let rows = app.get("audit", "/auditLogs?orderby.at=asc").await;
    let messages: Vec<&str> = rows
        .assert_ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["first", "second"]);
    let updated = app
        .put(
            "audit",
            "/auditLogs?where.message.eq=first",
            json!({"message": "changed"}),
        )
        .await;
    assert_eq!(updated.assert_ok()[0]["message"], "changed");
    let deleted = app
        .delete("audit", "/auditLogs?where.message.eq=second")
        .await;
    assert_eq!(deleted.assert_ok().as_array().unwrap().len(), 1);
    assert_eq!(app.get("audit", "/auditLogs/1").await.status.as_u16(), 404);
    let answer = app
        .graphql(
            "audit",
            "{ auditLogs { message } countAuditLogs { total } }",
            json!({}),
        )
        .await;
    assert_eq!(answer["data"]["countAuditLogs"]["total"], 1, "{answer}");
    assert_eq!(
        answer["data"]["auditLogs"][0]["message"], "changed",
        "{answer}"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_without_a_key_has_collection_routes_only_sqlite() {
    a_table_without_a_key_has_collection_routes_only(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_without_a_key_has_collection_routes_only_postgres() {
    if let Some(db) = TestDb::postgres().await {
        a_table_without_a_key_has_collection_routes_only(db).await;
    }
}

//! A table wider than one PostgreSQL function call can render (100 arguments: 50 columns): its
//! rows are built in parts and joined, and still answer every column.

use engine::App;
use engine::model::Access;
use serde_json::{Map, Value, json};

use crate::helpers::{TestApp, TestDb, copy_of_migrations};

const COLUMNS: usize = 60;

async fn wide_rows_answer_every_column(db: TestDb) {
    let migrations = copy_of_migrations();
    let columns: Vec<String> = (1..=COLUMNS).map(|i| format!("c{i} INTEGER")).collect();
    std::fs::write(
        migrations.path().join("V6__wide.sql"),
        format!(
            "CREATE TABLE wide_rows (id INTEGER PRIMARY KEY, {});\n",
            columns.join(", ")
        ),
    )
    .unwrap();
    let dir = migrations.path().to_path_buf();
    let apps = vec![App::new("wide", 0).table("wide_rows", Access::ReadWrite)];
    let app = TestApp::spawn_configured(db, apps, move |config| config.migrations.dir = dir).await;

    let mut row = Map::new();
    row.insert("id".into(), json!(7));
    for i in 1..=COLUMNS {
        row.insert(format!("c{i}"), json!(i * 10));
    }
    let row = Value::Object(row);
    let created = app.post("wide", "/wideRows", row.clone()).await;
    assert_eq!(created.status.as_u16(), 201, "{:?}", created.body);
    assert_eq!(created.body, row);
    assert_eq!(app.get("wide", "/wideRows/7").await.body, row);
    assert_eq!(app.get("wide", "/wideRows").await.body, json!([row]));
    let fields: Vec<String> = (1..=COLUMNS).map(|i| format!("c{i}")).collect();
    let answer = app
        .graphql(
            "wide",
            &format!("{{ getWideRowById(id: 7) {{ id {} }} }}", fields.join(" ")),
            json!({}),
        )
        .await;
    assert_eq!(answer["data"]["getWideRowById"]["c60"], json!(600));
    assert_eq!(answer["data"]["getWideRowById"]["c1"], json!(10));
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    wide_rows_answer_every_column(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    if let Some(db) = TestDb::postgres().await {
        wide_rows_answer_every_column(db).await;
    }
}

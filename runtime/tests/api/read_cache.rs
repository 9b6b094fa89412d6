//! Expensive reads (scans) may be answered from the read cache; every answer still reflects every
//! write committed before the request, whether it came through the API, a transaction of a
//! custom route, or another process writing the database.

use serde_json::{Value, json};

use crate::helpers::{TestApp, both};

/// Enough customers that a filter on the unindexed name scans many thousand rows: slow enough
/// to be kept on SQLite and PostgreSQL (which must find it slow a few times in a row).
async fn many_customers(app: &TestApp) {
    app.seed().await;
    let rows: Vec<Value> = (0..4_000)
        .map(|i| json!({ "name": format!("Bulk {i}"), "emailId": 1 }))
        .collect();
    let reply = app.post("runtime", "/customers", Value::Array(rows)).await;
    assert_eq!(reply.status.as_u16(), 201, "{:?}", reply.body);
    outside(
        app,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) \
         INSERT INTO customers (name, email_id) SELECT 'Filler ' || i, 1 FROM n",
        "INSERT INTO customers (name, email_id) SELECT 'Filler ' || i, 1 \
         FROM generate_series(1, 50000) i",
    )
    .await;
}

const SCAN: &str = "/customers?where.name.like=Bulk 12%25&orderby.name=asc&limit=3&totalCount=true";

async fn scan_names(app: &TestApp) -> (Vec<String>, String) {
    let reply = app.get("runtime", SCAN).await;
    let body = reply.assert_ok();
    let names = body
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["name"].as_str().expect("a name").to_owned())
        .collect();
    (
        names,
        reply.header("x-total-count").unwrap_or("").to_owned(),
    )
}

/// Scans, repeated, then after each kind of write through the API: every answer is current.
async fn scans_around_writes(app: &TestApp) {
    many_customers(app).await;
    for _ in 0..5 {
        assert_eq!(
            scan_names(app).await,
            (
                vec!["Bulk 12".into(), "Bulk 120".into(), "Bulk 1200".into()],
                "111".into()
            )
        );
    }
    // "Bulk 12" is customer 16 (after the three seeded ones and Bulk 0 to Bulk 11).
    let reply = app
        .patch("runtime", "/customers/16", json!({ "name": "Renamed" }))
        .await;
    reply.assert_ok();
    assert_eq!(
        scan_names(app).await,
        (
            vec!["Bulk 120".into(), "Bulk 1200".into(), "Bulk 1201".into()],
            "110".into()
        )
    );
    let reply = app
        .post(
            "runtime",
            "/customers",
            json!({ "name": "Bulk 12", "emailId": 2 }),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 201, "{:?}", reply.body);
    assert_eq!(scan_names(app).await.1, "111");
    let reply = app
        .delete("runtime", "/customers?where.name.like=Bulk 12%25")
        .await;
    reply.assert_ok();
    assert_eq!(scan_names(app).await, (vec![], "0".into()));
}

both!(repeated_scans_see_every_write_through_the_api, |app| {
    scans_around_writes(app).await;
});

both!(
    with_the_read_cache_off_scans_see_every_write,
    config: |config| config.database.read_cache_bytes = 0,
    |app| {
        scans_around_writes(app).await;
    }
);

/// Runs SQL on a connection of its own, as another process (the `sqlite3` shell, `psql`) would.
async fn outside(app: &TestApp, sqlite: &'static str, postgres: &'static str) {
    if app.db.url.starts_with("sqlite:") {
        execute::<sqlx::SqliteConnection>(&app.db.url, sqlite).await;
    } else {
        execute::<sqlx::PgConnection>(&app.db.url, postgres).await;
    }
}

async fn execute<C>(url: &str, sql: &'static str)
where
    C: sqlx::Connection,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
{
    let mut other = C::connect(url).await.expect("connect to the database");
    sqlx::raw_sql(sql)
        .execute(&mut other)
        .await
        .expect("SQL from outside");
}

both!(repeated_scans_see_writes_of_another_process, |app| {
    many_customers(app).await;
    for _ in 0..5 {
        assert_eq!(scan_names(app).await.1, "111");
    }
    let update = "UPDATE customers SET name = 'Elsewhere' WHERE name = 'Bulk 120'";
    outside(app, update, update).await;
    assert_eq!(
        scan_names(app).await,
        (
            vec!["Bulk 12".into(), "Bulk 1200".into(), "Bulk 1201".into()],
            "110".into()
        )
    );
});

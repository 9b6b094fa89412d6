//! Expensive reads (scans) may be answered from SQLite's read cache; every answer still reflects
//! every write committed before the request, whether it came through the API, a transaction of
//! a custom route, or another process writing the database file.

use serde_json::{Value, json};

use crate::helpers::{TestApp, both};

/// Enough customers that a filter on the unindexed name scans thousands of rows.
async fn many_customers(app: &TestApp) {
    app.seed().await;
    let rows: Vec<Value> = (0..4_000)
        .map(|i| json!({ "name": format!("Bulk {i}"), "emailId": 1 }))
        .collect();
    let reply = app.post("runtime", "/customers", Value::Array(rows)).await;
    assert_eq!(reply.status.as_u16(), 201, "{:?}", reply.body);
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

both!(repeated_scans_see_every_write_through_the_api, |app| {
    many_customers(app).await;
    for _ in 0..3 {
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
});

#[tokio::test]
async fn repeated_scans_see_writes_of_another_process() {
    let app = TestApp::spawn_sqlite().await;
    many_customers(&app).await;
    for _ in 0..3 {
        assert_eq!(scan_names(&app).await.1, "111");
    }
    // Another connection, as another process (the sqlite3 shell, say) would open the file.
    let mut other = <sqlx::SqliteConnection as sqlx::Connection>::connect(&app.db.url)
        .await
        .expect("open the database file");
    sqlx::raw_sql("UPDATE customers SET name = 'Elsewhere' WHERE name = 'Bulk 120'")
        .execute(&mut other)
        .await
        .expect("update from outside");
    assert_eq!(
        scan_names(&app).await,
        (
            vec!["Bulk 12".into(), "Bulk 1200".into(), "Bulk 1201".into()],
            "110".into()
        )
    );
    app.finish().await;
}

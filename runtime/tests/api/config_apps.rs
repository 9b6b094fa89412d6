//! Table-only apps declared in the configuration alone: served on their own port, in the
//! composed API and alone with `start --app`, with their rules, and refused when a listed table
//! is missing.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use engine::config::{AppConfig, Config};
use engine::model::Access;
use engine::model::rules;
use engine::server::{Runtime, Serve};
use serde_json::json;

use crate::helpers::{TestApp, TestDb, both, migrations_dir, test_config};

/// `[apps.catalogue]`: products read-only, customers read-write, on port 0.
fn catalogue(config: &mut Config, rule_text: Option<&str>) {
    config.apps.insert(
        "catalogue".into(),
        AppConfig {
            port: Some(0),
            enabled: Some(true),
            tables: Some(BTreeMap::from([
                ("products".to_string(), Access::Read),
                ("customers".to_string(), Access::ReadWrite),
            ])),
            rules: rule_text.map(|text| rules::parse(text).expect("rules read")),
            ..AppConfig::default()
        },
    );
}

both!(served_on_its_port_with_only_its_tables, config: |c| catalogue(c, None), |app| {
    app.seed().await;
    let products = app.get("catalogue", "/products").await;
    assert_eq!(products.assert_ok().as_array().unwrap().len(), 3);
    app.post("catalogue", "/products", json!({"sku": "Z-9", "name": "Zed", "priceCents": 1}))
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED", &["read-only"]);
    let created = app
        .post("catalogue", "/customers", json!({"name": "Dee", "emailId": 1}))
        .await;
    assert_eq!(created.status.as_u16(), 201, "{:?}", created.body);
    assert_eq!(app.get("catalogue", "/customers/4").await.assert_ok()["name"], "Dee");
    for hidden in ["/invoices", "/lineItems", "/emails"] {
        assert_eq!(app.get("catalogue", hidden).await.status.as_u16(), 404, "{hidden}");
    }
    let document = app.get("catalogue", "/documentation/json").await;
    let paths: Vec<&String> = document.assert_ok()["paths"].as_object().unwrap().keys().collect();
    assert!(paths.iter().any(|p| *p == "/products"), "{paths:?}");
    assert!(paths.iter().any(|p| *p == "/customers/{id}"), "{paths:?}");
    assert!(!paths.iter().any(|p| p.starts_with("/invoices")), "{paths:?}");
    let answer = app
        .graphql("catalogue", "{ products(limit: 1) { sku } countCustomers { total } }", json!({}))
        .await;
    assert_eq!(answer["data"]["countCustomers"]["total"], 4, "{answer}");
    let hidden = app
        .post("catalogue", "/graphql", json!({"query": "{ invoices { id } }"}))
        .await;
    assert!(hidden.body["errors"][0]["message"].as_str().unwrap().contains("invoices"), "{:?}", hidden.body);
    // The composed port serves its tables too, and its port shows their changes.
    assert_eq!(app.get("runtime", "/customers/4").await.assert_ok()["name"], "Dee");
    let changes = crate::events::all_changes(app, "catalogue", 0).await;
    assert!(
        changes.iter().any(|c| c["table"] == "customers" && c["op"] == "insert"),
        "{changes:?}"
    );
    assert!(changes.iter().all(|c| c["table"] != "invoices"), "{changes:?}");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn its_rules_apply_with_auth_on() {
    let rules = "[products.anonymous]\nread = {}\n[customers.clerk]\nread = {}\n";
    let app = TestApp::spawn_configured(TestDb::sqlite(), runtime::linked_apps(), |config| {
        crate::auth::secured(config);
        catalogue(config, Some(rules));
    })
    .await;
    app.seed().await;
    let anonymous = app
        .request_as(None, reqwest::Method::GET, "catalogue", "/products", None)
        .await;
    assert_eq!(anonymous.assert_ok().as_array().unwrap().len(), 3);
    let refused = app
        .request_as(None, reqwest::Method::GET, "catalogue", "/customers", None)
        .await;
    assert!(
        matches!(refused.status.as_u16(), 401 | 403),
        "{} {:?}",
        refused.status,
        refused.body
    );
    let clerk = crate::auth::token(json!({"role": "clerk"}));
    let customers = app
        .request_as(
            Some(&clerk),
            reqwest::Method::GET,
            "catalogue",
            "/customers",
            None,
        )
        .await;
    assert_eq!(customers.assert_ok().as_array().unwrap().len(), 3);
    let write = app
        .request_as(
            Some(&clerk),
            reqwest::Method::POST,
            "catalogue",
            "/customers",
            Some(&json!({"name": "Eve", "emailId": 1})),
        )
        .await;
    assert_eq!(write.status.as_u16(), 403, "{:?}", write.body);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_names_its_key() {
    let db = TestDb::sqlite();
    let mut config = test_config(&db.url, &[]);
    config.apps.insert(
        "notes".into(),
        AppConfig {
            port: Some(0),
            tables: Some(BTreeMap::from([("notes".to_string(), Access::ReadWrite)])),
            ..AppConfig::default()
        },
    );
    let apps = engine::apps::with_configured(Vec::new(), &config).unwrap();
    let config = config.check(&[("notes", 0)]).unwrap();
    let error = Runtime::build(&config, &apps, Serve::All)
        .await
        .err()
        .expect("a missing table stops start-up");
    let error = format!("{error:#}");
    assert!(error.contains("apps.notes.tables.notes"), "{error}");
}

#[tokio::test]
async fn start_app_serves_a_table_only_app_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite();
    let port = free_port();
    std::fs::write(
        dir.path().join("runtime.toml"),
        format!(
            "[admin]\nenabled = false\n\n[apps.catalogue]\nport = {port}\ntables = {{ products = \"read\" }}\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_runtime"))
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .env("RUNTIME_MIGRATIONS__DIR", migrations_dir())
        .env("RUNTIME_MIGRATIONS__APPLY_ON_START", "true")
        .env("RUNTIME_DATABASE__URL", &db.url)
        .args(["start", "--app", "catalogue"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let status = |path: &'static str| {
        let url = format!("{base}{path}");
        async move {
            reqwest::get(url)
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    let mut ready = false;
    for _ in 0..100 {
        if status("/products").await == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let customers = status("/customers").await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready, "the catalogue app did not serve /products");
    assert_eq!(customers, 404);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

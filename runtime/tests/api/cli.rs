//! The `runtime` binary as a user runs it: migrate commands, `start --app`, configuration
//! errors, and graceful shutdown on SIGTERM.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::helpers::{TestDb, migrations_dir};

fn runtime(dir: &Path, db: &TestDb) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runtime"));
    command
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("RUNTIME_MIGRATIONS__DIR", migrations_dir())
        .env("RUNTIME_DATABASE__URL", &db.url);
    command
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn migrate_apply_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite();
    let status = runtime(dir.path(), &db)
        .args(["migrate", "status"])
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", text(&status));
    assert_eq!(
        text(&status).matches("pending").count(),
        5,
        "{}",
        text(&status)
    );
    let apply = runtime(dir.path(), &db)
        .args(["migrate", "apply", "--to", "3"])
        .output()
        .unwrap();
    assert!(apply.status.success(), "{}", text(&apply));
    assert!(text(&apply).contains("applied V3__products"));
    let status = runtime(dir.path(), &db)
        .args(["migrate", "status"])
        .output()
        .unwrap();
    let out = text(&status);
    assert_eq!(out.matches("pending").count(), 2, "{out}");
    assert!(
        out.contains("customers") && out.contains("applied 20"),
        "{out}"
    );
}

#[test]
fn configuration_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite();
    let unknown_app = runtime(dir.path(), &db)
        .env("RUNTIME_APPS__BILLING__PORT", "1")
        .args(["start"])
        .output()
        .unwrap();
    assert!(!unknown_app.status.success());
    assert!(
        text(&unknown_app).contains("apps.billing"),
        "{}",
        text(&unknown_app)
    );
    let typo = runtime(dir.path(), &db)
        .env("RUNTIME_SERVER__PROT", "1")
        .args(["start"])
        .output()
        .unwrap();
    assert!(!typo.status.success());
    assert!(text(&typo).contains("prot"), "{}", text(&typo));
    let same_port = runtime(dir.path(), &db)
        .env("RUNTIME_APPS__SHARED__PORT", "4500")
        .env("RUNTIME_APPS__PRODUCTS__PORT", "4500")
        .args(["start"])
        .output()
        .unwrap();
    assert!(text(&same_port).contains("apps.products.port") && text(&same_port).contains("4500"));
    let secret = runtime(dir.path(), &db)
        .env(
            "RUNTIME_DATABASE__URL",
            "postgres://app:hunter2@127.0.0.1:1/none",
        )
        .args(["migrate", "status"])
        .output()
        .unwrap();
    assert!(!secret.status.success());
    assert!(!text(&secret).contains("hunter2"), "{}", text(&secret));
    assert!(text(&secret).contains("app:***@"), "{}", text(&secret));
}

#[test]
fn a_busy_port_names_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let output = runtime(dir.path(), &db)
        .env("RUNTIME_MIGRATIONS__APPLY_ON_START", "true")
        .env("RUNTIME_APPS__PRODUCTS__PORT", &port)
        .args(["start", "--app", "products"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let out = text(&output);
    assert!(
        out.contains("app `products`") && out.contains(&port),
        "{out}"
    );
}

#[tokio::test]
async fn start_app_serves_one_app_alone_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite();
    let port = free_port();
    let composed = free_port();
    let mut child = runtime(dir.path(), &db)
        .env("RUNTIME_MIGRATIONS__APPLY_ON_START", "true")
        .env("RUNTIME_APPS__CUSTOMERS__PORT", port.to_string())
        .args([
            "start",
            "--app",
            "customers",
            "--port",
            &composed.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if client.get(format!("{base}/customers")).send().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "customers app did not start");
    assert_eq!(
        client
            .get(format!("{base}/customers"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        client
            .get(format!("{base}/emails"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        client
            .get(format!("{base}/products"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    assert!(
        client
            .get(format!("http://127.0.0.1:{composed}/customers"))
            .send()
            .await
            .is_err(),
        "no composed port"
    );
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

#[test]
fn openapi_prints_a_document_without_serving() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite();
    let openapi = |args: &[&str]| {
        runtime(dir.path(), &db)
            .env("RUNTIME_MIGRATIONS__APPLY_ON_START", "true")
            .arg("openapi")
            .args(args)
            .output()
            .unwrap()
    };
    let products = openapi(&["--app", "products"]);
    assert!(products.status.success(), "{}", text(&products));
    // Exactly the checked-in document; logs stay on stderr.
    let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../apps/products/openapi.json");
    assert_eq!(
        String::from_utf8_lossy(&products.stdout),
        std::fs::read_to_string(checked_in).unwrap()
    );
    let composed = openapi(&[]);
    assert!(composed.status.success(), "{}", text(&composed));
    let document: serde_json::Value = serde_json::from_slice(&composed.stdout).unwrap();
    assert_eq!(document["info"]["title"], "runtime API");
    for path in ["/invoices", "/emails/lookup", "/products/low-stock"] {
        assert!(document["paths"][path].is_object(), "{path}");
    }
    let unknown = openapi(&["--app", "nope"]);
    assert!(!unknown.status.success());
    assert!(text(&unknown).contains("no such app"), "{}", text(&unknown));
}

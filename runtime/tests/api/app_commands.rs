//! `runtime app new|list|remove` through the binary, as a user runs them: a table-only app
//! added to runtime.toml (comments kept, the next free port, its tables checked in the
//! database) is served by `start` with no rebuild; `--crate` scaffolds and wires a crate.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::helpers::{TestDb, migrations_dir};

/// The shipped-like configuration the tests start from: comments, the composed port 5000, the
/// admin port 5003 and a crate app moved to 5001.
const CONFIG: &str = "# my runtime\n[server]\nport = 5000 # the composed API\n\n[admin]\nport = 5003\n\n# crate apps\n[apps.products]\nport = 5001\n";

pub fn runtime(dir: &Path, db: &TestDb) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runtime"));
    command
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("RUNTIME_MIGRATIONS__DIR", migrations_dir())
        .env("RUNTIME_DATABASE__URL", &db.url);
    command
}

pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs the binary in `dir` and answers its output, asserting it succeeded (or failed).
pub fn run(dir: &Path, db: &TestDb, args: &[&str], succeeds: bool) -> String {
    let output = runtime(dir, db).args(args).output().unwrap();
    assert_eq!(
        output.status.success(),
        succeeds,
        "runtime {args:?}: {}",
        text(&output)
    );
    text(&output)
}

/// A temp dir holding [`CONFIG`] as runtime.toml, over a database with the repository's
/// migrations and a hand-made `notes` table.
async fn workspace(db: &TestDb) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("runtime.toml");
    std::fs::write(&file, CONFIG).unwrap();
    run(dir.path(), db, &["migrate", "apply"], true);
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        .await;
    (dir, file)
}

async fn new_app_is_served_without_a_rebuild(db: TestDb) {
    let (dir, file) = workspace(&db).await;
    let port = free_port();
    let out = run(
        dir.path(),
        &db,
        &[
            "app",
            "new",
            "notes",
            "--table",
            "notes",
            "--table",
            "products:read",
            "--port",
            &port.to_string(),
        ],
        true,
    );
    assert!(out.contains("added app `notes`"), "{out}");
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.starts_with(CONFIG), "{written}");
    assert!(
        written.ends_with(&format!(
            "\n[apps.notes]\nport = {port}\nenabled = true\ntables = {{ notes = \"read-write\", products = \"read\" }}\n"
        )),
        "{written}"
    );
    let mut child = runtime(dir.path(), &db)
        .env("RUNTIME_ADMIN__ENABLED", "false")
        .args(["start", "--app", "notes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if client.get(format!("{base}/notes")).send().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = |method: reqwest::Method, path: &str, body: Option<serde_json::Value>| {
        let mut request = client.request(method, format!("{base}{path}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move { request.send().await.map_or(0, |r| r.status().as_u16()) }
    };
    let created = status(
        reqwest::Method::POST,
        "/notes",
        Some(serde_json::json!({"id": 1, "body": "hello"})),
    )
    .await;
    let read = status(reqwest::Method::GET, "/notes/1", None).await;
    let products = status(reqwest::Method::GET, "/products", None).await;
    let write_products = status(
        reqwest::Method::POST,
        "/products",
        Some(serde_json::json!({"sku": "Z", "name": "Z", "priceCents": 1})),
    )
    .await;
    let customers = status(reqwest::Method::GET, "/customers", None).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready, "the new app did not start");
    assert_eq!(
        (created, read, products, write_products, customers),
        (201, 200, 200, 405, 404)
    );
    db.drop_database().await;
}

#[tokio::test]
async fn new_app_is_served_without_a_rebuild_sqlite() {
    new_app_is_served_without_a_rebuild(TestDb::sqlite()).await;
}

#[tokio::test]
async fn new_app_is_served_without_a_rebuild_postgres() {
    if let Some(db) = TestDb::postgres().await {
        new_app_is_served_without_a_rebuild(db).await;
    }
}

#[tokio::test]
async fn new_picks_the_next_port_and_list_and_remove_follow() {
    let db = TestDb::sqlite();
    let (dir, file) = workspace(&db).await;
    run(
        dir.path(),
        &db,
        &["app", "new", "notes", "--table", "notes"],
        true,
    );
    run(
        dir.path(),
        &db,
        &["app", "new", "archive", "--table", "notes:read"],
        true,
    );
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.contains("[apps.notes]\nport = 5002\n")
            && written.contains("[apps.archive]\nport = 5004\n"),
        "after 5000 and 5001, passing over the admin port 5003: {written}"
    );
    let list = run(dir.path(), &db, &["app", "list"], true);
    let line = |name: &str| {
        list.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in {list}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        line("products"),
        "products 5001 true crate products (read-write)"
    );
    assert!(
        line("customers").starts_with("customers 3044 true crate customers (read-write), "),
        "{list}"
    );
    assert_eq!(line("notes"), "notes 5002 true config notes (read-write)");
    assert_eq!(line("archive"), "archive 5004 true config notes (read)");
    let out = run(dir.path(), &db, &["app", "remove", "archive"], true);
    assert!(out.contains("removed app `archive`"), "{out}");
    run(dir.path(), &db, &["app", "remove", "notes"], true);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), CONFIG);
    let out = run(dir.path(), &db, &["app", "remove", "products"], false);
    for needle in [
        "crate app",
        "runtime/src/lib.rs",
        "runtime/Cargo.toml",
        "apps/products",
    ] {
        assert!(out.contains(needle), "{out}");
    }
    let out = run(dir.path(), &db, &["app", "remove", "ghost"], false);
    assert!(out.contains("no app named `ghost`"), "{out}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), CONFIG);
}

#[tokio::test]
async fn bad_input_writes_nothing() {
    let db = TestDb::sqlite();
    let (dir, file) = workspace(&db).await;
    let out = run(
        dir.path(),
        &db,
        &[
            "app",
            "new",
            "notes",
            "--table",
            "notes",
            "--table",
            "nope",
            "--table",
            "ghost:read",
        ],
        false,
    );
    assert!(out.contains("`nope`") && out.contains("`ghost`"), "{out}");
    assert!(!out.contains("`notes`"), "{out}");
    for (args, needle) in [
        (
            &["app", "new", "products", "--table", "notes"][..],
            "exists already",
        ),
        (
            &["app", "new", "notes", "--table", "notes:write"][..],
            "write",
        ),
        (
            &["app", "new", "notes", "--table", "notes", "--port", "5000"][..],
            "apps.notes.port",
        ),
        (
            &["app", "new", "Notes!", "--table", "notes"][..],
            "lowercase",
        ),
        (&["app", "new", "notes"][..], "--table"),
    ] {
        let out = run(dir.path(), &db, args, false);
        assert!(out.contains(needle), "{args:?}: {out}");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), CONFIG);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["runtime.toml"], "no temporary file left");
}

#[tokio::test]
async fn new_creates_a_missing_config_file() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &db, &["migrate", "apply"], true);
    run(
        dir.path(),
        &db,
        &[
            "--config",
            "conf/new.toml",
            "app",
            "new",
            "catalogue",
            "--table",
            "products:read",
        ],
        false,
    );
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    run(
        dir.path(),
        &db,
        &[
            "--config",
            "conf/new.toml",
            "app",
            "new",
            "catalogue",
            "--table",
            "products:read",
        ],
        true,
    );
    let written = std::fs::read_to_string(dir.path().join("conf/new.toml")).unwrap();
    assert_eq!(
        written,
        "[apps.catalogue]\nport = 3047\nenabled = true\ntables = { products = \"read\" }\n",
        "after the linked apps' default ports 3043-3046 (the admin port 9090 does not count)"
    );
}

/// The workspace files `--crate` edits, copied from the repository into a temp dir.
fn copy_of_workspace() -> tempfile::TempDir {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "Cargo.toml",
        "runtime/Cargo.toml",
        "runtime/src/lib.rs",
        "runtime.toml",
    ] {
        let target = dir.path().join(file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(root.join(file), target).unwrap();
    }
    dir
}

#[test]
fn new_crate_scaffolds_and_wires_the_crate() {
    let db = TestDb::sqlite();
    let dir = copy_of_workspace();
    let read = |file: &str| std::fs::read_to_string(dir.path().join(file)).unwrap();
    let before: Vec<String> = [
        "Cargo.toml",
        "runtime/Cargo.toml",
        "runtime/src/lib.rs",
        "runtime.toml",
    ]
    .iter()
    .map(|f| read(f))
    .collect();
    let out = run(
        dir.path(),
        &db,
        &[
            "app",
            "new",
            "demo",
            "--crate",
            "--table",
            "products",
            "--table",
            "customers:read",
        ],
        true,
    );
    assert!(out.contains("apps/demo"), "{out}");
    let added = [
        ("Cargo.toml", "app-demo = { path = \"apps/demo\" }\n"),
        ("runtime/Cargo.toml", "app-demo.workspace = true\n"),
        ("runtime/src/lib.rs", "        app_demo::app(),\n"),
        (
            "runtime.toml",
            "\n[apps.demo]\nport = 3047\nenabled = true\n",
        ),
    ];
    for ((file, line), before) in added.iter().zip(&before) {
        let after = read(file);
        assert_eq!(
            after.replacen(line, "", 1),
            *before,
            "{file}: only {line:?} is added"
        );
    }
    assert!(read("Cargo.toml").contains("app-invoices = { path = \"apps/invoices\" }\napp-demo"));
    assert!(read("runtime/Cargo.toml").contains("app-invoices.workspace = true\napp-demo"));
    assert!(
        read("runtime/src/lib.rs")
            .contains("app_invoices::app(),\n        app_demo::app(),\n    ]")
    );

    let manifest: toml::Table = read("apps/demo/Cargo.toml").parse().unwrap();
    assert_eq!(manifest["package"]["name"].as_str(), Some("app-demo"));
    let rules = engine::model::rules::parse(&read("apps/demo/rules.toml")).unwrap();
    assert!(rules["products"]["staff"].insert.is_some());
    assert!(
        rules["customers"]["staff"].read.is_some() && rules["customers"]["staff"].insert.is_none()
    );
    let library = read("apps/demo/src/lib.rs");
    for needle in [
        "App::new(NAME, 3047)",
        ".table(\"products\", Access::ReadWrite)",
        ".table(\"customers\", Access::Read)",
        "\"/demo/about\"",
        "#[actix_web::test]",
    ] {
        assert!(library.contains(needle), "{needle}: {library}");
    }
    // rustfmt parses the generated source and finds it formatted as `cargo fmt` would.
    let rustfmt = Command::new("rustfmt")
        .args(["--edition", "2024", "--check"])
        .arg(dir.path().join("apps/demo/src/lib.rs"))
        .output()
        .expect("rustfmt runs");
    assert!(rustfmt.status.success(), "{}", text(&rustfmt));

    let again = run(dir.path(), &db, &["app", "new", "demo", "--crate"], false);
    assert!(again.contains("demo"), "{again}");
}

#[test]
fn new_crate_runs_from_the_workspace_root_only() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &db, &["app", "new", "demo", "--crate"], false);
    assert!(out.contains("workspace root"), "{out}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing written: {left:?}");
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

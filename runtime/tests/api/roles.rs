//! `runtime db roles` and `start --app NAME` as the app's own role: the printed SQL hides the
//! password; applied, each role reads and writes exactly its allowlist and is refused the rest;
//! a standalone app serves as its role and its writes reach `/changes`; re-applying after an
//! allowlist change revokes what was dropped; `--revoke` drops the roles; SQLite says roles
//! are PostgreSQL's. Roles are cluster-wide, so every test names them after its own database
//! (`database.role_prefix`) and drops them at the end.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use engine::App;
use engine::config::Secret;
use engine::db::Database;
use engine::model::Access;
use engine::roles::{self, Intent};
use serde_json::{Value, json};
use sqlx::Connection as _;

use crate::helpers::{TestApp, TestDb, migrations_dir, test_config};

/// The `runtime` binary over `db`, its roles named with `prefix`.
fn runtime(dir: &Path, db: &TestDb, prefix: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runtime"));
    command
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("RUNTIME_MIGRATIONS__DIR", migrations_dir())
        .env("RUNTIME_DATABASE__URL", &db.url)
        .env("RUNTIME_DATABASE__ROLE_PREFIX", prefix);
    command
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn run_ok(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A PostgreSQL database with the migrations applied and the change log in place (the owner's
/// runtime started once), and a role prefix of its own; `None` without PostgreSQL.
async fn owned_database() -> Option<(TestDb, String)> {
    let db = TestDb::postgres().await?;
    let app = TestApp::spawn_with(db, runtime::linked_apps()).await;
    app.seed().await;
    let db = app.stop().await;
    let name = db.url.rsplit('/').next().unwrap().to_string();
    Some((db, format!("{name}_")))
}

/// `db.url` as the role `role` (trust authentication, or the password).
fn url_as(db: &TestDb, role: &str, password: Option<&str>) -> String {
    let (_, rest) = db.url.split_once("://").unwrap();
    let (_, host) = rest.split_once('@').unwrap();
    match password {
        Some(password) => format!("postgres://{role}:{password}@{host}"),
        None => format!("postgres://{role}@{host}"),
    }
}

async fn execute(url: &str, sql: &str) -> Result<(), String> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    let result = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .map(drop)
        .map_err(|e| e.to_string());
    conn.close().await.unwrap();
    result
}

fn assert_denied(result: Result<(), String>, what: &str) {
    let error = result.expect_err(what);
    assert!(error.contains("permission denied"), "{what}: {error}");
}

/// `relation privilege` of everything `role` holds in the schema, sorted.
async fn held(db: &TestDb, role: &str) -> Vec<String> {
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, a.privilege_type::text FROM pg_class c, aclexplode(c.relacl) a \
         WHERE c.relnamespace = current_schema()::regnamespace \
           AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1) ORDER BY 1, 2",
    )
    .bind(role)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    rows.into_iter().map(|(r, p)| format!("{r} {p}")).collect()
}

/// The roles named with `prefix` that exist.
async fn roles_named(db: &TestDb, prefix: &str) -> Vec<String> {
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let roles = sqlx::query_scalar(
        "SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1",
    )
    .bind(prefix)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    roles
}

/// Drops the database, then whatever roles of `prefix` a test left.
async fn finish(db: TestDb, prefix: &str) {
    let left = roles_named(&db, prefix).await;
    db.drop_database().await;
    let admin = std::env::var("TEST_POSTGRES_URL").unwrap();
    for role in left {
        execute(&admin, &format!("DROP ROLE IF EXISTS \"{role}\""))
            .await
            .unwrap();
    }
}

#[test]
fn sqlite_says_roles_are_a_postgresql_feature() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite();
    let output = runtime(dir.path(), &db, "app_")
        .args(["db", "roles", "--apply"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let out = text(&output);
    assert!(out.contains("PostgreSQL feature"), "{out}");
    let standalone = runtime(dir.path(), &db, "app_")
        .env(
            "RUNTIME_APPS__PRODUCTS__DATABASE_URL",
            "postgres://app_products@h/db",
        )
        .args(["start", "--app", "products"])
        .output()
        .unwrap();
    assert!(!standalone.status.success());
    let out = text(&standalone);
    assert!(out.contains("apps.products.database_url"), "{out}");
}

#[tokio::test]
async fn roles_are_printed_applied_and_revoked() {
    let Some((db, prefix)) = owned_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let products = format!("{prefix}products");
    let invoices = format!("{prefix}invoices");
    let roles_cli = |args: &[&str]| {
        let mut command = runtime(dir.path(), &db, &prefix);
        command
            .env("RUNTIME_APPS__PRODUCTS__DATABASE_PASSWORD", "s3cret-pw")
            .args(["db", "roles"])
            .args(args);
        command
    };

    let printed = run_ok(&mut roles_cli(&[]));
    for needle in [
        format!("CREATE ROLE \"{products}\" LOGIN"),
        format!("ALTER ROLE \"{products}\" WITH LOGIN PASSWORD '***'"),
        format!("ALTER ROLE \"{invoices}\" WITH LOGIN PASSWORD NULL"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE \"products\" TO \"{products}\""),
        format!("GRANT USAGE ON SEQUENCE \"products_id_seq\" TO \"{products}\""),
        format!("GRANT SELECT ON TABLE \"customers\" TO \"{invoices}\""),
        "USING (tbl IN ('products'))".to_string(),
    ] {
        assert!(printed.contains(&needle), "{needle} in:\n{printed}");
    }
    assert!(!printed.contains("s3cret-pw"), "{printed}");
    assert!(
        roles_named(&db, &prefix).await.is_empty(),
        "printing creates nothing"
    );

    let applied = run_ok(&mut roles_cli(&["--apply"]));
    assert!(!applied.contains("s3cret-pw"), "{applied}");
    assert_eq!(roles_named(&db, &prefix).await.len(), 4);
    let before = held(&db, &products).await;
    assert_eq!(
        before,
        [
            "products DELETE",
            "products INSERT",
            "products SELECT",
            "products UPDATE",
            "products_id_seq USAGE",
            "refinery_schema_history SELECT",
            "runtime_changes SELECT",
        ]
    );

    // The products role, with its password: its own table, and nothing else.
    let as_products = url_as(&db, &products, Some("s3cret-pw"));
    execute(&as_products, "SELECT count(*) FROM products")
        .await
        .unwrap();
    execute(
        &as_products,
        "INSERT INTO products (sku, name, price_cents, stock) VALUES ('R-1', 'Role', 1, 1)",
    )
    .await
    .unwrap();
    assert_denied(
        execute(&as_products, "SELECT * FROM customers").await,
        "reading another app's table",
    );
    assert_denied(
        execute(&as_products, "CREATE TABLE mine (id int)").await,
        "creating a table",
    );
    // Its changes, and only its tables' (the seed wrote customers too).
    let mut conn = sqlx::PgConnection::connect(&as_products).await.unwrap();
    let seen: Vec<String> = sqlx::query_scalar("SELECT DISTINCT tbl FROM runtime_changes")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(seen, ["products"]);
    conn.close().await.unwrap();

    // The invoices role reads customers and products, and may not write them.
    let as_invoices = url_as(&db, &invoices, None);
    execute(&as_invoices, "SELECT count(*) FROM customers")
        .await
        .unwrap();
    assert_denied(
        execute(&as_invoices, "UPDATE products SET stock = 0").await,
        "writing a read-only table",
    );
    assert_denied(
        execute(&as_invoices, "DELETE FROM customers").await,
        "deleting from a read-only table",
    );

    // Again: the same grants, nothing revoked.
    let again = run_ok(&mut roles_cli(&["--apply"]));
    assert!(!again.contains("REVOKE"), "{again}");
    assert_eq!(held(&db, &products).await, before);

    let revoked = run_ok(&mut roles_cli(&[
        "--revoke", "--apply", "--app", "products",
    ]));
    assert!(revoked.contains(&format!("DROP ROLE IF EXISTS \"{products}\"")));
    assert_eq!(roles_named(&db, &prefix).await.len(), 3);
    run_ok(&mut roles_cli(&["--revoke", "--apply"]));
    assert!(roles_named(&db, &prefix).await.is_empty());
    let unknown = roles_cli(&["--app", "nope"]).output().unwrap();
    assert!(!unknown.status.success());
    assert!(text(&unknown).contains("--app nope: no such app"));
    finish(db, &prefix).await;
}

#[tokio::test]
async fn reapplying_after_an_allowlist_change_revokes_what_was_dropped() {
    let Some((db, prefix)) = owned_database().await else {
        return;
    };
    let role = format!("{prefix}catalogue");
    let apply = async |apps: Vec<App>, intent: Intent| {
        let linked: Vec<(&str, u16)> = apps.iter().map(|a| (a.name, a.default_port)).collect();
        let mut config = test_config(&db.url, &apps);
        config.database.role_prefix = prefix.clone();
        if let Some(app) = config.apps.get_mut("catalogue") {
            app.database_password = Some(Secret::new("pw-catalogue-1"));
        }
        let config = config.check(&linked).expect("valid config");
        let wanted = roles::wanted(&config, &apps, None).unwrap();
        let database = Database::connect(config.database(), 1, Duration::from_secs(5))
            .await
            .unwrap();
        let plan = roles::apply(&database, &wanted, intent).await.unwrap();
        let left = roles::plan(&database, &wanted, intent).await.unwrap();
        database.close().await;
        (plan.script(), left.script())
    };
    let wide = || {
        App::new("catalogue", 0)
            .table("products", Access::ReadWrite)
            .table("customers", Access::Read)
    };
    let (first, next) = apply(vec![wide()], Intent::Grant).await;
    assert!(
        !first.contains("REVOKE") && !first.contains("pw-catalogue-1"),
        "{first}"
    );
    assert!(!next.contains("REVOKE"), "in line: {next}");
    assert_eq!(
        held(&db, &role).await,
        [
            "customers SELECT",
            "products DELETE",
            "products INSERT",
            "products SELECT",
            "products UPDATE",
            "products_id_seq USAGE",
            "refinery_schema_history SELECT",
            "runtime_changes SELECT",
        ]
    );
    // What someone granted by hand is not the allowlist's either.
    db.execute(&format!(
        "GRANT TRUNCATE ON products TO \"{role}\"; GRANT SELECT ON invoices TO \"{role}\"; \
         GRANT CREATE ON SCHEMA public TO \"{role}\""
    ))
    .await;

    let narrow = App::new("catalogue", 0).table("products", Access::Read);
    let (second, next) = apply(vec![narrow], Intent::Grant).await;
    for needle in [
        format!("REVOKE DELETE, INSERT, TRUNCATE, UPDATE ON TABLE \"products\" FROM \"{role}\""),
        format!("REVOKE SELECT ON TABLE \"customers\" FROM \"{role}\""),
        format!("REVOKE SELECT ON TABLE \"invoices\" FROM \"{role}\""),
        format!("REVOKE USAGE ON SEQUENCE \"products_id_seq\" FROM \"{role}\""),
        format!("REVOKE CREATE ON SCHEMA \"public\" FROM \"{role}\""),
    ] {
        assert!(second.contains(&needle), "{needle} in:\n{second}");
    }
    assert!(!next.contains("REVOKE"), "in line: {next}");
    assert_eq!(
        held(&db, &role).await,
        [
            "products SELECT",
            "refinery_schema_history SELECT",
            "runtime_changes SELECT",
        ]
    );
    assert_denied(
        execute(
            &url_as(&db, &role, Some("pw-catalogue-1")),
            "SELECT * FROM customers",
        )
        .await,
        "a table no longer listed",
    );

    apply(vec![wide()], Intent::Revoke).await;
    assert!(roles_named(&db, &prefix).await.is_empty());
    finish(db, &prefix).await;
}

#[tokio::test]
async fn a_standalone_app_serves_as_its_own_role() {
    let Some((db, prefix)) = owned_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let role = format!("{prefix}products");
    run_ok(runtime(dir.path(), &db, &prefix).args(["db", "roles", "--apply", "--app", "products"]));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let standalone = |command: &mut Command| {
        command
            .env("RUNTIME_MIGRATIONS__APPLY_ON_START", "true")
            .env("RUNTIME_ADMIN__PORT", "0")
            .env("RUNTIME_APPS__PRODUCTS__PORT", port.to_string())
            .env(
                "RUNTIME_APPS__PRODUCTS__DATABASE_URL",
                url_as(&db, &role, None),
            )
            .args(["start", "--app", "products"]);
    };

    // A pending migration: the role cannot apply it, and says who can.
    let migrations = crate::helpers::copy_of_migrations();
    std::fs::write(
        migrations.path().join("V6__notes.sql"),
        "CREATE TABLE notes (id INTEGER PRIMARY KEY);\n",
    )
    .unwrap();
    let mut pending = runtime(dir.path(), &db, &prefix);
    standalone(&mut pending);
    let output = pending
        .env("RUNTIME_MIGRATIONS__DIR", migrations.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let out = text(&output);
    assert!(
        out.contains("1 migration(s)") && out.contains("runtime migrate apply"),
        "{out}"
    );
    assert!(!out.contains("permission denied"), "{out}");

    let mut command = runtime(dir.path(), &db, &prefix);
    standalone(&mut command);
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if client.get(format!("{base}/products")).send().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "products did not start as its role");
    let listed: Value = client
        .get(format!("{base}/products?limit=100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed}");
    let created = client
        .post(format!("{base}/products"))
        .json(&json!({"sku": "ROLE-1", "name": "As a role", "priceCents": 5, "stock": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let changes: Value = client
        .get(format!("{base}/changes?limit=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let changes = changes["changes"].as_array().expect("changes").clone();
    assert!(
        changes
            .iter()
            .any(|c| c["op"] == "insert" && c["row"]["sku"] == "ROLE-1"),
        "{changes:?}"
    );
    assert!(changes.iter().all(|c| c["table"] == "products"));
    // A change of another app's table after the role's own: the feed goes on past it.
    db.execute(
        "INSERT INTO emails (address) VALUES ('dee@example.com'); \
         UPDATE products SET stock = 9 WHERE sku = 'ROLE-1'",
    )
    .await;
    let last = changes.last().unwrap()["id"].as_i64().unwrap();
    let mut updated = false;
    for _ in 0..50 {
        let page: Value = client
            .get(format!("{base}/changes?after={last}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if page["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["op"] == "update")
        {
            updated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(updated, "the update after another app's change shows");
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert!(child.wait().unwrap().success());

    // Change capture missing on its table: the role cannot create it, and says who can.
    db.execute("DROP TRIGGER runtime_changes_insert ON products")
        .await;
    let mut uncaptured = runtime(dir.path(), &db, &prefix);
    standalone(&mut uncaptured);
    let output = uncaptured.output().unwrap();
    assert!(!output.status.success());
    let out = text(&output);
    assert!(
        out.contains("products") && out.contains("runtime start") && out.contains("as the owner"),
        "{out}"
    );
    run_ok(runtime(dir.path(), &db, &prefix).args(["db", "roles", "--revoke", "--apply"]));
    finish(db, &prefix).await;
}

//! `migrate undo` and `migrate baseline` through the CLI binary, on SQLite and PostgreSQL:
//! undoing the last migration and `--to`, a missing or empty undo file refused before anything
//! is undone, a failing undo rolled back, undo then apply again, the change log's triggers
//! through an undo, `migrate new` writing both files, `status` showing what can be undone,
//! baselining a schema built by hand, and concurrent undo and apply on PostgreSQL.

use crate::commands::{
    capture_triggers, columns, count, fail, history, relations, runtime, strings, succeed, text,
};
use crate::helpers::{TestApp, TestDb, copy_of_migrations, migrations_dir};

/// Runs a test body on a fresh SQLite database, and on PostgreSQL when configured.
macro_rules! on_both {
    ($name:ident, |$db:ident| $body:block) => {
        mod $name {
            use super::*;

            async fn body($db: &TestDb) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                body(&TestDb::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = TestDb::postgres().await else { return };
                body(&db).await;
                db.drop_database().await;
            }
        }
    };
}

fn has(names: &[String], name: &str) -> bool {
    names.iter().any(|n| n == name)
}

/// The `migrate status` line of a migration, split into words.
fn status_line(output: &str, name: &str) -> Vec<String> {
    output
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .find(|words| words.get(1).is_some_and(|w| w == name))
        .unwrap_or_else(|| panic!("no status line for {name}: {output}"))
}

on_both!(undo_the_last_keeps_the_change_log_and_applies_again, |db| {
    // A runtime served the database first: the change log and its triggers are in place.
    let app = TestApp::spawn_with(db.alias(), runtime::linked_apps()).await;
    app.stop().await;
    let sqlite = db.url.starts_with("sqlite:");
    assert_eq!(capture_triggers(&db.url, "invoices").await.len(), 3);
    let dir = tempfile::tempdir().unwrap();
    let migrations = migrations_dir();
    let run = |args: &[&str]| succeed(dir.path(), &db.url, &migrations, args);

    let out = run(&["migrate", "undo"]);
    assert!(out.contains("undid V5__invoice_totals"), "{out}");
    assert!(!out.contains("V4__invoices"), "only the last one: {out}");
    assert_eq!(history(&db.url).await, [1, 2, 3, 4]);
    let now = relations(&db.url).await;
    assert!(!has(&now, "invoice_totals"), "{now:?}");
    assert!(
        has(&now, "invoices") && has(&now, "runtime_changes"),
        "{now:?}"
    );
    assert!(!has(&columns(&db.url, "invoices").await, "total_cents"));
    // Tables the undo left alone keep logging their changes; the runtime's own tables work.
    assert_eq!(capture_triggers(&db.url, "products").await.len(), 3);
    let inbox = if sqlite {
        "runtime_changes"
    } else {
        "runtime_change_inbox"
    };
    let logged = count(&db.url, inbox).await;
    db.execute("INSERT INTO products (sku, name, price_cents, stock) VALUES ('U-1', 'Kept', 1, 1)")
        .await;
    assert_eq!(count(&db.url, inbox).await, logged + 1);

    let status = run(&["migrate", "status"]);
    let line = status_line(&status, "invoice_totals");
    assert_eq!(line[2], "yes", "{status}");
    assert_eq!(line[3], "pending", "{status}");
    let out = run(&["migrate", "apply"]);
    assert!(out.contains("applied V5__invoice_totals"), "{out}");
    assert_eq!(history(&db.url).await, [1, 2, 3, 4, 5]);
    assert!(has(&columns(&db.url, "invoices").await, "total_cents"));
    // The next start brings the triggers of the changed table back.
    let app = TestApp::spawn_with(db.alias(), runtime::linked_apps()).await;
    app.stop().await;
    assert_eq!(capture_triggers(&db.url, "invoices").await.len(), 3);
});

on_both!(undo_to_checks_every_undo_file_before_undoing_any, |db| {
    let dir = tempfile::tempdir().unwrap();
    let migrations = copy_of_migrations();
    let ok = |args: &[&str]| succeed(dir.path(), &db.url, migrations.path(), args);
    let refused = |args: &[&str]| fail(dir.path(), &db.url, migrations.path(), args);
    ok(&["migrate", "apply"]);
    let before = relations(&db.url).await;
    std::fs::remove_file(migrations.path().join("U3__products.sql")).unwrap();

    let out = refused(&["migrate", "undo", "--to", "2"]);
    assert!(
        out.contains("V3__products has no undo file")
            && out.contains("U3__products.sql")
            && out.contains("nothing was undone"),
        "{out}"
    );
    assert_eq!(history(&db.url).await, [1, 2, 3, 4, 5]);
    assert_eq!(relations(&db.url).await, before);
    let out = refused(&["migrate", "undo", "--to", "42"]);
    assert!(out.contains("no migration has version 42"), "{out}");

    let out = ok(&["migrate", "undo", "--to", "3"]);
    let v5 = out.find("undid V5__invoice_totals").expect(&out);
    let v4 = out.find("undid V4__invoices").expect(&out);
    assert!(v5 < v4, "newest first: {out}");
    assert_eq!(history(&db.url).await, [1, 2, 3]);
    let now = relations(&db.url).await;
    for gone in ["invoices", "line_items", "invoice_totals"] {
        assert!(!has(&now, gone), "{gone}: {now:?}");
    }
    assert!(has(&now, "products"), "{now:?}");
    let out = ok(&["migrate", "undo", "--to", "3"]);
    assert!(out.contains("nothing to undo"), "{out}");

    let out = refused(&["migrate", "undo", "--to", "0"]);
    assert!(out.contains("V3__products has no undo file"), "{out}");
    assert_eq!(history(&db.url).await, [1, 2, 3]);
    assert_eq!(relations(&db.url).await, now);
});

on_both!(a_failing_undo_rolls_back_and_stays_applied, |db| {
    let dir = tempfile::tempdir().unwrap();
    let migrations = copy_of_migrations();
    succeed(
        dir.path(),
        &db.url,
        migrations.path(),
        &["migrate", "apply"],
    );
    std::fs::write(
        migrations.path().join("U4__invoices.sql"),
        "DROP TABLE line_items;\nDROP TABLE no_such_table;\n",
    )
    .unwrap();
    let out = fail(
        dir.path(),
        &db.url,
        migrations.path(),
        &["migrate", "undo", "--to", "3"],
    );
    assert!(
        out.contains("undoing V4__invoices failed and was rolled back")
            && out.contains("undone before it: V5__invoice_totals")
            && out.contains("no_such_table"),
        "{out}"
    );
    assert_eq!(history(&db.url).await, [1, 2, 3, 4]);
    let now = relations(&db.url).await;
    assert!(has(&now, "line_items") && has(&now, "invoices"), "{now:?}");
    assert!(!has(&now, "invoice_totals"), "{now:?}");
});

on_both!(
    new_writes_an_undo_file_and_status_shows_what_can_be_undone,
    |db| {
        let dir = tempfile::tempdir().unwrap();
        let migrations = copy_of_migrations();
        let ok = |args: &[&str]| succeed(dir.path(), &db.url, migrations.path(), args);
        let out = ok(&["migrate", "new", "notes"]);
        assert!(
            out.contains("V6__notes.sql") && out.contains("U6__notes.sql"),
            "{out}"
        );
        let undo_file = migrations.path().join("U6__notes.sql");
        assert!(
            std::fs::read_to_string(&undo_file)
                .unwrap()
                .contains("undoes V6__notes")
        );
        std::fs::remove_file(migrations.path().join("U2__customers.sql")).unwrap();
        let status = ok(&["migrate", "status"]);
        assert_eq!(status_line(&status, "notes")[2], "empty", "{status}");
        assert_eq!(status_line(&status, "products")[2], "yes", "{status}");
        assert_eq!(status_line(&status, "customers")[2], "no", "{status}");

        std::fs::write(
            migrations.path().join("V6__notes.sql"),
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n",
        )
        .unwrap();
        ok(&["migrate", "apply"]);
        assert!(has(&relations(&db.url).await, "notes"));
        let out = fail(dir.path(), &db.url, migrations.path(), &["migrate", "undo"]);
        assert!(
            out.contains("U6__notes.sql holds no SQL statement")
                && out.contains("nothing was undone"),
            "{out}"
        );
        assert_eq!(history(&db.url).await, [1, 2, 3, 4, 5, 6]);

        let mut undo = std::fs::read_to_string(&undo_file).unwrap();
        undo.push_str("DROP TABLE notes;\n");
        std::fs::write(&undo_file, undo).unwrap();
        assert_eq!(status_line(&ok(&["migrate", "status"]), "notes")[2], "yes");
        let out = ok(&["migrate", "undo"]);
        assert!(out.contains("undid V6__notes"), "{out}");
        assert!(!has(&relations(&db.url).await, "notes"));
        assert_eq!(history(&db.url).await, [1, 2, 3, 4, 5]);
    }
);

on_both!(baseline_adopts_a_schema_built_by_hand, |db| {
    let sqlite = db.url.starts_with("sqlite:");
    let dir = tempfile::tempdir().unwrap();
    let migrations = migrations_dir();
    let ok = |url: &str, args: &[&str]| succeed(dir.path(), url, &migrations, args);
    let refused = |args: &[&str]| fail(dir.path(), &db.url, &migrations, args);
    // `status` creates the SQLite file; the schema is then built by hand, as no migration of
    // ours would.
    ok(&db.url, &["migrate", "status"]);
    let dialect = if sqlite { "sqlite" } else { "postgres" };
    for migration in ["V1__shared", "V2__customers", "V3__products"] {
        let file = migrations_dir().join(format!("{migration}.{dialect}.sql"));
        db.execute(&std::fs::read_to_string(file).unwrap()).await;
    }

    let out = refused(&["migrate", "baseline", "42"]);
    assert!(out.contains("no migration has version 42"), "{out}");
    let out = ok(&db.url, &["migrate", "baseline", "3"]);
    for marked in ["V1__shared", "V2__customers", "V3__products"] {
        assert!(
            out.contains(&format!("marked {marked} as applied")),
            "{out}"
        );
    }
    assert!(!out.contains("V4__invoices"), "{out}");
    assert_eq!(history(&db.url).await, [1, 2, 3]);
    // The rows are those `apply` writes: names and checksums of the files.
    let other = if sqlite {
        TestDb::sqlite()
    } else {
        TestDb::postgres().await.expect("postgres")
    };
    ok(&other.url, &["migrate", "apply", "--to", "3"]);
    let rows = "SELECT CAST(version AS TEXT) || ' ' || name || ' ' || checksum \
                FROM refinery_schema_history ORDER BY version";
    assert_eq!(
        strings(&db.url, rows).await,
        strings(&other.url, rows).await
    );
    other.drop_database().await;

    let out = ok(&db.url, &["migrate", "apply"]);
    assert!(
        out.contains("applied V4__invoices") && out.contains("applied V5__invoice_totals"),
        "{out}"
    );
    assert!(!out.contains("applied V1__shared"), "{out}");
    let out = refused(&["migrate", "baseline", "2"]);
    assert!(
        out.contains(
            "migrations above it are applied already (V3__products, V4__invoices, V5__invoice_totals)"
        ),
        "{out}"
    );
    let out = ok(&db.url, &["migrate", "baseline", "5"]);
    assert!(out.contains("nothing to mark"), "{out}");
    assert_eq!(history(&db.url).await, [1, 2, 3, 4, 5]);
});

/// `migrate undo --to 0` and `migrate apply` started together, round after round: each run
/// ends with all applied or none, the schema matching the history, both processes succeeding.
#[tokio::test]
async fn concurrent_undo_and_apply_on_postgres_serialise() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let migrations = migrations_dir();
    let tables = [
        "addresses",
        "customers",
        "emails",
        "invoices",
        "line_items",
        "phones",
        "products",
    ];
    for _ in 0..4 {
        let spawn = |args: &[&str]| {
            runtime(dir.path(), &db.url, &migrations)
                .args(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let undo = spawn(&["migrate", "undo", "--to", "0"]);
        let apply = spawn(&["migrate", "apply"]);
        let (undo, apply) = (
            undo.wait_with_output().unwrap(),
            apply.wait_with_output().unwrap(),
        );
        assert!(undo.status.success(), "{}", text(&undo));
        assert!(apply.status.success(), "{}", text(&apply));
        let applied = history(&db.url).await;
        let present: Vec<String> = relations(&db.url)
            .await
            .into_iter()
            .filter(|r| tables.contains(&r.as_str()))
            .collect();
        if applied.is_empty() {
            assert!(present.is_empty(), "history empty, yet {present:?}");
        } else {
            assert_eq!(applied, [1, 2, 3, 4, 5]);
            assert_eq!(present.len(), tables.len(), "{present:?}");
        }
    }
    db.drop_database().await;
}

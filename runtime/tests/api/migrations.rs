//! The one migration set: apply, status, a changed file, new files, concurrent applies.

use engine::config::{DatabaseConfig, DatabaseUrl};
use engine::db::Database;
use engine::migrate::{self, MigrateError};

use crate::helpers::{TestDb, copy_of_migrations, migrations_dir};

/// Runs a test body on a fresh SQLite database, and on PostgreSQL when configured.
macro_rules! with_db {
    ($name:ident, |$db:ident| $body:block) => {
        mod $name {
            use super::*;

            async fn body($db: &TestDb) $body

            #[tokio::test]
            async fn sqlite() {
                body(&TestDb::sqlite()).await;
            }

            #[tokio::test]
            async fn postgres() {
                let Some(db) = TestDb::postgres().await else { return };
                body(&db).await;
                db.drop_database().await;
            }
        }
    };
}

async fn connect(db: &TestDb) -> Database {
    let config = DatabaseConfig {
        url: DatabaseUrl::new(db.url.clone()),
        ..DatabaseConfig::default()
    };
    Database::connect(&config, 1, std::time::Duration::from_secs(30))
        .await
        .expect("connects")
}

with_db!(apply_is_ordered_idempotent_and_stops_at_a_target, |db| {
    let pool = connect(db).await;
    let dir = migrations_dir();
    let first = migrate::apply(&pool, &dir, Some(2)).await.unwrap();
    assert_eq!(first.iter().map(|m| m.version).collect::<Vec<_>>(), [1, 2]);
    let status = migrate::status(&pool, &dir).await.unwrap();
    let applied: Vec<bool> = status.iter().map(|s| s.applied_on.is_some()).collect();
    assert_eq!(applied, [true, true, false, false, false]);
    assert_eq!(status[3].name, "invoices");
    let rest = migrate::apply(&pool, &dir, None).await.unwrap();
    assert_eq!(
        rest.iter().map(|m| m.version).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    assert!(migrate::apply(&pool, &dir, None).await.unwrap().is_empty());
    assert!(
        migrate::status(&pool, &dir)
            .await
            .unwrap()
            .iter()
            .all(|s| s.applied_on.is_some() && !s.changed)
    );
    let unknown = migrate::apply(&pool, &dir, Some(42)).await.unwrap_err();
    assert!(matches!(unknown, MigrateError::UnknownTarget(42)));
});

with_db!(a_changed_applied_migration_is_an_error, |db| {
    let pool = connect(db).await;
    let dir = copy_of_migrations();
    migrate::apply(&pool, dir.path(), None).await.unwrap();
    let file = dir.path().join("V5__invoice_totals.sql");
    let sql = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{sql}\n-- edited after the fact\n")).unwrap();
    let error = migrate::apply(&pool, dir.path(), None).await.unwrap_err();
    assert!(
        matches!(error, MigrateError::Changed { version: 5, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("V5__invoice_totals"));
    let status = migrate::status(&pool, dir.path()).await.unwrap();
    assert!(status[4].changed);
});

with_db!(new_migrations_get_the_next_version_and_apply, |db| {
    let pool = connect(db).await;
    let dir = copy_of_migrations();
    migrate::apply(&pool, dir.path(), None).await.unwrap();
    let created = migrate::create(dir.path(), "add_notes").unwrap();
    assert_eq!(created.path.file_name().unwrap(), "V6__add_notes.sql");
    assert_eq!(created.undo.file_name().unwrap(), "U6__add_notes.sql");
    std::fs::write(
        &created.path,
        "ALTER TABLE customers ADD COLUMN notes TEXT;\n",
    )
    .unwrap();
    let applied = migrate::apply(&pool, dir.path(), None).await.unwrap();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].name, "add_notes");
    assert!(migrate::create(dir.path(), "bad name!").is_err());
});

#[tokio::test]
async fn concurrent_applies_on_postgres_apply_each_migration_once() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let pools: Vec<Database> = futures_util::future::join_all((0..4).map(|_| connect(&db))).await;
    let dir = migrations_dir();
    let runs =
        futures_util::future::join_all(pools.iter().map(|pool| migrate::apply(pool, &dir, None)))
            .await;
    let mut applied: Vec<i32> = Vec::new();
    for run in runs {
        applied.extend(
            run.expect("every concurrent apply succeeds")
                .iter()
                .map(|m| m.version),
        );
    }
    applied.sort();
    assert_eq!(
        applied,
        [1, 2, 3, 4, 5],
        "each migration applied by exactly one process"
    );
    let Database::Postgres(pg) = &pools[0] else {
        unreachable!()
    };
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM refinery_schema_history")
        .fetch_one(pg.pool())
        .await
        .unwrap();
    assert_eq!(rows, 5);
    for pool in &pools {
        pool.close().await;
    }
    db.drop_database().await;
}

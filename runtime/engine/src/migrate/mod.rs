//! The one migration set: `apply`, `status` and `new`, run by refinery over sqlx.
//!
//! Applied migrations are tracked in [`HISTORY_TABLE`], which the catalog leaves out so no app can
//! ever serve it. A migration whose file changed after it was applied stops `apply` with an
//! error. On PostgreSQL a session advisory lock serialises concurrent `apply`s, so each migration
//! is applied exactly once however many processes start together; on SQLite each migration and
//! its history row commit in one transaction, so a racing second process fails instead of
//! applying twice.

mod driver;
mod files;

use std::path::Path;

use refinery_core::{Migration, Runner, Target};
use sqlx::{ConnectOptions, Connection};

pub use files::{MigrationFile, create};

use crate::db::Database;
use driver::MigrationConnection;

/// The table that records applied migrations.
pub const HISTORY_TABLE: &str = "refinery_schema_history";

/// The advisory lock key held while migrating on PostgreSQL ("runtime" in ASCII).
const ADVISORY_LOCK_KEY: i64 = 0x72756e74696d65;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("could not read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("bad migration file {path}: {reason}")]
    BadFile { path: String, reason: String },
    #[error("`{0}` is not a migration name: use letters, digits and underscores")]
    BadName(String),
    #[error(
        "migration V{version}__{name} was changed after it was applied (its checksum differs); restore the file and put the change in a new migration"
    )]
    Changed { version: i32, name: String },
    #[error("migration V{version}__{name} is applied but its file is missing from {dir}")]
    Missing {
        version: i32,
        name: String,
        dir: String,
    },
    #[error("no migration has version {0}")]
    UnknownTarget(i32),
    #[error("migration failed: {0}")]
    Refinery(#[from] Box<refinery_core::Error>),
    #[error("database error while migrating: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the database did not answer: {0}")]
    Unreachable(String),
}

/// How far the database is along the migration set on disk, for readiness and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub applied: usize,
    /// Files on disk not applied yet.
    pub pending: usize,
}

/// Counts applied and pending migrations through the serving connections (no connection of
/// its own, so a probe never opens one past `database.max_connections`).
pub async fn progress(db: &Database, dir: &Path) -> Result<Progress, MigrateError> {
    let loaded = files::load(dir, db.dialect())?;
    let mut text = crate::sql::Text::new(db.dialect());
    text.push_str(match db.dialect() {
        crate::db::Dialect::Sqlite => "SELECT json_group_array(version) FROM ",
        crate::db::Dialect::Postgres => "SELECT coalesce(json_agg(version), '[]')::text FROM ",
    });
    text.push_str(HISTORY_TABLE);
    let applied: Vec<i64> = match db.fetch_json(&text.into_read(Vec::new())).await {
        Ok(row) => row
            .and_then(|r| serde_json::from_str(&r.json).ok())
            .unwrap_or_default(),
        // No history table yet: nothing is applied.
        Err(error) if matches!(error.failure(), crate::db::Failure::Fault) => Vec::new(),
        Err(error) => return Err(MigrateError::Unreachable(error.to_string())),
    };
    let pending = loaded
        .iter()
        .filter(|(file, _)| !applied.contains(&i64::from(file.version)))
        .count();
    Ok(Progress {
        applied: applied.len(),
        pending,
    })
}

/// One migration's state, for `status`.
#[derive(Debug, Clone)]
pub struct MigrationState {
    pub version: i32,
    pub name: String,
    /// When it was applied (RFC 3339), or `None` while pending.
    pub applied_on: Option<String>,
    /// The file on disk differs from what was applied.
    pub changed: bool,
    /// Applied, but no file on disk.
    pub missing_file: bool,
}

/// Applies pending migrations up to `target` (all when `None`); returns the applied ones.
pub async fn apply(
    db: &Database,
    dir: &Path,
    target: Option<i32>,
) -> Result<Vec<MigrationFile>, MigrateError> {
    let loaded = files::load(dir, db.dialect())?;
    if let Some(version) = target
        && !loaded.iter().any(|(f, _)| f.version == version)
    {
        return Err(MigrateError::UnknownTarget(version));
    }
    let migrations: Vec<Migration> = loaded.iter().map(|(_, m)| m.clone()).collect();
    let mut conn = connect(db).await?;
    if let MigrationConnection::Postgres(pg) = &mut conn {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(ADVISORY_LOCK_KEY)
            .execute(&mut *pg)
            .await?;
    }
    let result = run(&mut conn, &migrations, target, dir).await;
    match conn {
        MigrationConnection::Postgres(mut pg) => {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(ADVISORY_LOCK_KEY)
                .execute(&mut pg)
                .await?;
            pg.close().await?;
        }
        MigrationConnection::Sqlite(lite) => lite.close().await?,
    }
    let applied = result?;
    Ok(loaded
        .into_iter()
        .filter(|(f, _)| applied.contains(&f.version))
        .map(|(f, _)| f)
        .collect())
}

async fn run(
    conn: &mut MigrationConnection,
    migrations: &[Migration],
    target: Option<i32>,
    dir: &Path,
) -> Result<Vec<i32>, MigrateError> {
    let runner = Runner::new(migrations)
        .set_abort_divergent(true)
        .set_abort_missing(true)
        .set_target(target.map_or(Target::Latest, Target::Version));
    match runner.run_async(conn).await {
        Ok(report) => Ok(report
            .applied_migrations()
            .iter()
            .map(|m| m.version())
            .collect()),
        Err(error) => Err(explain(error, dir)),
    }
}

fn explain(error: refinery_core::Error, dir: &Path) -> MigrateError {
    match error.kind() {
        refinery_core::error::Kind::DivergentVersion(applied, _) => MigrateError::Changed {
            version: applied.version(),
            name: applied.name().to_string(),
        },
        refinery_core::error::Kind::MissingVersion(applied) => MigrateError::Missing {
            version: applied.version(),
            name: applied.name().to_string(),
            dir: dir.display().to_string(),
        },
        _ => MigrateError::Refinery(Box::new(error)),
    }
}

/// Applied and pending migrations, in version order.
pub async fn status(db: &Database, dir: &Path) -> Result<Vec<MigrationState>, MigrateError> {
    let loaded = files::load(dir, db.dialect())?;
    let mut conn = connect(db).await?;
    let applied = if history_exists(&mut conn).await? {
        Runner::new(&[])
            .get_applied_migrations_async(&mut conn)
            .await
            .map_err(Box::new)?
    } else {
        Vec::new()
    };
    let mut states: Vec<MigrationState> = loaded
        .iter()
        .map(|(file, migration)| {
            let done = applied.iter().find(|a| a.version() == file.version);
            MigrationState {
                version: file.version,
                name: file.name.clone(),
                applied_on: done.and_then(|a| a.applied_on()).map(|t| t.to_string()),
                changed: done.is_some_and(|a| {
                    a.checksum() != migration.checksum() || a.name() != migration.name()
                }),
                missing_file: false,
            }
        })
        .collect();
    for orphan in applied
        .iter()
        .filter(|a| !loaded.iter().any(|(f, _)| f.version == a.version()))
    {
        states.push(MigrationState {
            version: orphan.version(),
            name: orphan.name().to_string(),
            applied_on: orphan.applied_on().map(|t| t.to_string()),
            changed: false,
            missing_file: true,
        });
    }
    states.sort_by_key(|s| s.version);
    Ok(states)
}

async fn history_exists(conn: &mut MigrationConnection) -> Result<bool, sqlx::Error> {
    match conn {
        MigrationConnection::Sqlite(c) => {
            sqlx::query_scalar("SELECT count(*) > 0 FROM sqlite_schema WHERE name = ?1")
                .bind(HISTORY_TABLE)
                .fetch_one(&mut *c)
                .await
        }
        MigrationConnection::Postgres(c) => {
            sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
                .bind(HISTORY_TABLE)
                .fetch_one(&mut *c)
                .await
        }
    }
}

async fn connect(db: &Database) -> Result<MigrationConnection, sqlx::Error> {
    Ok(match db {
        Database::Sqlite(lite) => MigrationConnection::Sqlite(lite.connect().await?),
        Database::Postgres(pg) => {
            MigrationConnection::Postgres(pg.pool().connect_options().connect().await?)
        }
    })
}

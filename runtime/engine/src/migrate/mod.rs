//! The one migration set: `apply`, `status`, `new`, `baseline` and `undo`, run by refinery over
//! sqlx.
//!
//! Applied migrations are tracked in [`HISTORY_TABLE`], which the catalog leaves out so no app can
//! ever serve it. A migration whose file changed after it was applied stops `apply` with an
//! error. On PostgreSQL a session advisory lock serialises concurrent `apply`s, `baseline`s and
//! `undo`s, so each migration is applied exactly once however many processes start together; on
//! SQLite each migration and its history row commit in one transaction, so a racing second
//! process fails instead of applying twice.

mod baseline;
mod capture;
mod driver;
mod files;
mod lock;
mod undo;

use std::path::Path;

use refinery_core::{Migration, Runner, Target};
use sqlx::ConnectOptions;

pub use baseline::baseline;
pub use files::{MigrationFile, NewMigration, create};
pub use undo::undo;

use crate::db::Database;
use driver::MigrationConnection;
use lock::Locked;

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
    #[error("could not write {path}: {source}")]
    Write {
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
    #[error(
        "cannot baseline at version {version}: migrations above it are applied already ({applied})"
    )]
    AppliedAbove { version: i32, applied: String },
    #[error("{migration} has no undo file ({expected}); nothing was undone")]
    NoUndo { migration: String, expected: String },
    #[error(
        "the undo file {path} holds no SQL statement: write the statements that undo its migration; nothing was undone"
    )]
    EmptyUndo { path: String },
    #[error(
        "undoing {migration} failed and was rolled back, it stays applied{}: {reason}",
        already_undone(undone)
    )]
    UndoFailed {
        migration: String,
        /// Undone before it, each in its own transaction.
        undone: Vec<String>,
        reason: String,
    },
    #[error("migration failed: {0}")]
    Refinery(#[from] Box<refinery_core::Error>),
    #[error("database error while migrating: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the database did not answer: {0}")]
    Unreachable(String),
}

fn already_undone(undone: &[String]) -> String {
    if undone.is_empty() {
        String::new()
    } else {
        format!(" (undone before it: {})", undone.join(", "))
    }
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
    /// Whether `migrate undo` could undo it.
    pub undo: UndoFile,
}

/// A migration's undo file, for `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndoFile {
    /// There is none: the migration cannot be undone.
    Missing,
    /// There is one, but it holds no statement yet (as `migrate new` writes it).
    Empty,
    /// There is one, with SQL.
    Ready,
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
    let mut locked = Locked::open(db).await?;
    let result = run(locked.conn(), &migrations, target, dir).await;
    let applied = locked.finish(result).await?;
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
    let applied = applied(&mut conn).await?;
    let mut states = Vec::new();
    for (file, migration) in &loaded {
        let done = applied.iter().find(|a| a.version() == file.version);
        let undo = match &file.undo {
            None => UndoFile::Missing,
            Some(path) if files::has_statements(&files::read(path)?) => UndoFile::Ready,
            Some(_) => UndoFile::Empty,
        };
        states.push(MigrationState {
            version: file.version,
            name: file.name.clone(),
            applied_on: done.and_then(|a| a.applied_on()).map(|t| t.to_string()),
            changed: done.is_some_and(|a| {
                a.checksum() != migration.checksum() || a.name() != migration.name()
            }),
            missing_file: false,
            undo,
        });
    }
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
            undo: UndoFile::Missing,
        });
    }
    states.sort_by_key(|s| s.version);
    Ok(states)
}

/// The applied migrations, in version order; none while there is no history table.
async fn applied(conn: &mut MigrationConnection) -> Result<Vec<Migration>, MigrateError> {
    if !history_exists(conn).await? {
        return Ok(Vec::new());
    }
    Ok(Runner::new(&[])
        .get_applied_migrations_async(conn)
        .await
        .map_err(Box::new)?)
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

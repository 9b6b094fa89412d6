//! `db backup` and `db restore`: the whole configured database copied into one file, and put
//! back from one.
//!
//! - SQLite ([`sqlite`]): a consistent online copy through SQLite's backup API, inside one read
//!   transaction, so the copy is the database as of one instant while the runtime keeps
//!   writing. A restore checks the file (a SQLite database passing `PRAGMA integrity_check`),
//!   then swaps it in atomically, and only while no runtime uses the database ([`InUse`]).
//! - PostgreSQL ([`postgres`]): `pg_dump --format=custom`, and `pg_restore --clean --if-exists
//!   --no-owner` in one transaction. The password never reaches a command line or the output.
//!
//! Both report progress as they go (lines to [`Say`], at least every few seconds on long runs)
//! and end with the row count of every table and how long they took.

mod in_use;
mod postgres;
mod sqlite;

use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

pub use in_use::InUse;

use crate::config::{DatabaseConfig, DatabaseUrl};

/// How often a long run says how far it is, at the least.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Where progress lines go.
pub type Say = fn(&str);

/// The configured database, as a backup sees it.
#[derive(Debug, Clone)]
pub enum Target {
    Sqlite(PathBuf),
    Postgres(DatabaseUrl),
}

impl Target {
    pub fn of(config: &DatabaseConfig) -> Result<Self, BackupError> {
        let url = config.url.expose();
        if url.starts_with("sqlite:") {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
            Ok(Self::Sqlite(options.get_filename().to_path_buf()))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres(config.url.clone()))
        } else {
            Err(BackupError::UnknownScheme {
                url: config.url.redacted(),
            })
        }
    }

    /// The database in words, without any password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("the SQLite database {}", path.display()),
            Self::Postgres(url) => format!("the PostgreSQL database {}", url.redacted()),
        }
    }
}

/// What a backup or a restore did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Rows per table: of the copy after a backup, of the database after a restore.
    pub tables: Vec<(String, i64)>,
    /// The size of the backup file.
    pub bytes: u64,
    pub took: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("database.url `{url}` is neither sqlite:// nor postgres://")]
    UnknownScheme { url: String },
    #[error("database.url `{url}` does not read: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("{path} exists already: pass --force to overwrite it")]
    Exists { path: String },
    #[error("{path} is the database itself: name another file")]
    SameFile { path: String },
    #[error("no backup file at {path}")]
    NoBackup { path: String },
    #[error("{path} is not {what}: {reason}")]
    NotABackup {
        path: String,
        what: &'static str,
        reason: String,
    },
    #[error("no SQLite database at {path} (database.url)")]
    NoDatabase { path: String },
    #[error(
        "a runtime is serving {database} (it holds the lock file {lock}): stop it, then restore"
    )]
    Serving { database: String, lock: String },
    #[error(
        "a restore of {database} is running (it holds the lock file {lock}): start when it has finished"
    )]
    Restoring { database: String, lock: String },
    #[error(
        "`{tool}` is not on PATH: install the PostgreSQL client tools (Debian: postgresql-client) in a version at least the server's"
    )]
    ToolMissing { tool: &'static str },
    #[error("`{tool}` failed ({status}):\n{detail}")]
    ToolFailed {
        tool: &'static str,
        status: String,
        detail: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Sqlite {
        context: String,
        source: rusqlite::Error,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl BackupError {
    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }

    fn sqlite(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Self {
        let context = context.into();
        move |source| Self::Sqlite { context, source }
    }
}

/// Copies the configured database into `file`, which must not exist unless `force`; nothing is
/// left at `file` when it fails.
pub async fn backup(
    config: &DatabaseConfig,
    file: &Path,
    force: bool,
    say: Say,
) -> Result<Summary, BackupError> {
    if !force && file.exists() {
        return Err(BackupError::Exists {
            path: file.display().to_string(),
        });
    }
    match Target::of(config)? {
        Target::Sqlite(database) => {
            not_the_database(file, &database)?;
            let file = file.to_path_buf();
            blocking(move || sqlite::backup(&database, &file, force, say)).await
        }
        Target::Postgres(url) => postgres::backup(&url, file, force, say).await,
    }
}

/// Checks that `file` is a backup the configured database can be restored from, before
/// anything is asked or changed.
pub fn check(config: &DatabaseConfig, file: &Path) -> Result<Target, BackupError> {
    let target = Target::of(config)?;
    if !file.is_file() {
        return Err(BackupError::NoBackup {
            path: file.display().to_string(),
        });
    }
    match &target {
        Target::Sqlite(database) => {
            not_the_database(file, database)?;
            sqlite::check(file)?;
        }
        Target::Postgres(_) => postgres::check(file)?,
    }
    Ok(target)
}

/// Replaces the whole configured database with the backup in `file` (see [`check`]).
pub async fn restore(
    config: &DatabaseConfig,
    file: &Path,
    say: Say,
) -> Result<Summary, BackupError> {
    match check(config, file)? {
        Target::Sqlite(database) => {
            let file = file.to_path_buf();
            blocking(move || sqlite::restore(&database, &file, say)).await
        }
        Target::Postgres(url) => postgres::restore(&url, file, say).await,
    }
}

async fn blocking(
    work: impl FnOnce() -> Result<Summary, BackupError> + Send + 'static,
) -> Result<Summary, BackupError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| BackupError::Io {
            context: "the copying thread stopped".into(),
            source: std::io::Error::other(error),
        })?
}

/// Refuses `file` when it is the database file itself.
fn not_the_database(file: &Path, database: &Path) -> Result<(), BackupError> {
    match (file.canonicalize(), database.canonicalize()) {
        (Ok(a), Ok(b)) if a == b => Err(BackupError::SameFile {
            path: file.display().to_string(),
        }),
        _ => Ok(()),
    }
}

/// The folder a file is in (`.` for a bare name).
fn folder(file: &Path) -> &Path {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// A temporary file beside `file`, so renaming it over `file` is atomic.
fn temp_beside(file: &Path) -> Result<tempfile::NamedTempFile, BackupError> {
    let dir = folder(file);
    tempfile::Builder::new()
        .prefix(".runtime-backup-")
        .tempfile_in(dir)
        .map_err(BackupError::io(format!(
            "could not create a file in {}",
            dir.display()
        )))
}

/// Syncs `temp` and renames it to `file` (over an existing one only with `replace`), then syncs
/// the folder, so the rename survives a crash.
fn put_in_place(
    temp: tempfile::NamedTempFile,
    file: &Path,
    replace: bool,
) -> Result<u64, BackupError> {
    let context = || format!("could not write {}", file.display());
    temp.as_file()
        .sync_all()
        .map_err(BackupError::io(context()))?;
    let bytes = temp
        .as_file()
        .metadata()
        .map_err(BackupError::io(context()))?
        .len();
    let persisted = if replace {
        temp.persist(file)
    } else {
        temp.persist_noclobber(file)
    };
    persisted.map_err(|error| {
        if error.error.kind() == std::io::ErrorKind::AlreadyExists {
            BackupError::Exists {
                path: file.display().to_string(),
            }
        } else {
            BackupError::Io {
                context: context(),
                source: error.error,
            }
        }
    })?;
    std::fs::File::open(folder(file))
        .and_then(|dir| dir.sync_all())
        .map_err(BackupError::io(context()))?;
    Ok(bytes)
}

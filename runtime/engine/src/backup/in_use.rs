//! Whether a runtime uses a SQLite database. `runtime start` holds a shared lock on a lock file
//! beside the database, `<database>.lock`, for as long as it serves (the operating system
//! releases it when the process ends, however it ends); `db restore` takes it exclusively, so it
//! swaps the file only while no runtime has it open, and no runtime starts during a restore.

use std::fs::{File, TryLockError};
use std::path::Path;

use super::{BackupError, Target};
use crate::config::DatabaseConfig;

/// A held lock on a database's lock file; released when dropped.
#[derive(Debug)]
pub struct InUse {
    _file: File,
}

impl InUse {
    /// The shared lock a serving runtime holds on a SQLite database; `None` on PostgreSQL. A
    /// restore in progress is an error.
    pub fn serve(config: &DatabaseConfig) -> Result<Option<Self>, BackupError> {
        let Target::Sqlite(database) = Target::of(config)? else {
            return Ok(None);
        };
        let (file, lock) = open(&database)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(TryLockError::WouldBlock) => Err(BackupError::Restoring {
                database: database.display().to_string(),
                lock,
            }),
            Err(TryLockError::Error(source)) => Err(BackupError::Io {
                context: format!("could not lock {lock}"),
                source,
            }),
        }
    }

    /// The exclusive lock a restore holds; an error while a runtime serves the database.
    pub(super) fn exclusive(database: &Path) -> Result<Self, BackupError> {
        let (file, lock) = open(database)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => Err(BackupError::Serving {
                database: database.display().to_string(),
                lock,
            }),
            Err(TryLockError::Error(source)) => Err(BackupError::Io {
                context: format!("could not lock {lock}"),
                source,
            }),
        }
    }
}

/// Opens (creating it, and its folder, when missing) the lock file of `database`.
fn open(database: &Path) -> Result<(File, String), BackupError> {
    let path = super::sqlite::side_file(database, ".lock");
    let lock = path.display().to_string();
    let dir = super::folder(&path);
    std::fs::create_dir_all(dir).map_err(BackupError::io(format!(
        "could not create the folder {}",
        dir.display()
    )))?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(BackupError::io(format!("could not open {lock}")))?;
    Ok((file, lock))
}

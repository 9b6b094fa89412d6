//! SQLite: the backup API copies the database page by page inside one read transaction of the
//! source, so every page comes from the same instant while writers carry on (WAL mode: readers
//! and the writer do not block each other); the copy is left in rollback-journal mode, one
//! self-contained file. A restore copies the backup beside the database, checks it, and renames
//! it over the database (stale `-wal`/`-shm` files removed first) while holding the database's
//! lock file exclusively.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{BackupError, InUse, PROGRESS_EVERY, Say, Summary};
use crate::sql::quote::ident;

/// Pages copied per step of the backup API (4 MiB at the default page size).
const PAGES_PER_STEP: std::ffi::c_int = 1024;

/// Every SQLite database file starts with this.
const HEADER: &[u8; 16] = b"SQLite format 3\0";

pub(super) fn backup(
    database: &Path,
    file: &Path,
    force: bool,
    say: Say,
) -> Result<Summary, BackupError> {
    let started = Instant::now();
    if !database.is_file() {
        return Err(BackupError::NoDatabase {
            path: database.display().to_string(),
        });
    }
    let temp = super::temp_beside(file)?;
    let source = Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(BackupError::sqlite(format!(
        "could not open {}",
        database.display()
    )))?;
    let reading = format!("could not read {}", database.display());
    source
        .busy_timeout(Duration::from_secs(5))
        .map_err(BackupError::sqlite(&reading))?;
    let mut copy = Connection::open(temp.path()).map_err(BackupError::sqlite(format!(
        "could not write {}",
        file.display()
    )))?;
    // One read transaction for the whole copy: every step reads the same snapshot.
    source
        .execute_batch("BEGIN")
        .and_then(|()| source.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(())))
        .map_err(BackupError::sqlite(&reading))?;
    copy_pages(&source, &mut copy, say).map_err(BackupError::sqlite(&reading))?;
    source
        .execute_batch("COMMIT")
        .map_err(BackupError::sqlite(&reading))?;
    let writing = format!("could not write {}", file.display());
    copy.pragma_update_and_check(None, "journal_mode", "DELETE", |row| {
        row.get::<_, String>(0)
    })
    .map_err(BackupError::sqlite(&writing))?;
    let tables = row_counts(&copy).map_err(BackupError::sqlite(&writing))?;
    copy.close()
        .map_err(|(_, error)| BackupError::sqlite(&writing)(error))?;
    let bytes = super::put_in_place(temp, file, force)?;
    Ok(Summary {
        tables,
        bytes,
        took: started.elapsed(),
    })
}

fn copy_pages(source: &Connection, copy: &mut Connection, say: Say) -> rusqlite::Result<()> {
    let backup = Backup::new(source, copy)?;
    let mut last_said = Instant::now();
    loop {
        match backup.step(PAGES_PER_STEP)? {
            StepResult::Done => return Ok(()),
            StepResult::Busy | StepResult::Locked => std::thread::sleep(Duration::from_millis(20)),
            _ => {}
        }
        if last_said.elapsed() >= PROGRESS_EVERY {
            let progress = backup.progress();
            say(&format!(
                "copied {} of {} pages",
                progress.pagecount - progress.remaining,
                progress.pagecount
            ));
            last_said = Instant::now();
        }
    }
}

/// Refuses a file that is not a SQLite database.
pub(super) fn check(file: &Path) -> Result<(), BackupError> {
    let mut start = [0u8; 16];
    let read = std::fs::File::open(file)
        .and_then(|mut f| f.read_exact(&mut start))
        .map(|()| &start == HEADER);
    match read {
        Ok(true) => Ok(()),
        Ok(false) => Err(not_sqlite(file, "it does not start with SQLite's header")),
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(not_sqlite(file, "it is shorter than SQLite's header"))
        }
        Err(source) => Err(BackupError::Io {
            context: format!("could not read {}", file.display()),
            source,
        }),
    }
}

fn not_sqlite(file: &Path, reason: &str) -> BackupError {
    BackupError::NotABackup {
        path: file.display().to_string(),
        what: "a SQLite database",
        reason: reason.to_string(),
    }
}

/// Replaces `database` with `file`, which [`check`] accepted.
pub(super) fn restore(database: &Path, file: &Path, say: Say) -> Result<Summary, BackupError> {
    let started = Instant::now();
    let dir = super::folder(database);
    std::fs::create_dir_all(dir).map_err(BackupError::io(format!(
        "could not create the folder {}",
        dir.display()
    )))?;
    let _exclusive = InUse::exclusive(database)?;
    let temp = super::temp_beside(database)?;
    copy_file(file, temp.as_file(), say)?;
    say(&format!(
        "checking {} (PRAGMA integrity_check)",
        file.display()
    ));
    let tables = verify(temp.path()).map_err(|reason| not_sqlite(file, &reason))?;
    for leftover in [
        side_file(temp.path(), "-wal"),
        side_file(temp.path(), "-shm"),
    ] {
        remove_if_there(&leftover)?;
    }
    if let Ok(metadata) = std::fs::metadata(database) {
        std::fs::set_permissions(temp.path(), metadata.permissions()).map_err(BackupError::io(
            format!("could not set the permissions of {}", temp.path().display()),
        ))?;
    }
    // The old database's write-ahead log would be replayed onto the new file.
    for stale in [side_file(database, "-wal"), side_file(database, "-shm")] {
        remove_if_there(&stale)?;
    }
    let bytes = super::put_in_place(temp, database, true)?;
    Ok(Summary {
        tables,
        bytes,
        took: started.elapsed(),
    })
}

/// Copies `from` into `to`, saying how far it is on long copies.
fn copy_file(from: &Path, mut to: &std::fs::File, say: Say) -> Result<(), BackupError> {
    let reading = format!("could not read {}", from.display());
    let mut source = std::fs::File::open(from).map_err(BackupError::io(&reading))?;
    let total = source.metadata().map_err(BackupError::io(&reading))?.len();
    let mut buffer = vec![0u8; 1 << 20];
    let mut copied = 0u64;
    let mut last_said = Instant::now();
    loop {
        let read = source
            .read(&mut buffer)
            .map_err(BackupError::io(&reading))?;
        if read == 0 {
            return Ok(());
        }
        to.write_all(&buffer[..read])
            .map_err(BackupError::io("could not write the copy of the backup"))?;
        copied += read as u64;
        if last_said.elapsed() >= PROGRESS_EVERY {
            say(&format!("copied {copied} of {total} bytes"));
            last_said = Instant::now();
        }
    }
}

/// Runs `PRAGMA integrity_check` on the copy and counts its rows; the reason when it fails.
fn verify(copy: &Path) -> Result<Vec<(String, i64)>, String> {
    let conn = Connection::open_with_flags(
        copy,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    let problems: Vec<String> = conn
        .prepare("PRAGMA integrity_check(10)")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect()
        })
        .map_err(|e| e.to_string())?;
    if problems != ["ok"] {
        return Err(format!("PRAGMA integrity_check: {}", problems.join("; ")));
    }
    let tables = row_counts(&conn).map_err(|e| e.to_string())?;
    conn.close().map_err(|(_, e)| e.to_string())?;
    Ok(tables)
}

/// Rows per table (SQLite's own tables left out), by name.
fn row_counts(conn: &Connection) -> rusqlite::Result<Vec<(String, i64)>> {
    let names: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        )?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    names
        .into_iter()
        .map(|name| {
            let count = conn.query_row(
                &format!("SELECT count(*) FROM {}", ident(&name)),
                [],
                |row| row.get(0),
            )?;
            Ok((name, count))
        })
        .collect()
}

/// `<path><suffix>`: SQLite's `-wal` and `-shm` files, and the lock file.
pub(super) fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_there(path: &Path) -> Result<(), BackupError> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(BackupError::Io {
            context: format!("could not remove {}", path.display()),
            source: error,
        }),
        _ => Ok(()),
    }
}

//! SQLite on the request path: statements run on the thread that serves the request.
//!
//! sqlx gives every SQLite connection its own thread and hands each statement over to it and the
//! answer back: two thread wake-ups per statement, which cost more CPU than the statement itself
//! (a point read from the page cache takes microseconds). Here, through rusqlite on the same
//! `libsqlite3-sys`, a read takes an idle reader connection, runs on the calling thread and puts
//! the connection back ([`reader`]); every write and transaction goes through the one writer
//! connection, behind an async lock, so writers queue without blocking the threads that serve
//! reads, and queued writes commit together ([`writer`], [`group_commit`]). WAL mode keeps
//! readers and the writer from waiting on each other; a background thread moves the WAL into
//! the database file ([`checkpointer`]).

mod checkpointer;
mod connection;
mod group_commit;
mod reader;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

pub use connection::DATETIME_FUNCTION;
pub use writer::SqliteTransaction;

use self::group_commit::WriteQueue;
use self::reader::Reader;
use super::metrics::DbMetrics;
use super::read_cache::ReadCache;

/// Opening the database file failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("could not start the checkpoint thread: {0}")]
    Thread(#[from] std::io::Error),
}

#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    /// Idle reader connections; one is opened whenever every one is in use, so there are never
    /// more than threads reading at once.
    readers: Mutex<Vec<Reader>>,
    /// Answers of expensive reads, until the database changes.
    cache: ReadCache,
    writer: Arc<tokio::sync::Mutex<Connection>>,
    /// Writes waiting for the writer.
    writes: Arc<WriteQueue>,
    /// How long a write waits for the writer before it fails as busy.
    acquire_timeout: Duration,
    /// How long one statement may run before it is interrupted.
    statement_timeout: Duration,
    /// Dropped with the store, which stops the checkpointer.
    _checkpointer: std::sync::mpsc::Sender<()>,
}

impl SqliteStore {
    /// Opens (creating it when missing) the database file in WAL mode, with its writer, keeping
    /// up to `cache_bytes` of answers of expensive reads; a statement running longer than
    /// `statement_timeout` is interrupted.
    pub fn open(
        path: &Path,
        acquire_timeout: Duration,
        cache_bytes: usize,
        statement_timeout: Duration,
        metrics: &DbMetrics,
    ) -> Result<Self, OpenError> {
        let writer = connection::connect(path, false, Some(statement_timeout))?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        // Checkpoints run in the background, not inside whichever write crosses the threshold,
        // which would then wait for the checkpoint's syncs (see bench/NOTES.md).
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        let writer = Arc::new(tokio::sync::Mutex::new(writer));
        let own = connection::connect(path, false, None)?;
        let checkpointer = checkpointer::spawn(own, writer.clone())?;
        Ok(Self {
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
            cache: ReadCache::new(cache_bytes, metrics.clone()),
            writer,
            writes: Arc::new(WriteQueue::new(
                metrics.write_queue.clone(),
                metrics.batch_members.clone(),
            )),
            acquire_timeout,
            statement_timeout,
            _checkpointer: checkpointer,
        })
    }

    fn idle_readers(&self) -> std::sync::MutexGuard<'_, Vec<Reader>> {
        self.readers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

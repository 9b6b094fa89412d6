//! The checkpointer: a background thread that moves the WAL's pages into the database file, so
//! that no write does it inline and the WAL starts over instead of growing; and the last
//! checkpoint at shutdown, which leaves the WAL empty.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

use super::SqliteStore;
use super::connection::BUSY_TIMEOUT;

/// How often the background checkpointer moves the WAL's pages into the database file. Each
/// round first syncs the WAL written since the last, and the writer's appends that must read a
/// block from disk wait behind that writeback: the shorter the interval, the less each round
/// syncs at once, and the less an insert waits (see bench/NOTES.md).
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(50);

/// Every how many checkpoint rounds the checkpointer holds the writer (once a second). The price:
/// under a sustained maximum insert load the WAL file grows to a few hundred megabytes before a
/// round lets it start over; it is then reused, not grown further. Each hold puts its syncs in
/// front of queued writes, so it is not done every round (see bench/NOTES.md).
const WRITER_CHECKPOINT_EVERY: usize = 20;

/// Most checkpoint passes a round runs to catch up before it holds the writer, so that the
/// writer then waits for the few pages written during the last pass, not for all those written
/// during the round's own (see bench/NOTES.md).
const CATCH_UP_PASSES: usize = 5;

/// A catch-up pass that copies fewer WAL frames (pages) than this ends the catch-up.
const HOLD_FRAMES: i64 = 256;

/// How long shutdown waits before it tries again to empty a WAL that another checkpoint held.
const CHECKPOINT_RETRY: Duration = Duration::from_millis(10);

impl SqliteStore {
    /// Closes the idle readers and moves the whole WAL into the database file, leaving it
    /// empty (the writer closes with the last handle on the store): the process may end before
    /// the last connection closes (which would do the same), and the next start would then read
    /// every frame of the WAL to rebuild its index, which slows that start by as much as the WAL
    /// is large (see bench/NOTES.md).
    ///
    /// A checkpoint that finds another one running (the background checkpointer's pass) does
    /// not wait for it, and `wal_checkpoint` reports that as a row, not as an error: it is tried
    /// again until it completes or [`BUSY_TIMEOUT`] has passed.
    pub async fn close(&self) {
        self.idle_readers().clear();
        let deadline = tokio::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match wal_checkpoint(&*self.writer.lock().await, "TRUNCATE") {
                Ok(done) if !done.blocked => return,
                Ok(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(CHECKPOINT_RETRY).await;
                }
                Ok(_) => {
                    tracing::warn!("emptying the SQLite WAL at shutdown failed: it stayed busy");
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, "emptying the SQLite WAL at shutdown failed");
                    return;
                }
            }
        }
    }
}

/// A thread that checkpoints the WAL every [`CHECKPOINT_INTERVAL`], and once more when the
/// returned sender is dropped. Most rounds run on a connection of its own, beside the writer:
/// the copying and syncing happens while writes go on. Every [`WRITER_CHECKPOINT_EVERY`]th round
/// then holds the writer for the few frames written since: with no write in between that
/// checkpoint completes, so the next write starts the WAL over instead of growing it (writes
/// queue on the async lock meanwhile; no serving thread waits). Before it holds the writer, the
/// round catches up ([`CATCH_UP_PASSES`]), so that the writer waits for a few frames and two
/// syncs, not for every frame written during the round's own pass.
pub(super) fn spawn(
    own: Connection,
    writer: Arc<tokio::sync::Mutex<Connection>>,
) -> std::io::Result<std::sync::mpsc::Sender<()>> {
    use std::sync::mpsc::{RecvTimeoutError, channel};
    let (stop, stopped) = channel::<()>();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            for round in 1usize.. {
                let last = !matches!(
                    stopped.recv_timeout(CHECKPOINT_INTERVAL),
                    Err(RecvTimeoutError::Timeout)
                );
                let backfilled = checkpoint(&own);
                if last || round % WRITER_CHECKPOINT_EVERY == 0 {
                    catch_up(&own, backfilled);
                    checkpoint(&writer.blocking_lock());
                }
                if last {
                    break;
                }
            }
        })?;
    Ok(stop)
}

/// Repeats passive checkpoints while each still has many frames to copy: each copies what was
/// written during the one before, so they shrink until one copies fewer than [`HOLD_FRAMES`],
/// or [`CATCH_UP_PASSES`] ran. `backfilled` is what the last pass reported.
fn catch_up(conn: &Connection, mut backfilled: Option<i64>) {
    for _ in 0..CATCH_UP_PASSES {
        let now = checkpoint(conn);
        let copied = now.zip(backfilled).map(|(now, before)| now - before);
        backfilled = now;
        if copied.is_none_or(|frames| frames < HOLD_FRAMES) {
            break;
        }
    }
}

/// Runs a passive checkpoint; the number of the WAL's frames that are now in the database file.
fn checkpoint(conn: &Connection) -> Option<i64> {
    wal_checkpoint(conn, "PASSIVE")
        .map(|done| done.backfilled)
        .inspect_err(|error| tracing::warn!(%error, "checkpointing the SQLite WAL failed"))
        .ok()
}

/// What a checkpoint reported.
struct Checkpointed {
    /// Another connection kept it from finishing: a running checkpoint, or (for the modes that
    /// wait for them) readers or the writer. SQLite reports this as a row, not as an error.
    blocked: bool,
    /// The WAL's frames that are now in the database file.
    backfilled: i64,
}

/// Runs `PRAGMA wal_checkpoint` in `mode` (`PASSIVE`, `TRUNCATE`, ...).
fn wal_checkpoint(conn: &Connection, mode: &'static str) -> rusqlite::Result<Checkpointed> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok(Checkpointed {
            blocked: row.get::<_, i64>(0)? != 0,
            backfilled: row.get(2)?,
        })
    })
}

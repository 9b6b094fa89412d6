//! SQLite on the request path: statements run on the thread that serves the request.
//!
//! sqlx gives every SQLite connection its own thread and hands each statement over to it and the
//! answer back: two thread wake-ups per statement, which cost more CPU than the statement itself
//! (a point read from the page cache takes microseconds). Here, through rusqlite on the same
//! `libsqlite3-sys`, a read takes an idle reader connection, runs on the calling thread and puts
//! the connection back; every write and transaction goes through the one writer connection,
//! behind an async lock, so writers queue without blocking the threads that serve reads, and
//! queued writes commit together ([`super::group_commit`]). WAL mode keeps readers and the
//! writer from waiting on each other.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::functions::FunctionFlags;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{CachedStatement, Connection, OpenFlags, StatementStatus, ToSql};
use tokio::sync::OwnedMutexGuard;

use super::group_commit::WriteQueue;
use super::read_cache::{EXPENSIVE_STEPS, Expensive, ReadCache};
use super::{DbError, JsonRow, Statement};
use crate::query::Value;

/// Prepared statements kept per connection: every generated shape of every table.
const STATEMENT_CACHE: usize = 512;

/// The SQL function that renders SQLite's canonical date-time text `YYYY-MM-DD HH:MM:SS` (what
/// `CURRENT_TIMESTAMP` and the engine's writes store) as RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SSZ`;
/// NULL for anything else, which the generated SQL then hands to `strftime`. A tenth of the
/// cost of `strftime` for every row of a list.
pub const DATETIME_FUNCTION: &str = "api_datetime";

/// How often the background checkpointer moves the WAL's pages into the database file. Each
/// round first syncs the WAL written since the last, and the writer's appends that must read a
/// block from disk wait behind that writeback: at 100 ms, a round synced twice as much at once.
/// Nine interleaved pairs of 10-second insert runs, on a disk that flushed in 8-16 ms under the
/// load, all favoured 50 ms: p99 16-49 ms (median 37) at 100 ms, 7-27 ms (median 21) at 50 ms,
/// the maximum 58-80 ms against 31-62 ms.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(50);

/// Every how many checkpoint rounds the checkpointer holds the writer (once a second). Holding
/// it every round (then every 100 ms) put its syncs in front of queued writes ten times a second
/// (insert p99 25 ms instead of 9.5 ms). The price: under a sustained maximum insert load (10,000 a second here)
/// the WAL file grows to a few hundred megabytes before a round lets it start over; it is then
/// reused, not grown further.
const WRITER_CHECKPOINT_EVERY: usize = 20;

/// Most checkpoint passes a round runs to catch up before it holds the writer. Held right after
/// the round's pass (25-45 ms under a maximum insert load), the writer waited 10-26 ms for the
/// pages written during it; after catch-up passes, which shrank from about 1,500 frames to 150,
/// 8-13 ms. Insert p99.5 10.4-13.6 -> 6.4-8.5 ms, p99.9 19-21 -> 11-14 ms (five interleaved
/// 10-second runs of each).
const CATCH_UP_PASSES: usize = 5;

/// A catch-up pass that copies fewer WAL frames (pages) than this ends the catch-up.
const HOLD_FRAMES: i64 = 256;

/// Page cache of each connection, in KiB (SQLite's default is 2,000): a page not in it is read
/// from the operating system's file cache, in microseconds. Each serving thread has a reader
/// connection of its own, each with its own cache; at the default, they and the writer's were a
/// quarter of the runtime's peak memory under load. At 512, point reads slowed by a fifth on a
/// data set ten times the benchmark's.
const CACHE_KIB: i64 = 1024;

/// How long a statement waits for a lock another process holds before it fails as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long shutdown waits before it tries again to empty a WAL that another checkpoint held.
const CHECKPOINT_RETRY: Duration = Duration::from_millis(10);

/// Every how many virtual-machine steps a running statement checks its time limit: a point
/// read takes fewer, so only long statements ever look at the clock.
const PROGRESS_STEPS: std::ffi::c_int = 4096;

thread_local! {
    /// When the statement running on this thread started; statements run on the thread that
    /// asked for them, so the connection's progress handler reads it here.
    static STATEMENT_STARTED: Cell<Option<Instant>> = const { Cell::new(None) };
}

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
    ) -> Result<Self, OpenError> {
        let writer = connect(path, false, Some(statement_timeout))?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        // Checkpoints run in the background, not inside whichever write crosses the threshold
        // (measured: 12% of the CPU of an insert load, with an fsync in the request).
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        let writer = Arc::new(tokio::sync::Mutex::new(writer));
        let checkpointer = spawn_checkpointer(connect(path, false, None)?, writer.clone())?;
        Ok(Self {
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
            cache: ReadCache::new(cache_bytes),
            writer,
            writes: Arc::default(),
            acquire_timeout,
            statement_timeout,
            _checkpointer: checkpointer,
        })
    }

    /// Runs a read-only statement on the calling thread, or answers it from the cache.
    pub fn read(&self, statement: &Statement) -> rusqlite::Result<Option<JsonRow>> {
        let idle = self.idle_readers().pop();
        let mut reader = match idle {
            Some(reader) => reader,
            None => Reader::open(&self.path, self.statement_timeout)?,
        };
        let answer = if self.cache.enabled() && reader.expensive.contains(statement) {
            self.read_cached(&mut reader, statement)
        } else {
            reader.read(statement)
        };
        self.idle_readers().push(reader);
        answer
    }

    /// The cached answer while no commit was seen since it was computed; else a fresh one.
    fn read_cached(
        &self,
        reader: &mut Reader,
        statement: &Statement,
    ) -> rusqlite::Result<Option<JsonRow>> {
        let version: i64 = reader
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |row| row.get(0))?;
        if reader.data_version.replace(version) != Some(version) {
            self.cache.changed();
        }
        let epoch = self.cache.epoch();
        if let Some(answer) = self.cache.get(statement, epoch) {
            return Ok(answer);
        }
        let answer = reader.read(statement)?;
        self.cache.put(statement, epoch, &answer);
        Ok(answer)
    }

    /// Runs a writing statement on the writer connection, once it is free, in one transaction
    /// with the writes queued beside it.
    pub async fn write(&self, statement: &Statement) -> Result<Option<JsonRow>, DbError> {
        self.writes
            .write(&self.writer, self.acquire_timeout, statement)
            .await
    }

    /// Takes the writer and its write lock (`BEGIN IMMEDIATE`), so the transaction never fails
    /// half-way on a lock upgrade.
    pub async fn begin(&self) -> Result<SqliteTransaction, DbError> {
        let writer = tokio::time::timeout(self.acquire_timeout, self.writer.clone().lock_owned())
            .await
            .map_err(|_| DbError::Busy)?;
        writer.execute_batch("BEGIN IMMEDIATE")?;
        Ok(SqliteTransaction { writer, open: true })
    }

    /// Closes the idle readers and moves the whole WAL into the database file, leaving it
    /// empty: the process may end before the last connection closes (which would do the
    /// same), and the next start would then read every frame of the WAL to rebuild its index
    /// (100-240 ms for the 240 MB one a benchmark leaves behind, against 25 ms with none). The
    /// writer closes with the last handle on the store.
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

    fn idle_readers(&self) -> std::sync::MutexGuard<'_, Vec<Reader>> {
        self.readers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A read-only connection, with what it learnt about the statements it ran.
#[derive(Debug)]
struct Reader {
    conn: Connection,
    /// `PRAGMA data_version` when last asked; `None` before the first time.
    data_version: Option<i64>,
    expensive: Expensive,
}

impl Reader {
    fn open(path: &Path, statement_timeout: Duration) -> rusqlite::Result<Self> {
        Ok(Self {
            conn: connect(path, true, Some(statement_timeout))?,
            data_version: None,
            expensive: Expensive::new(1, EXPENSIVE_STEPS),
        })
    }

    /// Runs a statement, noting whether it was expensive.
    fn read(&mut self, statement: &Statement) -> rusqlite::Result<Option<JsonRow>> {
        let mut prepared = self.conn.prepare_cached(&statement.sql)?;
        let before = prepared.get_status(StatementStatus::VmStep);
        let answer = run(&mut prepared, statement)?;
        let steps = prepared
            .get_status(StatementStatus::VmStep)
            .wrapping_sub(before);
        self.expensive
            .note(statement, u64::try_from(steps).unwrap_or(0));
        Ok(answer)
    }
}

/// A transaction on the writer; dropped without [`SqliteTransaction::commit`], it rolls back.
#[derive(Debug)]
pub struct SqliteTransaction {
    writer: OwnedMutexGuard<Connection>,
    open: bool,
}

impl SqliteTransaction {
    pub fn fetch(&mut self, statement: &Statement) -> rusqlite::Result<Option<JsonRow>> {
        fetch(&self.writer, statement)
    }

    pub fn commit(mut self) -> rusqlite::Result<()> {
        self.writer.execute_batch("COMMIT")?;
        self.open = false;
        Ok(())
    }
}

impl Drop for SqliteTransaction {
    fn drop(&mut self) {
        if self.open
            && let Err(error) = self.writer.execute_batch("ROLLBACK")
        {
            tracing::error!(%error, "rolling back a SQLite transaction failed");
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
fn spawn_checkpointer(
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

/// Opens a connection; with a `statement_timeout`, a statement that runs longer is interrupted
/// (it fails with `SQLITE_INTERRUPT`, and a write in it is rolled back).
fn connect(
    path: &Path,
    read_only: bool,
    statement_timeout: Option<Duration>,
) -> rusqlite::Result<Connection> {
    let access = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
    };
    let conn = Connection::open_with_flags(path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "case_sensitive_like", true)?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    conn.create_scalar_function(
        DATETIME_FUNCTION,
        1,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| Ok(canonical_to_rfc3339(ctx.get_raw(0))),
    )?;
    if let Some(timeout) = statement_timeout {
        conn.progress_handler(
            PROGRESS_STEPS,
            Some(move || {
                STATEMENT_STARTED
                    .get()
                    .is_some_and(|start| start.elapsed() > timeout)
            }),
        )?;
    }
    if !read_only {
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
    }
    Ok(conn)
}

/// Runs a statement and reads its JSON (first column) and count (second column); a per-row
/// statement's rows are joined into one JSON array.
pub(super) fn fetch(conn: &Connection, statement: &Statement) -> rusqlite::Result<Option<JsonRow>> {
    run(&mut conn.prepare_cached(&statement.sql)?, statement)
}

/// Binds and runs a prepared statement under its time limit; see [`fetch`].
fn run(
    prepared: &mut CachedStatement<'_>,
    statement: &Statement,
) -> rusqlite::Result<Option<JsonRow>> {
    STATEMENT_STARTED.set(Some(Instant::now()));
    let answer = run_unlimited(prepared, statement);
    STATEMENT_STARTED.set(None);
    answer
}

fn run_unlimited(
    prepared: &mut CachedStatement<'_>,
    statement: &Statement,
) -> rusqlite::Result<Option<JsonRow>> {
    for (index, param) in statement.params.iter().enumerate() {
        prepared.raw_bind_parameter(index + 1, param)?;
    }
    let counted = prepared.column_count() > 1;
    let mut rows = prepared.raw_query();
    if statement.per_row {
        let mut json = String::from("[");
        while let Some(row) = rows.next()? {
            if json.len() > 1 {
                json.push(',');
            }
            json.push_str(row.get_ref(0)?.as_str()?);
        }
        json.push(']');
        return Ok(Some(JsonRow { json, count: None }));
    }
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let json = match row.get_ref(0)? {
        ValueRef::Null => return Ok(None),
        value => value.as_str()?.to_owned(),
    };
    let count = if counted {
        row.get::<_, Option<i64>>(1)?
    } else {
        None
    };
    Ok(Some(JsonRow { json, count }))
}

fn canonical_to_rfc3339(value: ValueRef<'_>) -> Option<String> {
    let ValueRef::Text(text) = value else {
        return None;
    };
    let canonical = text.len() == 19
        && text.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b' ',
            13 | 16 => *b == b':',
            _ => b.is_ascii_digit(),
        });
    if !canonical {
        return None;
    }
    let mut out = String::with_capacity(20);
    out.push_str(std::str::from_utf8(&text[..10]).ok()?);
    out.push('T');
    out.push_str(std::str::from_utf8(&text[11..]).ok()?);
    out.push('Z');
    Some(out)
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Self::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Self::Bool(v) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*v))),
            Self::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Self::Float(v) => ToSqlOutput::Borrowed(ValueRef::Real(*v)),
            Self::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Self::Json(v) => ToSqlOutput::Owned(rusqlite::types::Value::Text(v.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expensive_reads_are_cached_until_another_connection_commits() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("cache.sqlite");
        let store = SqliteStore::open(
            &path,
            Duration::from_secs(1),
            1 << 20,
            Duration::from_secs(30),
        )
        .expect("open");
        let other = Connection::open(&path).expect("another connection");
        other
            .execute_batch(
                "CREATE TABLE t (x TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 \
                 FROM n WHERE i < 10000) INSERT INTO t SELECT 'row ' || i FROM n",
            )
            .expect("a table to scan");
        let scan = crate::sql::testing::read(
            super::super::Dialect::Sqlite,
            "SELECT json_array(count(*)) FROM t WHERE x LIKE ?",
            vec![Value::Text("%99%".into())],
        );
        let count = || store.read(&scan).expect("read").expect("a row").json;
        assert_eq!(count(), "[280]");
        assert!(store.cache.get(&scan, store.cache.epoch()).is_none());
        assert_eq!(count(), "[280]", "learnt to be expensive, then kept");
        assert!(store.cache.get(&scan, store.cache.epoch()).is_some());
        assert_eq!(count(), "[280]");
        other
            .execute("INSERT INTO t VALUES ('x99')", [])
            .expect("a commit elsewhere");
        assert_eq!(count(), "[281]");
    }

    #[test]
    fn only_the_canonical_form_takes_the_fast_path() {
        let text = |s: &'static str| ValueRef::Text(s.as_bytes());
        assert_eq!(
            canonical_to_rfc3339(text("2024-01-31 10:20:30")).as_deref(),
            Some("2024-01-31T10:20:30Z")
        );
        for other in [
            "2024-01-31T10:20:30Z",
            "2024-01-31 10:20:30.5",
            "2024-01-31",
            "2024-01-31 1a:20:30",
            "not a date at all!!",
        ] {
            assert_eq!(canonical_to_rfc3339(text(other)), None, "{other}");
        }
        assert_eq!(canonical_to_rfc3339(ValueRef::Integer(1)), None);
        assert_eq!(canonical_to_rfc3339(ValueRef::Null), None);
    }
}

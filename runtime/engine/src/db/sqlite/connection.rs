//! Opening a SQLite connection the way every one of the runtime's is set up, and running one
//! statement on it under its time limit.

use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::functions::FunctionFlags;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{CachedStatement, Connection, OpenFlags, ToSql};

use crate::db::{JsonRow, Statement};
use crate::query::Value;

/// Prepared statements kept per connection: every generated shape of every table.
const STATEMENT_CACHE: usize = 512;

/// The SQL function that renders SQLite's canonical date-time text `YYYY-MM-DD HH:MM:SS` (what
/// `CURRENT_TIMESTAMP` and the engine's writes store) as RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SSZ`;
/// NULL for anything else, which the generated SQL then hands to `strftime`. It runs for every
/// date-time of every row of a list, at a fraction of `strftime`'s cost (see bench/NOTES.md).
pub const DATETIME_FUNCTION: &str = "api_datetime";

/// Page cache of each connection, in KiB (SQLite's default is 2,000): a page not in it is read
/// from the operating system's file cache, in microseconds. Each serving thread has a reader
/// connection of its own, each with its own cache: this trades the runtime's memory against
/// point reads of pages not cached (see bench/NOTES.md).
const CACHE_KIB: i64 = 1024;

/// How long a statement waits for a lock another process holds before it fails as busy.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Every how many virtual-machine steps a running statement checks its time limit: a point
/// read takes fewer, so only long statements ever look at the clock.
const PROGRESS_STEPS: std::ffi::c_int = 4096;

thread_local! {
    /// When the statement running on this thread started; statements run on the thread that
    /// asked for them, so the connection's progress handler reads it here.
    static STATEMENT_STARTED: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Opens a connection; with a `statement_timeout`, a statement that runs longer is interrupted
/// (it fails with `SQLITE_INTERRUPT`, and a write in it is rolled back).
pub(super) fn connect(
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
pub(super) fn run(
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

//! Readers: read-only connections, one per thread reading at once, each statement run on the
//! calling thread; expensive reads are answered from the cache while nothing was committed.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, StatementStatus};

use super::SqliteStore;
use super::connection::{connect, run};
use crate::db::read_cache::{EXPENSIVE_STEPS, Expensive};
use crate::db::{JsonRow, Statement};

/// A read-only connection, with what it learnt about the statements it ran.
#[derive(Debug)]
pub(super) struct Reader {
    conn: Connection,
    /// `PRAGMA data_version` when last asked; `None` before the first time.
    data_version: Option<i64>,
    expensive: Expensive,
}

impl SqliteStore {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Dialect;
    use crate::query::Value;
    use crate::sql::testing;

    #[test]
    fn expensive_reads_are_cached_until_another_connection_commits() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("cache.sqlite");
        let store = SqliteStore::open(
            &path,
            Duration::from_secs(1),
            1 << 20,
            Duration::from_secs(30),
            &crate::db::DbMetrics::default(),
        )
        .expect("open");
        let other = Connection::open(&path).expect("another connection");
        other
            .execute_batch(
                "CREATE TABLE t (x TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 \
                 FROM n WHERE i < 10000) INSERT INTO t SELECT 'row ' || i FROM n",
            )
            .expect("a table to scan");
        let scan = testing::read(
            Dialect::Sqlite,
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
}

//! The writer: the one read-write connection every write and transaction runs on, behind an
//! async lock. Single writes queue and commit together ([`super::group_commit`]); a transaction
//! holds the writer until it commits or rolls back.

use rusqlite::Connection;
use tokio::sync::OwnedMutexGuard;

use super::SqliteStore;
use super::connection::fetch;
use crate::db::{DbError, JsonRow, Statement};

impl SqliteStore {
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

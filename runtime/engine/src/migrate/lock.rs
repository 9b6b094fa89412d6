//! The one connection a changing migration command (`apply`, `baseline`, `undo`) holds from
//! start to end. On PostgreSQL it holds the session advisory lock [`ADVISORY_LOCK_KEY`] all the
//! while, so these commands run one at a time across every process: an `undo` and an `apply`
//! started together never interleave.

use sqlx::Connection as _;

use super::driver::MigrationConnection;
use super::{ADVISORY_LOCK_KEY, MigrateError};
use crate::db::Database;

pub(super) struct Locked(MigrationConnection);

impl Locked {
    /// Connects and, on PostgreSQL, waits for the advisory lock.
    pub(super) async fn open(db: &Database) -> Result<Self, sqlx::Error> {
        let mut conn = super::connect(db).await?;
        if let MigrationConnection::Postgres(pg) = &mut conn {
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(ADVISORY_LOCK_KEY)
                .execute(&mut *pg)
                .await?;
        }
        Ok(Self(conn))
    }

    pub(super) fn conn(&mut self) -> &mut MigrationConnection {
        &mut self.0
    }

    /// Releases the lock and closes the connection, then answers `result` (or, when `result`
    /// succeeded, the error of closing).
    pub(super) async fn finish<T>(
        self,
        result: Result<T, MigrateError>,
    ) -> Result<T, MigrateError> {
        let closed = self.close().await;
        let value = result?;
        closed?;
        Ok(value)
    }

    async fn close(self) -> Result<(), sqlx::Error> {
        match self.0 {
            MigrationConnection::Postgres(mut pg) => {
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(ADVISORY_LOCK_KEY)
                    .execute(&mut pg)
                    .await?;
                pg.close().await
            }
            MigrationConnection::Sqlite(lite) => lite.close().await,
        }
    }
}

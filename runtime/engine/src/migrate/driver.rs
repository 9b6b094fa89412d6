//! refinery's async driver traits, implemented over one sqlx connection, so migrations run
//! through the same driver as the rest of the runtime.

use refinery_core::Migration;
use refinery_core::traits::r#async::{AsyncMigrate, AsyncQuery, AsyncTransaction};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row, SqliteConnection};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The single connection a migration run holds from start to end.
pub(super) enum MigrationConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

macro_rules! run_in_transaction {
    ($conn:expr, $queries:expr) => {{
        let mut tx = $conn.begin().await?;
        let mut count = 0;
        for query in $queries {
            sqlx::raw_sql(AssertSqlSafe(query.to_owned()))
                .execute(&mut *tx)
                .await?;
            count += 1;
        }
        tx.commit().await?;
        Ok(count)
    }};
}

macro_rules! applied_rows {
    ($conn:expr, $query:expr) => {{
        let rows = sqlx::query(AssertSqlSafe($query.to_owned()))
            .fetch_all($conn)
            .await?;
        rows.iter()
            .map(|row| {
                let version: i32 = row.try_get(0)?;
                let name: String = row.try_get(1)?;
                let applied_on: String = row.try_get(2)?;
                let checksum: String = row.try_get(3)?;
                let applied_on = OffsetDateTime::parse(&applied_on, &Rfc3339)
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                let checksum = checksum
                    .parse::<u64>()
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                Ok(Migration::applied(version, name, applied_on, checksum))
            })
            .collect()
    }};
}

impl AsyncTransaction for MigrationConnection {
    type Error = sqlx::Error;

    async fn execute<'a, T: Iterator<Item = &'a str> + Send + 'a>(
        &'a mut self,
        queries: T,
    ) -> Result<usize, Self::Error> {
        match self {
            Self::Sqlite(conn) => run_in_transaction!(conn, queries),
            Self::Postgres(conn) => run_in_transaction!(conn, queries),
        }
    }
}

impl AsyncQuery<Vec<Migration>> for MigrationConnection {
    async fn query<'a>(&'a mut self, query: &'a str) -> Result<Vec<Migration>, Self::Error> {
        match self {
            Self::Sqlite(conn) => applied_rows!(&mut *conn, query),
            Self::Postgres(conn) => applied_rows!(&mut *conn, query),
        }
    }
}

impl AsyncMigrate for MigrationConnection {}

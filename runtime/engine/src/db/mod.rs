//! The one connection pool shared by every app, and the few ways the engine runs a statement.
//!
//! Every generated statement returns its response as JSON text, so the database does the
//! serialisation and the server passes the text through.

mod errors;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, PgPool, Postgres, Sqlite, SqlitePool};

pub use errors::{ConstraintNames, db_error};

use crate::config::DatabaseConfig;
use crate::query::Value;

/// Which SQL dialect a database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The shared pool.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqlitePools),
    Postgres(PgPool),
}

/// SQLite in WAL mode: readers run in parallel on their own pool and never wait for the
/// writer; every write goes through the one writer connection, so writers queue in the pool
/// instead of spinning on SQLite's busy lock.
#[derive(Debug, Clone)]
pub struct SqlitePools {
    pub read: SqlitePool,
    pub write: SqlitePool,
}

/// One parameterised statement: SQL text built from catalog identifiers, and bound values.
#[derive(Debug, Clone)]
pub struct Statement {
    pub sql: Arc<str>,
    pub params: Vec<Value>,
    /// The statement answers one JSON object per row (SQLite `RETURNING`) rather than one JSON
    /// value; running it joins the rows into an array.
    pub per_row: bool,
    /// The statement writes (SQLite runs it on the writer connection).
    pub writes: bool,
}

/// Connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("database.url `{url}` is neither sqlite:// nor postgres://")]
    UnknownScheme { url: String },
    #[error("could not create the folder {path} for the SQLite database: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("could not connect to {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
}

impl Database {
    /// Opens the pool. A SQLite file (and its folder) is created on first use, in WAL mode.
    /// Connections are not pinged before each use (a round trip per request); a broken one
    /// fails its statement and is dropped from the pool.
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, ConnectError> {
        let url = config.url.expose();
        let redacted = config.url.redacted();
        let connect_error = |source| ConnectError::Connect {
            url: redacted.clone(),
            source,
        };
        let acquire = Duration::from_secs(config.acquire_timeout_secs);
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(connect_error)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                .pragma("case_sensitive_like", "ON");
            if let Some(dir) = Path::new(options.get_filename()).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|source| ConnectError::CreateDir {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .acquire_timeout(acquire)
                .connect_with(options.clone())
                .await
                .map_err(connect_error)?;
            // More readers than twice the cores only add threads and page caches.
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
            let read = SqlitePoolOptions::new()
                .max_connections(config.max_connections.min(2 * cores))
                .test_before_acquire(false)
                .acquire_timeout(acquire)
                .connect_with(options.read_only(true))
                .await
                .map_err(connect_error)?;
            Ok(Self::Sqlite(SqlitePools { read, write }))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(connect_error)?;
            let pool = PgPoolOptions::new()
                .max_connections(config.max_connections)
                .test_before_acquire(false)
                .acquire_timeout(acquire)
                .connect_with(options)
                .await
                .map_err(connect_error)?;
            Ok(Self::Postgres(pool))
        } else {
            Err(ConnectError::UnknownScheme { url: redacted })
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Sqlite(_) => Dialect::Sqlite,
            Self::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs a statement and answers its JSON (first column) and optional count (second column);
    /// `None` when it answers no row or NULL. Per-row statements answer a JSON array.
    pub async fn fetch_json(&self, statement: &Statement) -> Result<Option<JsonRow>, sqlx::Error> {
        match self {
            Self::Sqlite(pools) if statement.per_row => {
                fetch_sqlite_rows(&pools.write, statement).await
            }
            Self::Sqlite(pools) if statement.writes => fetch_sqlite(&pools.write, statement).await,
            Self::Sqlite(pools) => fetch_sqlite(&pools.read, statement).await,
            Self::Postgres(pool) => fetch_postgres(pool, statement).await,
        }
    }

    /// Starts a transaction for a unit of work that must commit or roll back whole. On SQLite it
    /// takes the write lock at once, so the transaction never fails half-way on a lock upgrade.
    pub async fn begin(&self) -> Result<Transaction, sqlx::Error> {
        Ok(match self {
            Self::Sqlite(pools) => {
                Transaction::Sqlite(pools.write.begin_with("BEGIN IMMEDIATE").await?)
            }
            Self::Postgres(pool) => Transaction::Postgres(pool.begin().await?),
        })
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(pools) => {
                pools.read.close().await;
                pools.write.close().await;
            }
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

/// A statement's JSON answer and, when it counted, the total row count.
#[derive(Debug, Clone)]
pub struct JsonRow {
    pub json: String,
    pub count: Option<i64>,
}

/// An open transaction; dropped without [`Transaction::commit`], it rolls back.
#[derive(Debug)]
pub enum Transaction {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Transaction {
    pub async fn fetch_json(
        &mut self,
        statement: &Statement,
    ) -> Result<Option<JsonRow>, sqlx::Error> {
        match self {
            Self::Sqlite(tx) if statement.per_row => fetch_sqlite_rows(&mut **tx, statement).await,
            Self::Sqlite(tx) => fetch_sqlite(&mut **tx, statement).await,
            Self::Postgres(tx) => fetch_postgres(&mut **tx, statement).await,
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(tx) => tx.commit().await,
            Self::Postgres(tx) => tx.commit().await,
        }
    }
}

macro_rules! binder {
    ($name:ident, $db:ty, $query:ident $(, $out:ident)?) => {
        fn $name<'q $(, $out)?>(
            mut query: sqlx::query::$query<'q, $db, $($out,)? <$db as sqlx::Database>::Arguments>,
            params: &[Value],
        ) -> sqlx::query::$query<'q, $db, $($out,)? <$db as sqlx::Database>::Arguments> {
            for param in params {
                query = match param {
                    Value::Null => query.bind(None::<String>),
                    Value::Bool(v) => query.bind(*v),
                    Value::Int(v) => query.bind(*v),
                    Value::Float(v) => query.bind(*v),
                    Value::Text(v) => query.bind(v.clone()),
                    Value::Json(v) => query.bind(v.to_string()),
                };
            }
            query
        }
    };
}

binder!(bind_sqlite, Sqlite, Query);
binder!(bind_postgres, Postgres, Query);
binder!(bind_sqlite_scalar, Sqlite, QueryScalar, O);

macro_rules! fetcher {
    ($name:ident, $db:ident, $bind:ident) => {
        async fn $name<'e, E>(
            executor: E,
            statement: &Statement,
        ) -> Result<Option<JsonRow>, sqlx::Error>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            use sqlx::Row;
            let query = sqlx::query(AssertSqlSafe(statement.sql.clone()));
            let Some(row) = $bind(query, &statement.params)
                .fetch_optional(executor)
                .await?
            else {
                return Ok(None);
            };
            let Some(json) = row.try_get::<Option<String>, _>(0)? else {
                return Ok(None);
            };
            let count = if row.len() > 1 {
                row.try_get::<Option<i64>, _>(1)?
            } else {
                None
            };
            Ok(Some(JsonRow { json, count }))
        }
    };
}

fetcher!(fetch_sqlite, Sqlite, bind_sqlite);
fetcher!(fetch_postgres, Postgres, bind_postgres);

async fn fetch_sqlite_rows<'e, E>(
    executor: E,
    statement: &Statement,
) -> Result<Option<JsonRow>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    let query = sqlx::query_scalar::<_, String>(AssertSqlSafe(statement.sql.clone()));
    let rows = bind_sqlite_scalar(query, &statement.params)
        .fetch_all(executor)
        .await?;
    let mut json = String::with_capacity(2 + rows.iter().map(|r| r.len() + 1).sum::<usize>());
    json.push('[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(row);
    }
    json.push(']');
    Ok(Some(JsonRow { json, count: None }))
}

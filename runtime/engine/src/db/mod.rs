//! The one database every app shares, and the few ways the engine runs a statement: SQLite on
//! the serving thread ([`SqliteStore`]), PostgreSQL through each serving thread's lane of
//! connections, all of them within `database.max_connections` ([`PgDb`]).
//!
//! Every generated statement returns its response as JSON text, so the database does the
//! serialisation and the server passes the text through.

mod coalesce;
mod errors;
mod metrics;
mod postgres;
mod read_cache;
mod sqlite;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AssertSqlSafe, ConnectOptions, Postgres, SqliteConnection};

pub use errors::{DbError, Failure, Violation, ViolationKind};
pub use metrics::{DbMetrics, PoolState};
pub use postgres::PgDb;
use postgres::lane_sizes;
pub use sqlite::{DATETIME_FUNCTION, OpenError, SqliteStore, SqliteTransaction};

use crate::config::DatabaseConfig;
use crate::query::Value;
use crate::sql::{Combining, Plan};

/// Which SQL dialect a database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The most bound parameters one statement may carry.
    pub fn max_params(self) -> usize {
        match self {
            Self::Sqlite => crate::config::SQLITE_MAX_PARAMS,
            Self::Postgres => usize::from(u16::MAX),
        }
    }
}

/// The shared database.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

/// A SQLite database file in WAL mode: the request path runs on [`SqliteStore`]; migrations and
/// the catalog, once at start, open their own sqlx connection.
#[derive(Debug, Clone)]
pub struct SqliteDb {
    options: Arc<SqliteConnectOptions>,
    store: Arc<SqliteStore>,
    metrics: DbMetrics,
    commits: Commits,
}

impl SqliteDb {
    /// A connection of its own, for migrations and introspection.
    pub async fn connect(&self) -> Result<SqliteConnection, sqlx::Error> {
        self.options.connect().await
    }
}

/// One parameterised statement: SQL text built from catalog identifiers, and bound values.
#[derive(Debug, Clone)]
pub struct Statement {
    pub sql: Arc<str>,
    pub params: Vec<Value>,
    /// The statement answers one JSON object per row (SQLite `RETURNING`) rather than one JSON
    /// value; running it joins the rows into an array.
    pub per_row: bool,
    /// Whether it reads or writes, and how, on PostgreSQL, it runs as one statement with
    /// concurrent ones of the same text.
    pub plan: Plan,
}

impl Statement {
    /// The statement writes (SQLite runs it on the writer connection).
    pub fn writes(&self) -> bool {
        !self.plan.reads()
    }
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
    #[error("could not open {url}: {source}")]
    Open { url: String, source: OpenError },
}

impl Database {
    /// Opens the database. A SQLite file (and its folder) is created on first use, in WAL mode.
    /// On PostgreSQL, the process never holds more than `max_connections` connections: they are
    /// shared out between the `serving_threads` (see [`PgDb`]), and the start-up pool
    /// (the catalog; migrations open and close a connection of their own) is closed before the
    /// first serving connection opens. Connections are
    /// not pinged before each use (a round trip per request): a broken one fails its statement
    /// and is dropped from its pool. A statement that serves a request stops after
    /// `statement_timeout` (SQLite: its progress handler; PostgreSQL: `statement_timeout` on the
    /// serving connections, not on the start-up one that migrates).
    pub async fn connect(
        config: &DatabaseConfig,
        serving_threads: usize,
        statement_timeout: Duration,
    ) -> Result<Self, ConnectError> {
        let url = config.url.expose();
        let redacted = config.url.redacted();
        let connect_error = |source| ConnectError::Connect {
            url: redacted.clone(),
            source,
        };
        let acquire = Duration::from_secs(config.acquire_timeout_secs);
        let metrics = DbMetrics::default();
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(connect_error)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let path = options.get_filename();
            if let Some(dir) = path.parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|source| ConnectError::CreateDir {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            let store = SqliteStore::open(
                path,
                acquire,
                config.read_cache_bytes,
                statement_timeout,
                &metrics,
            )
            .map_err(|source| ConnectError::Open {
                url: redacted.clone(),
                source,
            })?;
            Ok(Self::Sqlite(SqliteDb {
                options: Arc::new(options),
                store: Arc::new(store),
                metrics,
                commits: Commits::default(),
            }))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(connect_error)?;
            // Start-up work (migrations, the catalog) needs one connection; requests get their
            // serving thread's lane.
            let pool = connect_retrying(&options, acquire, config, &redacted)
                .await
                .map_err(connect_error)?;
            // A statement stops at the request deadline, or sooner at its own limit.
            let own_limit = Duration::from_millis(config.statement_timeout_ms);
            let statement_limit = (config.statement_timeout_ms > 0
                && own_limit < statement_timeout)
                .then_some(own_limit);
            let timeout_ms = statement_limit
                .unwrap_or(statement_timeout)
                .as_millis()
                .max(1);
            let serving = options.options([("statement_timeout", format!("{timeout_ms}ms"))]);
            Ok(Self::Postgres(PgDb::new(
                pool,
                serving,
                lane_sizes(config.max_connections, serving_threads),
                acquire,
                config.read_cache_bytes,
                metrics,
                statement_limit,
            )))
        } else {
            Err(ConnectError::UnknownScheme { url: redacted })
        }
    }

    /// `database.statement_timeout_ms` when it stops statements before the request deadline
    /// does (PostgreSQL).
    pub fn statement_timeout(&self) -> Option<Duration> {
        match self {
            Self::Sqlite(_) => None,
            Self::Postgres(pg) => pg.statement_timeout(),
        }
    }

    /// Signalled after each write this process commits (the change log's readers wake on it).
    pub fn commits(&self) -> &Commits {
        match self {
            Self::Sqlite(lite) => &lite.commits,
            Self::Postgres(pg) => pg.commits(),
        }
    }

    /// The database layer's metric handles, for `/metrics`.
    pub fn metrics(&self) -> &DbMetrics {
        match self {
            Self::Sqlite(lite) => &lite.metrics,
            Self::Postgres(pg) => pg.metrics(),
        }
    }

    /// The serving connections now (PostgreSQL); `None` on SQLite, which has no pool.
    pub fn pool_state(&self) -> Option<PoolState> {
        match self {
            Self::Sqlite(_) => None,
            Self::Postgres(pg) => Some(pg.pool_state()),
        }
    }

    /// Whether the database answers `SELECT 1` within `within`.
    pub async fn ping(&self, within: Duration) -> bool {
        let statement = {
            let mut text = crate::sql::Text::new(self.dialect());
            text.push_str("SELECT '1'");
            text.into_read(Vec::new())
        };
        matches!(
            tokio::time::timeout(within, self.fetch_json(&statement)).await,
            Ok(Ok(_))
        )
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Sqlite(_) => Dialect::Sqlite,
            Self::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs a statement and answers its JSON (first column) and optional count (second column);
    /// `None` when it answers no row or NULL. Per-row statements answer a JSON array.
    pub async fn fetch_json(&self, statement: &Statement) -> Result<Option<JsonRow>, DbError> {
        let answer = self.fetch_uncounted(statement).await?;
        if statement.writes() {
            self.commits().signal();
        }
        Ok(answer)
    }

    async fn fetch_uncounted(&self, statement: &Statement) -> Result<Option<JsonRow>, DbError> {
        Ok(match self {
            Self::Sqlite(lite) if statement.writes() || statement.per_row => {
                lite.store.write(statement).await?
            }
            Self::Sqlite(lite) => lite.store.read(statement)?,
            Self::Postgres(pg) => {
                let answer = match statement.plan.combining() {
                    Some(Combining::Reads) => pg.read(statement).await,
                    Some(Combining::Inserts | Combining::Rows) | None => {
                        let lane = pg.lane().await;
                        lane.shared
                            .fetch(&lane.pool, statement)
                            .await
                            .map(|timed| timed.answer)
                    }
                };
                answer.inspect_err(|error| pg.after(error))?
            }
        })
    }

    /// Starts a transaction for a unit of work that must commit or roll back whole. On SQLite it
    /// takes the write lock at once, so the transaction never fails half-way on a lock upgrade.
    pub async fn begin(&self) -> Result<Transaction, DbError> {
        let open = match self {
            Self::Sqlite(lite) => Open::Sqlite(lite.store.begin().await?),
            Self::Postgres(pg) => Open::Postgres(
                pg.lane()
                    .await
                    .pool
                    .begin()
                    .await
                    .map_err(DbError::from)
                    .inspect_err(|error| pg.after(error))?,
            ),
        };
        Ok(Transaction {
            open,
            commits: self.commits().clone(),
        })
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(lite) => lite.store.close().await,
            Self::Postgres(pg) => pg.pool().close().await,
        }
    }
}

/// The start-up connection to PostgreSQL: a server that does not answer yet is tried again,
/// with backoff (0.5 s doubling to 5 s) and a log line per attempt, for
/// `database.connect_timeout_secs`; then the last error stands.
async fn connect_retrying(
    options: &PgConnectOptions,
    acquire: Duration,
    config: &DatabaseConfig,
    url: &str,
) -> Result<sqlx::PgPool, sqlx::Error> {
    let deadline = std::time::Instant::now() + Duration::from_secs(config.connect_timeout_secs);
    let mut backoff = Duration::from_millis(500);
    let mut attempt = 1u32;
    loop {
        let connected = PgPoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(acquire)
            .connect_with(options.clone())
            .await;
        let error = match connected {
            Ok(pool) => return Ok(pool),
            Err(error) => error,
        };
        let retry = matches!(error, sqlx::Error::PoolTimedOut) || DbError::unreachable(&error);
        if !retry || std::time::Instant::now() + backoff > deadline {
            return Err(error);
        }
        tracing::warn!(
            %url, attempt, retry_in_ms = backoff.as_millis() as u64, error = %error,
            "the database does not answer yet; retrying (database.connect_timeout_secs)"
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
        attempt += 1;
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
pub struct Transaction {
    open: Open,
    commits: Commits,
}

#[derive(Debug)]
enum Open {
    Sqlite(SqliteTransaction),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Transaction {
    pub async fn fetch_json(&mut self, statement: &Statement) -> Result<Option<JsonRow>, DbError> {
        Ok(match &mut self.open {
            Open::Sqlite(tx) => tx.fetch(statement)?,
            Open::Postgres(tx) => {
                fetch_postgres(&mut **tx, &statement.sql, &statement.params).await?
            }
        })
    }

    pub async fn commit(self) -> Result<(), DbError> {
        match self.open {
            Open::Sqlite(tx) => tx.commit()?,
            Open::Postgres(tx) => tx.commit().await?,
        }
        self.commits.signal();
        Ok(())
    }
}

/// Wakes whoever waits for this process's commits: the change log's reader. A signal given
/// while nobody waits is kept (one), so none is missed and a burst of writes wakes it once.
#[derive(Debug, Clone, Default)]
pub struct Commits(Arc<tokio::sync::Notify>);

impl Commits {
    pub fn signal(&self) {
        self.0.notify_one();
    }

    /// Resolves at the next signal, or at once when one was given since the last wait.
    pub async fn wait(&self) {
        self.0.notified().await;
    }
}

fn bind_postgres<'q>(
    mut query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    params: &[Value],
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
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

/// Runs `sql` with `params` and answers its JSON (first column) and count (second column).
async fn fetch_postgres<'e, E>(
    executor: E,
    sql: &Arc<str>,
    params: &[Value],
) -> Result<Option<JsonRow>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    use sqlx::Row;
    let query = sqlx::query(AssertSqlSafe(sql.clone()));
    let Some(row) = bind_postgres(query, params)
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

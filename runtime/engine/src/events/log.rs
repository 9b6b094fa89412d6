//! Reading the change log: pages of changes after an id, the ids it still holds, and pruning
//! what is past retention. Reads run on the serving connections like any API read.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value as Json};

use super::capture::LOG_TABLE;
use crate::db::{Database, DbError, Dialect, Statement};
use crate::query::Value;
use crate::sql::Text;

/// One committed change, as the log holds it: keys are column names.
#[derive(Debug, Clone, Deserialize)]
pub struct Change {
    pub id: i64,
    #[serde(rename = "tbl")]
    pub table: String,
    pub op: ChangeOp,
    pub key: Map<String, Json>,
    /// The row after the change; before it, for a delete.
    pub row: Option<Map<String, Json>>,
    /// When it was committed (RFC 3339, UTC).
    pub at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOp {
    Insert,
    Update,
    Delete,
}

impl ChangeOp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

/// The log's statements, written once for the database's dialect.
#[derive(Debug)]
pub struct Log {
    db: Database,
    page: Statement,
    bounds: Statement,
}

/// The ids the log holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bounds {
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
}

impl Bounds {
    /// Whether a reader that has seen every change up to `after` missed some to pruning: the
    /// oldest change kept is not the one right after it. `after = 0` asks for everything kept.
    pub fn expired(self, after: i64) -> bool {
        after > 0 && self.oldest.is_some_and(|oldest| oldest > after + 1)
    }
}

impl Log {
    pub fn new(db: Database) -> Self {
        let dialect = db.dialect();
        Self {
            page: page_statement(dialect),
            bounds: bounds_statement(dialect),
            db,
        }
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    /// Up to `limit` changes after `after`, by id.
    pub async fn after(&self, after: i64, limit: i64) -> Result<Vec<Change>, DbError> {
        let statement = Statement {
            params: vec![Value::Int(after), Value::Int(limit)],
            ..self.page.clone()
        };
        let Some(row) = self.db.fetch_json(&statement).await? else {
            return Ok(Vec::new());
        };
        serde_json::from_str(&row.json).map_err(|e| DbError::Decode(e.to_string()))
    }

    pub async fn bounds(&self) -> Result<Bounds, DbError> {
        let Some(row) = self.db.fetch_json(&self.bounds).await? else {
            return Ok(Bounds::default());
        };
        let (oldest, newest): (Option<i64>, Option<i64>) =
            serde_json::from_str(&row.json).map_err(|e| DbError::Decode(e.to_string()))?;
        Ok(Bounds { oldest, newest })
    }
}

fn page_statement(dialect: Dialect) -> Statement {
    let mut text = Text::new(dialect);
    let columns = "id, tbl, op, key, row, at";
    match dialect {
        Dialect::Sqlite => text.push_str(
            "SELECT json_group_array(json_object('id', id, 'tbl', tbl, 'op', op, \
             'key', json(key), 'row', json(row), 'at', at)) FROM (SELECT ",
        ),
        Dialect::Postgres => text.push_str(
            "SELECT coalesce(json_agg(json_build_object('id', id, 'tbl', tbl, 'op', op, \
             'key', key, 'row', row, \
             'at', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) \
             ORDER BY id), '[]')::text FROM (SELECT ",
        ),
    }
    text.push_str(columns);
    text.push_str(" FROM ");
    text.push_str(LOG_TABLE);
    text.push_str(" WHERE id > ");
    text.param(1);
    text.push_str(" ORDER BY id LIMIT ");
    text.param(2);
    text.push_str(") c");
    text.into_read(Vec::new())
}

fn bounds_statement(dialect: Dialect) -> Statement {
    let mut text = Text::new(dialect);
    text.push_str(match dialect {
        Dialect::Sqlite => "SELECT json_array(min(id), max(id)) FROM ",
        Dialect::Postgres => "SELECT json_build_array(min(id), max(id))::text FROM ",
    });
    text.push_str(LOG_TABLE);
    text.into_read(Vec::new())
}

/// Deletes changes committed more than `retention` ago, a batch at a time, always keeping the
/// newest (so ids never start again from 1). Answers how many it deleted.
pub async fn prune(db: &Database, retention: Duration) -> Result<u64, sqlx::Error> {
    let cutoff = time::OffsetDateTime::now_utc() - retention;
    let cutoff = cutoff
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut deleted = 0;
    loop {
        let batch = match db {
            Database::Sqlite(lite) => {
                let mut conn = lite.connect().await?;
                let sql = format!(
                    "DELETE FROM {LOG_TABLE} WHERE id IN (SELECT id FROM {LOG_TABLE} \
                     WHERE at < ?1 AND id < (SELECT max(id) FROM {LOG_TABLE}) \
                     ORDER BY id LIMIT {PRUNE_BATCH})"
                );
                let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&cutoff)
                    .execute(&mut conn)
                    .await?;
                sqlx::Connection::close(conn).await?;
                done.rows_affected()
            }
            Database::Postgres(pg) => {
                let sql = format!(
                    "DELETE FROM {LOG_TABLE} WHERE id IN (SELECT id FROM {LOG_TABLE} \
                     WHERE at < $1::timestamptz AND id < (SELECT max(id) FROM {LOG_TABLE}) \
                     ORDER BY id LIMIT {PRUNE_BATCH})"
                );
                let mut conn = sqlx::ConnectOptions::connect(pg.connect_options()).await?;
                let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&cutoff)
                    .execute(&mut conn)
                    .await?;
                sqlx::Connection::close(conn).await?;
                done.rows_affected()
            }
        };
        deleted += batch;
        if batch < PRUNE_BATCH {
            return Ok(deleted);
        }
    }
}

/// Changes deleted per statement while pruning.
const PRUNE_BATCH: u64 = 10_000;

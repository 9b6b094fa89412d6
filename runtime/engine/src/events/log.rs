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
    /// The row after the change; before it, for a delete.
    pub row: Map<String, Json>,
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

/// On SQLite a log row is one change (`id`); on PostgreSQL one statement's changes (ids
/// `last - n + 1` to `last`, the `rows` array in order), spread out here into one row each.
fn page_statement(dialect: Dialect) -> Statement {
    let mut text = Text::new(dialect);
    match dialect {
        Dialect::Sqlite => {
            text.push_str(
                "SELECT json_group_array(json_object('id', id, 'tbl', tbl, 'op', op, \
                 'row', json(row), 'at', at)) FROM (SELECT id, tbl, op, row, at FROM ",
            );
            text.push_str(LOG_TABLE);
            text.push_str(" WHERE id > ");
            text.param(1);
            text.push_str(" ORDER BY id LIMIT ");
            text.param(2);
            text.push_str(") c");
        }
        Dialect::Postgres => {
            text.push_str(
                "SELECT coalesce(json_agg(json_build_object('id', id, 'tbl', tbl, 'op', op, \
                 'row', row, \
                 'at', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) \
                 ORDER BY id), '[]')::text FROM (\
                 SELECT l.last - l.n + e.ord AS id, l.tbl, l.op, e.row, l.at FROM ",
            );
            text.push_str(LOG_TABLE);
            text.push_str(
                " l CROSS JOIN LATERAL json_array_elements(l.rows) WITH ORDINALITY AS e(row, ord) \
                 WHERE l.last > ",
            );
            text.param(1);
            text.push_str(" AND l.last - l.n + e.ord > ");
            text.param(1);
            text.push_str(" ORDER BY l.last, e.ord LIMIT ");
            text.param(2);
            text.push_str(") c");
        }
    }
    text.into_read(Vec::new())
}

/// Both ends of the log, each read from the primary key's index (SQLite optimises a lone
/// `min` or `max`, not the two in one select). On PostgreSQL through [`BOUNDS_FUNCTION`]: an
/// app's own role sees only its tables' rows of the log, but its bounds are the whole log's.
fn bounds_statement(dialect: Dialect) -> Statement {
    let mut text = Text::new(dialect);
    match dialect {
        Dialect::Sqlite => text.push_str(&bounds_sql(dialect)),
        Dialect::Postgres => text.push_str(&format!("SELECT {BOUNDS_FUNCTION}()::text")),
    }
    text.into_read(Vec::new())
}

/// The oldest and the newest id, as a JSON array (on PostgreSQL the oldest is the first id of
/// the oldest row's statement).
fn bounds_sql(dialect: Dialect) -> String {
    match dialect {
        Dialect::Sqlite => format!(
            "SELECT json_array((SELECT min(id) FROM {LOG_TABLE}), (SELECT max(id) FROM {LOG_TABLE}))"
        ),
        Dialect::Postgres => format!(
            "SELECT json_build_array(\
               (SELECT last - n + 1 FROM {LOG_TABLE} ORDER BY last LIMIT 1), \
               (SELECT max(last) FROM {LOG_TABLE}))"
        ),
    }
}

/// PostgreSQL: the function answering the log's bounds (as [`bounds_statement`]).
pub const BOUNDS_FUNCTION: &str = "runtime_change_bounds";

/// PostgreSQL: the function deleting one batch past retention (as [`prune_statement`]),
/// answering how many log rows it deleted.
pub const PRUNE_FUNCTION: &str = "runtime_prune";

/// PostgreSQL: creates [`BOUNDS_FUNCTION`] and [`PRUNE_FUNCTION`]; `definer` makes them run as
/// their owner, so an app's own role, which may only read its own tables' changes, prunes and
/// reads the bounds of the whole log.
pub fn functions_sql(definer: &str) -> String {
    format!(
        "CREATE OR REPLACE FUNCTION {BOUNDS_FUNCTION}() RETURNS json LANGUAGE sql STABLE \
         {definer} AS $fn$ {bounds} $fn$;
         CREATE OR REPLACE FUNCTION {PRUNE_FUNCTION}(cutoff timestamptz) RETURNS bigint \
         LANGUAGE plpgsql {definer} AS $fn$
         DECLARE deleted bigint;
         BEGIN
           {prune};
           GET DIAGNOSTICS deleted = ROW_COUNT;
           RETURN deleted;
         END
         $fn$;",
        bounds = bounds_sql(Dialect::Postgres),
        prune = prune_sql(Dialect::Postgres, "cutoff"),
    )
}

/// The statement that deletes a batch of changes committed before its one parameter (RFC 3339
/// text), always keeping the newest row (so ids never start again from 1). Commit times grow
/// with ids (one writer on SQLite, one sequencer on PostgreSQL), so a batch is the oldest
/// changes up to the last one past retention among them: no index on the time, no scan beyond
/// a batch. Run until it deletes fewer than [`PRUNE_BATCH`].
/// On PostgreSQL it runs through [`PRUNE_FUNCTION`].
pub fn prune_statement(dialect: Dialect) -> String {
    match dialect {
        Dialect::Sqlite => prune_sql(dialect, "?1"),
        Dialect::Postgres => format!("SELECT {PRUNE_FUNCTION}($1::timestamptz)"),
    }
}

/// The delete of one batch, its cutoff written as `param`.
fn prune_sql(dialect: Dialect, param: &str) -> String {
    let id = match dialect {
        Dialect::Sqlite => "id",
        Dialect::Postgres => "last",
    };
    format!(
        "DELETE FROM {LOG_TABLE} WHERE {id} <= (\
           SELECT max({id}) FROM (SELECT {id}, at FROM {LOG_TABLE} ORDER BY {id} LIMIT {PRUNE_BATCH}) b \
           WHERE b.at < {param}) \
         AND {id} < (SELECT max({id}) FROM {LOG_TABLE})"
    )
}

/// The commit time before which changes are past `retention`, as [`prune_statement`] takes it.
pub fn cutoff(retention: Duration) -> String {
    (time::OffsetDateTime::now_utc() - retention)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Log rows looked at per delete while pruning.
pub const PRUNE_BATCH: u64 = 10_000;

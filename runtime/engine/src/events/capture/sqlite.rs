//! SQLite: `AFTER` row triggers write each change straight into the log, whose
//! `AUTOINCREMENT` ids follow commit order (SQLite has one writer at a time, and an id taken by
//! a transaction that rolls back is taken back with it). Values are rendered as the API renders
//! them, with built-in functions only, so a write through `sqlite3` runs the same triggers.

use std::fmt::Write as _;

use sqlx::{Connection as _, SqliteConnection};

use super::{Installed, LOG_TABLE, TRIGGER_PREFIX as PREFIX};
use crate::catalog::{ColumnKind, Table};
use crate::sql::quote::{ident, literal};

const OPS: [(&str, &str); 3] = [("insert", "NEW"), ("update", "NEW"), ("delete", "OLD")];

pub(super) async fn install(
    conn: &mut SqliteConnection,
    tables: &[&Table],
) -> Result<Installed, sqlx::Error> {
    let mut tx = conn.begin().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS {LOG_TABLE} (\
         id INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, op TEXT NOT NULL, \
         row TEXT NOT NULL, at TEXT NOT NULL)"
    )))
    .execute(&mut *tx)
    .await?;
    let existing: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT name, tbl_name, sql FROM sqlite_schema WHERE type = 'trigger' AND name LIKE ?1",
    )
    .bind(format!("{PREFIX}%"))
    .fetch_all(&mut *tx)
    .await?;
    let mut installed = Installed::default();
    let mut wanted = Vec::new();
    for table in tables {
        let mut changed = false;
        for (op, image) in OPS {
            let name = format!("{PREFIX}{}_{op}", table.name);
            let sql = trigger(&name, table, op, image);
            let current = existing.iter().find(|(n, _, _)| *n == name);
            if current.is_none_or(|(_, _, text)| text.as_deref() != Some(sql.as_str())) {
                if current.is_some() {
                    drop_trigger(&mut tx, &name).await?;
                }
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *tx)
                    .await?;
                changed = true;
            }
            wanted.push(name);
        }
        if changed {
            installed.created.push(table.name.clone());
        }
    }
    for (name, table, _) in &existing {
        if !wanted.contains(name) {
            drop_trigger(&mut tx, name).await?;
            if !installed.dropped.contains(table) {
                installed.dropped.push(table.clone());
            }
        }
    }
    tx.commit().await?;
    Ok(installed)
}

async fn drop_trigger(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP TRIGGER IF EXISTS {}",
        ident(name)
    )))
    .execute(&mut **tx)
    .await
    .map(drop)
}

/// The `CREATE TRIGGER` statement of one table and operation, as `sqlite_schema` keeps it (so
/// an unchanged trigger is recognised and left alone).
fn trigger(name: &str, table: &Table, op: &str, image: &str) -> String {
    let mut sql = format!(
        "CREATE TRIGGER {} AFTER {} ON {} BEGIN INSERT INTO {LOG_TABLE} (tbl, op, row, at) \
         VALUES ({}, '{op}', ",
        ident(name),
        op.to_uppercase(),
        ident(&table.name),
        literal(&table.name),
    );
    let all: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    object(&mut sql, table, &all, image);
    sql.push_str(", strftime('%Y-%m-%dT%H:%M:%fZ', 'now')); END");
    sql
}

/// `json_object(...)` of the named columns of the `NEW` or `OLD` row, keyed by column name.
fn object(sql: &mut String, table: &Table, columns: &[&str], image: &str) {
    sql.push_str("json_object(");
    for (n, name) in columns.iter().enumerate() {
        if n > 0 {
            sql.push_str(", ");
        }
        let kind = table.column(name).map_or(ColumnKind::Other, |c| c.kind);
        let value = format!("{image}.{}", ident(name));
        let _ = write!(sql, "{}, {}", literal(name), rendered(kind, &value));
    }
    sql.push(')');
}

/// A value as the API renders it (see `sql/json.rs`), with built-in functions only. A value
/// JSON cannot hold (a BLOB) is written as hex rather than failing the write.
fn rendered(kind: ColumnKind, value: &str) -> String {
    match kind {
        ColumnKind::Timestamp | ColumnKind::TimestampTz => {
            format!("coalesce(strftime('%Y-%m-%dT%H:%M:%SZ', {value}), {value})")
        }
        ColumnKind::Boolean => format!(
            "CASE WHEN {value} IS NULL THEN NULL WHEN {value} THEN json('true') ELSE json('false') END"
        ),
        ColumnKind::Json => {
            format!("CASE WHEN json_valid({value}) THEN json({value}) ELSE {value} END")
        }
        _ => format!("CASE WHEN typeof({value}) = 'blob' THEN hex({value}) ELSE {value} END"),
    }
}

//! PostgreSQL: statement-level `AFTER` triggers with transition tables write each statement's
//! changes into the inbox in one insert, through one function (`runtime_capture`) whose
//! arguments name the table's key columns. Ids are given later, in commit order, by the
//! sequencer: a sequence value taken inside a transaction says nothing about when it commits.
//! A NOTIFY from the trigger would serialise every writing transaction's commit on
//! PostgreSQL's notification lock, so the triggers do not notify; the runtime's own writes wake
//! the sequencer in-process, and other writers are found by polling the inbox.

use sqlx::PgPool;

use super::{INBOX_TABLE, Installed, LOG_TABLE, key_columns};
use crate::catalog::Table;
use crate::sql::quote::{ident, literal};

/// Held while the log and the triggers are brought in line, so runtimes starting together do
/// not race.
const INSTALL_LOCK: i64 = 0x7275_6e74_6576_0001;

const FUNCTION: &str = "runtime_capture";

/// The triggers of one table: name, event, transition table.
const TRIGGERS: [(&str, &str, &str); 3] = [
    (
        "runtime_changes_insert",
        "INSERT",
        "NEW TABLE AS runtime_rows",
    ),
    (
        "runtime_changes_update",
        "UPDATE",
        "NEW TABLE AS runtime_rows",
    ),
    (
        "runtime_changes_delete",
        "DELETE",
        "OLD TABLE AS runtime_rows",
    ),
];

fn schema_sql() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {INBOX_TABLE} (\
           seq bigserial PRIMARY KEY, tbl text NOT NULL, op text NOT NULL, key jsonb NOT NULL, \
           row jsonb);
         CREATE TABLE IF NOT EXISTS {LOG_TABLE} (\
           id bigint PRIMARY KEY, tbl text NOT NULL, op text NOT NULL, key jsonb NOT NULL, \
           row jsonb, at timestamptz NOT NULL);
         CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $fn$
         BEGIN
           INSERT INTO {INBOX_TABLE} (tbl, op, key, row)
           SELECT TG_TABLE_NAME, lower(TG_OP),
                  coalesce((SELECT jsonb_object_agg(k, r.j -> k) FROM unnest(TG_ARGV) AS k), '{{}}'),
                  r.j
           FROM (SELECT to_jsonb(t) AS j FROM runtime_rows t) r;
           RETURN NULL;
         END
         $fn$;"
    )
}

pub(super) async fn install(pool: &PgPool, tables: &[&Table]) -> Result<Installed, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(INSTALL_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(schema_sql()))
        .execute(&mut *tx)
        .await?;
    // Each runtime trigger of the current schema: its table, name and arguments.
    let existing: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.relname::text, t.tgname::text, \
                replace(encode(t.tgargs, 'escape'), '\\000', ',') \
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         WHERE c.relnamespace = current_schema()::regnamespace \
           AND t.tgname LIKE 'runtime_changes_%'",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut installed = Installed::default();
    for table in tables {
        let key = key_columns(table);
        let args: String = key.iter().map(|k| format!("{k},")).collect();
        let current = |name: &str| {
            existing
                .iter()
                .find(|(t, n, _)| *t == table.name && n == name)
                .map(|(_, _, a)| a.as_str())
        };
        if TRIGGERS
            .iter()
            .all(|(name, _, _)| current(name) == Some(args.as_str()))
        {
            continue;
        }
        let arguments: Vec<String> = key.iter().map(|k| literal(k).to_string()).collect();
        for (name, event, transition) in TRIGGERS {
            let sql = format!(
                "DROP TRIGGER IF EXISTS {name} ON {table}; \
                 CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {transition} \
                 FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}({arguments})",
                table = ident(&table.name),
                arguments = arguments.join(", "),
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await?;
        }
        installed.created.push(table.name.clone());
    }
    for (table, name, _) in &existing {
        if tables.iter().any(|t| t.name == *table) {
            continue;
        }
        let sql = format!("DROP TRIGGER IF EXISTS {} ON {}", ident(name), ident(table));
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await?;
        if !installed.dropped.contains(table) {
            installed.dropped.push(table.clone());
        }
    }
    tx.commit().await?;
    Ok(installed)
}

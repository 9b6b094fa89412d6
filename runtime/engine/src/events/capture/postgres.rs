//! PostgreSQL: statement-level `AFTER` triggers with transition tables write each statement's
//! changes into the inbox in one insert, through one function (`runtime_capture`): each row as
//! `json` (cheaper to build than `jsonb`; its key is read from it later), into a table without
//! an index (the sequencer sorts the few rows waiting). Ids are given later, in commit order, by the
//! sequencer: a sequence value taken inside a transaction says nothing about when it commits.
//! A NOTIFY from the trigger would serialise every writing transaction's commit on
//! PostgreSQL's notification lock, so the triggers do not notify; the runtime's own writes wake
//! the sequencer in-process, and other writers are found by polling the inbox.
//!
//! Every function the log works through (capture, sequencing, pruning, its bounds) is
//! `SECURITY DEFINER`, owned by whoever installs it (the owner), with a fixed `search_path`: an
//! app that connects as its own role (`runtime db roles`) has its writes captured, sequences,
//! prunes and reads the bounds without holding the inbox or the whole log.

use sqlx::PgPool;

use super::{INBOX_TABLE, Installed, LOG_TABLE};
use crate::catalog::Table;
use crate::events::{log, sequencer};
use crate::sql::quote::ident;

/// Held while the log and the triggers are brought in line, so runtimes starting together do
/// not race.
const INSTALL_LOCK: i64 = 0x7275_6e74_6576_0001;

pub(crate) const FUNCTION: &str = "runtime_capture";

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

/// The names of the triggers every captured table has.
pub const TRIGGER_NAMES: [&str; 3] = [TRIGGERS[0].0, TRIGGERS[1].0, TRIGGERS[2].0];

/// What makes a function run as its owner, with nothing of the caller's `search_path` (the
/// runtime's schema, then `pg_temp`, so no temporary table stands in for the log).
fn definer(schema: &str) -> String {
    format!(
        "SECURITY DEFINER SET search_path = {}, pg_temp",
        ident(schema)
    )
}

fn schema_sql(definer: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {INBOX_TABLE} (\
           seq bigserial NOT NULL, tbl text NOT NULL, op text NOT NULL, row json NOT NULL);
         CREATE TABLE IF NOT EXISTS {LOG_TABLE} (\
           id bigint PRIMARY KEY, tbl text NOT NULL, op text NOT NULL, row json NOT NULL, \
           at timestamptz NOT NULL);
         CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql {definer} AS $fn$
         BEGIN
           INSERT INTO {INBOX_TABLE} (tbl, op, row)
           SELECT TG_TABLE_NAME, lower(TG_OP), to_json(t) FROM runtime_rows t;
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
    let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(&mut *tx)
        .await?;
    let definer = definer(&schema);
    for sql in [
        schema_sql(&definer),
        sequencer::function_sql(&definer),
        log::functions_sql(&definer),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await?;
    }
    // Each runtime trigger of the current schema: its table and name.
    let existing: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, t.tgname::text \
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         WHERE c.relnamespace = current_schema()::regnamespace \
           AND t.tgname LIKE 'runtime_changes_%'",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut installed = Installed::default();
    for table in tables {
        let present = |name: &str| existing.iter().any(|(t, n)| *t == table.name && n == name);
        if TRIGGERS.iter().all(|(name, _, _)| present(name)) {
            continue;
        }
        for (name, event, transition) in TRIGGERS {
            let sql = format!(
                "DROP TRIGGER IF EXISTS {name} ON {table}; \
                 CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {transition} \
                 FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()",
                table = ident(&table.name),
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await?;
        }
        installed.created.push(table.name.clone());
    }
    for (table, name) in &existing {
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

//! PostgreSQL: statement-level `AFTER` triggers with transition tables write each statement's
//! changes into the inbox as ONE row, through one function (`runtime_capture`): the rows as a
//! `json` array (cheaper to build than `jsonb`; keys are read from the rows later) and their
//! count, into a table without an index (the sequencer sorts the few rows waiting). Concurrent
//! inserts run as one statement ([`crate::db`]'s coalescing), so under load one inbox row, and
//! later one log row, carries many changes: capture costs a row write per statement, not per
//! changed row. The array is stored uncompressed (`STORAGE EXTERNAL`): compressing it would cost
//! more CPU than the bytes it saves. Ids are given later, in commit order, by the sequencer: a
//! sequence value taken inside a transaction says nothing about when it commits.
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

/// The inbox, the log and the capture function. Each log row is one statement's changes: ids
/// `last - n + 1` to `last`, in the array's order. Tables of the earlier one-row-per-change form
/// are converted in place (each row an array of one). Tables already in shape are not altered,
/// so a runtime starting beside others that write takes no lock on them.
fn schema_sql(definer: &str) -> String {
    format!(
        "DO $convert$ BEGIN
           IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                      AND table_name = '{INBOX_TABLE}' AND column_name = 'row') THEN
             ALTER TABLE {INBOX_TABLE} ALTER COLUMN row TYPE json USING json_build_array(row);
             ALTER TABLE {INBOX_TABLE} RENAME COLUMN row TO rows;
             ALTER TABLE {INBOX_TABLE} ADD COLUMN n integer NOT NULL DEFAULT 1;
             ALTER TABLE {INBOX_TABLE} ALTER COLUMN n DROP DEFAULT;
           END IF;
           IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                      AND table_name = '{LOG_TABLE}' AND column_name = 'row') THEN
             ALTER TABLE {LOG_TABLE} ALTER COLUMN row TYPE json USING json_build_array(row);
             ALTER TABLE {LOG_TABLE} RENAME COLUMN row TO rows;
             ALTER TABLE {LOG_TABLE} RENAME COLUMN id TO last;
             ALTER TABLE {LOG_TABLE} ADD COLUMN n integer NOT NULL DEFAULT 1;
             ALTER TABLE {LOG_TABLE} ALTER COLUMN n DROP DEFAULT;
           END IF;
         END $convert$;
         CREATE TABLE IF NOT EXISTS {INBOX_TABLE} (\
           seq bigserial NOT NULL, tbl text NOT NULL, op text NOT NULL, rows json NOT NULL, \
           n integer NOT NULL);
         CREATE TABLE IF NOT EXISTS {LOG_TABLE} (\
           last bigint PRIMARY KEY, n integer NOT NULL, tbl text NOT NULL, op text NOT NULL, \
           rows json NOT NULL, at timestamptz NOT NULL);
         DO $storage$ BEGIN
           IF (SELECT attstorage FROM pg_attribute
               WHERE attrelid = '{INBOX_TABLE}'::regclass AND attname = 'rows') <> 'e' THEN
             ALTER TABLE {INBOX_TABLE} ALTER COLUMN rows SET STORAGE EXTERNAL;
           END IF;
           IF (SELECT attstorage FROM pg_attribute
               WHERE attrelid = '{LOG_TABLE}'::regclass AND attname = 'rows') <> 'e' THEN
             ALTER TABLE {LOG_TABLE} ALTER COLUMN rows SET STORAGE EXTERNAL;
           END IF;
         END $storage$;
         CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql {definer} AS $fn$
         BEGIN
           INSERT INTO {INBOX_TABLE} (tbl, op, rows, n)
           SELECT TG_TABLE_NAME, lower(TG_OP), json_agg(t), count(*) FROM runtime_rows t
           HAVING count(*) > 0;
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

//! Capture in the database: the change log tables and the triggers that fill them, kept in step
//! with the catalog at start. Every committed insert, update and delete of a served table
//! (one an enabled app lists; views excepted) is written to the log in the writing transaction,
//! whoever writes it (the runtime, an app's own code, `psql`, `sqlite3`), so a rolled-back
//! write leaves nothing. Triggers on tables no longer served are dropped.

mod postgres;
mod sqlite;

use crate::catalog::{Catalog, Table, TableKind};
use crate::db::Database;

pub use postgres::TRIGGER_NAMES;

/// The change log, by increasing id: on SQLite one row per committed change, on PostgreSQL one
/// row per statement's changes (ids `last - n + 1` to `last`). Hidden from every API.
pub const LOG_TABLE: &str = "runtime_changes";

/// PostgreSQL: where triggers write, before the sequencer gives each change its `id` in commit
/// order ([`super::sequencer`]). Hidden from every API.
pub const INBOX_TABLE: &str = "runtime_change_inbox";

/// Every trigger the runtime creates starts with this.
pub const TRIGGER_PREFIX: &str = "runtime_changes_";

/// PostgreSQL: the functions the log works through, each run as its owner.
pub const FUNCTIONS: [&str; 4] = [
    postgres::FUNCTION,
    super::sequencer::FUNCTION,
    super::log::PRUNE_FUNCTION,
    super::log::BOUNDS_FUNCTION,
];

/// Whether a table is the runtime's own, which no app may list.
pub fn is_internal(table: &str) -> bool {
    table == LOG_TABLE || table == INBOX_TABLE
}

/// What the capture step did at start.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Installed {
    /// Tables whose triggers were created or brought in line with their columns.
    pub created: Vec<String>,
    /// Tables no longer served whose triggers were dropped.
    pub dropped: Vec<String>,
}

/// Creates the log and brings the triggers in line with `served` (table names): created where
/// missing or out of date, dropped where no longer served. With `enabled` off, every trigger is
/// dropped (the log stays, and is pruned as usual).
pub async fn install(
    db: &Database,
    catalog: &Catalog,
    served: &[String],
    enabled: bool,
) -> Result<Installed, sqlx::Error> {
    let tables: Vec<&Table> = if enabled {
        served
            .iter()
            .filter_map(|name| catalog.table(name))
            .filter(|table| table.kind == TableKind::Table)
            .collect()
    } else {
        Vec::new()
    };
    match db {
        Database::Sqlite(lite) => {
            let mut conn = lite.connect().await?;
            let installed = sqlite::install(&mut conn, &tables).await;
            sqlx::Connection::close(conn).await?;
            installed
        }
        Database::Postgres(pg) => postgres::install(pg.pool(), &tables).await,
    }
}

//! `runtime start --app NAME` connected as the app's own role (`apps.<name>.database_url`):
//! such a role may not change the schema, so start checks what the owner set up instead of
//! doing it. Pending migrations (with `migrations.apply_on_start`) and change capture missing
//! on the app's tables are errors that say to run `runtime migrate apply` or `runtime start` as
//! the owner first, never a raw `permission denied`.

use std::path::Path;

use anyhow::Context as _;
use sqlx::PgPool;

use crate::app::App;
use crate::catalog::{Catalog, TableKind};
use crate::db::Database;
use crate::events::capture;
use crate::migrate::{self, HISTORY_TABLE};

/// Fails when migrations are pending: the role cannot apply them. Reads the history on a
/// connection of its own (as `migrate status`), before any serving connection opens.
pub async fn check_migrations(db: &Database, app: &str, dir: &Path) -> anyhow::Result<()> {
    let pool = pool(db)?;
    let (exists, readable): (bool, bool) = sqlx::query_as(
        "SELECT to_regclass($1) IS NOT NULL, \
         coalesce(has_table_privilege(to_regclass($1)::oid, 'SELECT'), false)",
    )
    .bind(HISTORY_TABLE)
    .fetch_one(pool)
    .await
    .context("reading the migration history")?;
    if !exists {
        anyhow::bail!(
            "app `{app}` connects as its own role (apps.{app}.database_url), which cannot apply \
             migrations, and none is applied yet: run `runtime migrate apply` as the owner \
             (database.url) first"
        );
    }
    if !readable {
        anyhow::bail!(
            "app `{app}` connects as its own role (apps.{app}.database_url), which may not read \
             {HISTORY_TABLE}: run `runtime db roles --apply` as the owner first"
        );
    }
    let states = migrate::status(db, dir)
        .await
        .context("reading the migration history")?;
    if let Some(changed) = states.iter().find(|state| state.changed) {
        anyhow::bail!(migrate::MigrateError::Changed {
            version: changed.version,
            name: changed.name.clone(),
        });
    }
    let pending: Vec<String> = states
        .into_iter()
        .filter(|state| state.applied_on.is_none())
        .map(|state| format!("V{}__{}", state.version, state.name))
        .collect();
    if !pending.is_empty() {
        anyhow::bail!(
            "{} migration(s) in {} are pending ({}), and app `{app}` connects as its own role \
             (apps.{app}.database_url), which cannot apply them: run `runtime migrate apply` as \
             the owner (database.url) first, or set migrations.apply_on_start = false to serve \
             the schema as it is",
            pending.len(),
            dir.display(),
            pending.join(", ")
        );
    }
    Ok(())
}

/// Fails when change capture is not in place for the app's tables, or the role may not read
/// its changes: creating either needs the owner.
pub async fn check_capture(db: &Database, catalog: &Catalog, app: &App) -> anyhow::Result<()> {
    let pool = pool(db)?;
    let tables: Vec<&str> = app.tables.iter().map(|g| g.table.as_str()).collect();
    let app = app.name;
    let owner_first = format!(
        "run `runtime start` once as the owner (database.url), then `runtime db roles --apply`, \
         before `runtime start --app {app}` as its role"
    );
    let functions: Vec<(String, bool)> = sqlx::query_as(
        "SELECT proname::text, prosecdef FROM pg_proc \
         WHERE pronamespace = current_schema()::regnamespace AND proname = ANY($1)",
    )
    .bind(&capture::FUNCTIONS[..])
    .fetch_all(pool)
    .await
    .context("reading the change capture functions")?;
    for function in capture::FUNCTIONS {
        if !functions
            .iter()
            .any(|(name, definer)| name == function && *definer)
        {
            anyhow::bail!(
                "change capture is not set up for roles (function {function} is missing or \
                 outdated): {owner_first}"
            );
        }
    }
    let readable: bool = sqlx::query_scalar(
        "SELECT coalesce(has_table_privilege(to_regclass($1)::oid, 'SELECT'), false)",
    )
    .bind(capture::LOG_TABLE)
    .fetch_one(pool)
    .await
    .context("reading the change log's privileges")?;
    if !readable {
        anyhow::bail!(
            "app `{app}`'s role may not read the change log ({}): {owner_first}",
            capture::LOG_TABLE
        );
    }
    let captured: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         WHERE c.relnamespace = current_schema()::regnamespace AND t.tgname = ANY($1) \
         GROUP BY c.relname HAVING count(*) = cardinality($1)",
    )
    .bind(&capture::TRIGGER_NAMES[..])
    .fetch_all(pool)
    .await
    .context("reading the change capture triggers")?;
    let missing: Vec<&str> = tables
        .into_iter()
        .filter(|t| catalog.table(t).is_some_and(|t| t.kind == TableKind::Table))
        .filter(|t| !captured.iter().any(|c| c == t))
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "changes of {} are not captured (events.enabled), and app `{app}`'s role cannot \
             create the triggers: {owner_first}",
            missing.join(", ")
        );
    }
    Ok(())
}

fn pool(db: &Database) -> anyhow::Result<&PgPool> {
    match db {
        Database::Postgres(pg) => Ok(pg.pool()),
        Database::Sqlite(_) => anyhow::bail!("an app's own role needs PostgreSQL"),
    }
}

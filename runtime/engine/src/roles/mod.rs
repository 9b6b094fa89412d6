//! A least-privilege PostgreSQL role per app (`runtime db roles`): a login role
//! `<database.role_prefix><app>` granted exactly the app's allowlist (SELECT on `read` tables;
//! SELECT, INSERT, UPDATE, DELETE on `read-write` ones and USAGE on their sequences), CONNECT
//! on the database, USAGE on the schema, SELECT on the migration history (so a standalone start
//! can tell pending migrations) and SELECT on the change log restricted by a row-level policy to
//! the app's own tables. Anything else the role holds in the schema, on it or on the database
//! is revoked, so running it again after an allowlist change brings the grants in line.
//!
//! The SQL is printed (the password shown as `'***'`) or applied in one transaction; `Revoke`
//! revokes everything and drops the roles. [`standalone`] is what `start --app NAME` checks
//! when it connects as such a role.

mod grants;
mod sql;
pub mod standalone;

use sqlx::{ConnectOptions as _, Connection as _, PgConnection};

pub use sql::Plan;

use crate::app::App;
use crate::catalog::Catalog;
use crate::config::{CheckedConfig, Secret};
use crate::db::Database;
use crate::model::TableGrant;

/// The longest role name PostgreSQL keeps.
const MAX_ROLE_NAME: usize = 63;

/// Held while roles are brought in line, so two runs do not interleave.
const ROLES_LOCK: i64 = 0x7275_6e74_726f_6c65;

/// What `db roles` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Create the roles and bring their grants in line with the allowlists.
    Grant,
    /// Revoke everything the roles hold and drop them.
    Revoke,
}

/// One app's role, as configuration and the app's allowlist want it.
#[derive(Debug, Clone)]
pub struct AppRole {
    pub app: String,
    pub role: String,
    pub tables: Vec<TableGrant>,
    pub password: Option<Secret>,
}

#[derive(Debug, thiserror::Error)]
pub enum RolesError {
    #[error(
        "database roles are a PostgreSQL feature: database.url is SQLite, where every \
         connection may touch every table (serve an app alone with its own file, or move to \
         PostgreSQL)"
    )]
    NotPostgres,
    #[error("--app {0}: no such app (apps: {1})")]
    UnknownApp(String, String),
    #[error(
        "app `{app}`: role name `{role}` must be lowercase letters, digits and `_`, at most \
         {MAX_ROLE_NAME} bytes (check database.role_prefix and the app's name)"
    )]
    BadRoleName { app: String, role: String },
    #[error(
        "app `{app}` lists table `{table}`, which does not exist in the database (apply the \
         migrations, or fix the app's allowlist)"
    )]
    UnknownTable { app: String, table: String },
    #[error("reading the database's tables: {0}")]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error("{0}")]
    Database(#[from] sqlx::Error),
}

/// The role of every app (or of `only`): every app the runtime knows, enabled or not. Only on
/// PostgreSQL.
pub fn wanted(
    config: &CheckedConfig,
    apps: &[App],
    only: Option<&str>,
) -> Result<Vec<AppRole>, RolesError> {
    let url = config.database().url.expose();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(RolesError::NotPostgres);
    }
    if let Some(name) = only
        && !apps.iter().any(|app| app.name == name)
    {
        let known: Vec<&str> = apps.iter().map(|app| app.name).collect();
        return Err(RolesError::UnknownApp(name.to_string(), known.join(", ")));
    }
    let prefix = &config.database().role_prefix;
    apps.iter()
        .filter(|app| only.is_none_or(|name| app.name == name))
        .map(|app| {
            let role = format!("{prefix}{}", app.name);
            let valid = role.len() <= MAX_ROLE_NAME
                && role
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                return Err(RolesError::BadRoleName {
                    app: app.name.to_string(),
                    role,
                });
            }
            Ok(AppRole {
                app: app.name.to_string(),
                role,
                tables: app.tables.clone(),
                password: config
                    .app(app.name)
                    .and_then(|s| s.database_password.clone()),
            })
        })
        .collect()
}

/// The SQL that would bring the roles in line now, read from the database without changing it.
pub async fn plan(db: &Database, roles: &[AppRole], intent: Intent) -> Result<Plan, RolesError> {
    let mut conn = connect(db).await?;
    let plan = plan_on(&mut conn, db, roles, intent).await;
    conn.close().await?;
    plan
}

/// Brings the roles in line in one transaction (under a lock, so concurrent runs queue); answers
/// what it ran.
pub async fn apply(db: &Database, roles: &[AppRole], intent: Intent) -> Result<Plan, RolesError> {
    let mut conn = connect(db).await?;
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(ROLES_LOCK)
        .execute(&mut *tx)
        .await?;
    // `DROP ... IF EXISTS` of what is not there says so; it is expected here.
    sqlx::query("SET LOCAL client_min_messages = warning")
        .execute(&mut *tx)
        .await?;
    let plan = plan_on(&mut tx, db, roles, intent).await?;
    for statement in plan.statements() {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    conn.close().await?;
    Ok(plan)
}

async fn plan_on(
    conn: &mut PgConnection,
    db: &Database,
    roles: &[AppRole],
    intent: Intent,
) -> Result<Plan, RolesError> {
    let catalog = Catalog::introspect(db).await?;
    for role in roles {
        if let Some(grant) = role
            .tables
            .iter()
            .find(|grant| catalog.table(&grant.table).is_none())
        {
            return Err(RolesError::UnknownTable {
                app: role.app.clone(),
                table: grant.table.clone(),
            });
        }
    }
    let names: Vec<&str> = roles.iter().map(|role| role.role.as_str()).collect();
    let state = grants::read(conn, &names).await?;
    Ok(Plan::new(roles, &state, intent))
}

/// A connection of its own that never logs its statements (one carries the password).
async fn connect(db: &Database) -> Result<PgConnection, RolesError> {
    let Database::Postgres(pg) = db else {
        return Err(RolesError::NotPostgres);
    };
    let options = (*pg.pool().connect_options()).clone();
    Ok(options.disable_statement_logging().connect().await?)
}

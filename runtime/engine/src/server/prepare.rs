//! Everything the runtime serves, prepared before any port is bound: the pool (migrated when
//! configured), the catalog read once, and one API per listener (each app, and the composed
//! union). `start` binds them; `graphql-schema` prints from them without serving.

use std::sync::Arc;

use anyhow::Context as _;

use super::compose;
use crate::api::{ApiContext, StatementCounter};
use crate::app::App;
use crate::catalog::Catalog;
use crate::config::{CheckedConfig, LimitsConfig};
use crate::db::Database;
use crate::events::{self, ChangeHub};
use crate::model::AppModel;
use crate::model::rules::Rules;
use crate::{migrate, openapi, roles};

/// The name the composed API goes by.
pub const COMPOSED: &str = "runtime";

/// What to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serve {
    /// Every enabled app on its own port, and the composed API on the runtime port.
    All,
    /// One app alone, on its own port.
    App(String),
}

/// One listener's API.
#[derive(Debug, Clone)]
pub struct PreparedApi {
    /// The app's name, or [`COMPOSED`].
    pub name: String,
    pub port: u16,
    pub context: ApiContext,
    /// The apps whose own routes this listener serves, each with its own context.
    pub custom: Vec<(ApiContext, App)>,
}

impl PreparedApi {
    /// The OpenAPI document of what this listener serves: its tables and its apps' own routes.
    pub fn document(
        &self,
        limits: &LimitsConfig,
        secured: bool,
    ) -> Result<utoipa::openapi::OpenApi, openapi::DocumentError> {
        openapi::document(
            self.context.model(),
            &self.apps(),
            limits,
            secured,
            self.context.events().is_some() && events::feed::is_mounted(self.context.model()),
        )
    }

    /// The apps whose own routes this listener serves.
    pub fn apps(&self) -> Vec<&App> {
        self.custom.iter().map(|(_, app)| app).collect()
    }
}

#[derive(Debug)]
pub struct Prepared {
    pub db: Database,
    pub apis: Vec<PreparedApi>,
    pub statements: StatementCounter,
    pub catalog: Catalog,
    /// The tables every enabled app lists: those whose changes the log captures (whichever
    /// apps this process serves, so a runtime serving one app keeps the others' triggers).
    pub served: Vec<String>,
    /// The change log's hub, not yet started; `None` while `events.enabled` is off.
    pub events: Option<ChangeHub>,
    /// The app whose own role (`apps.<name>.database_url`) the process connected as: it checks
    /// what the owner set up (migrations, change capture) instead of doing it.
    pub own_role: Option<String>,
}

impl Prepared {
    pub fn api(&self, name: &str) -> Option<&PreparedApi> {
        self.apis.iter().find(|api| api.name == name)
    }
}

/// Connects, migrates when `migrations.apply_on_start` is on, reads the catalog and builds the
/// app models. A listed table that does not exist, or two apps claiming one route, is an error.
pub async fn prepare(
    config: &CheckedConfig,
    apps: &[App],
    serve: &Serve,
) -> anyhow::Result<Prepared> {
    let events_on = config.raw.events.enabled;
    let own_role = match serve {
        Serve::App(name) => config.app_database(name).map(|db| (name.clone(), db)),
        Serve::All => None,
    };
    let database = own_role.as_ref().map_or(config.database(), |(_, db)| db);
    let db = Database::connect(
        database,
        config.server().worker_threads(),
        config.limits().request_timeout(),
    )
    .await?;
    tracing::info!(database = %database.url, "connected");
    let own_role = own_role.map(|(name, _)| name);
    if let Some(app) = &own_role
        && config.raw.migrations.apply_on_start
    {
        roles::standalone::check_migrations(&db, app, config.migrations_dir()).await?;
    } else if config.raw.migrations.apply_on_start {
        let applied = migrate::apply(&db, config.migrations_dir(), None)
            .await
            .context("applying pending migrations at start (migrations.apply_on_start)")?;
        for migration in applied {
            tracing::info!(version = migration.version, name = %migration.name, "applied migration");
        }
    }
    let catalog = Catalog::introspect(&db).await?;
    let chosen: Vec<&App> = match serve {
        Serve::All => apps
            .iter()
            .filter(|app| config.app(app.name).is_some_and(|s| s.enabled))
            .collect(),
        Serve::App(name) => {
            let app = apps.iter().find(|app| app.name == name).ok_or_else(|| {
                let known: Vec<&str> = apps.iter().map(|a| a.name).collect();
                anyhow::anyhow!("--app {name}: no such app (apps: {})", known.join(", "))
            })?;
            vec![app]
        }
    };
    let statements = StatementCounter::default();
    let hub = events_on.then(|| ChangeHub::new(db.clone(), &config.raw.events));
    let context = |model: AppModel| {
        ApiContext::new(
            db.clone(),
            Arc::new(model),
            config.limits().clone(),
            config.server().max_body_bytes,
            statements.clone(),
            hub.clone(),
        )
    };
    let rules = chosen
        .iter()
        .map(|app| app.parsed_rules())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut apis = Vec::new();
    for (app, rules) in chosen.iter().zip(&rules) {
        let mut model = AppModel::build(app.name, &app.tables, &catalog)?;
        apply_rules(&mut model, app.name, rules)?;
        let context = context(model);
        apis.push(PreparedApi {
            name: app.name.to_string(),
            port: config.app(app.name).map_or(app.default_port, |s| s.port),
            custom: vec![(context.clone(), (*app).clone())],
            context,
        });
    }
    if *serve == Serve::All {
        compose::check_routes(&chosen)?;
        let mut model = AppModel::build(COMPOSED, &compose::union_grants(&chosen), &catalog)?;
        for (app, rules) in chosen.iter().zip(&rules) {
            apply_rules(&mut model, app.name, rules)?;
        }
        apis.push(PreparedApi {
            name: COMPOSED.to_string(),
            port: config.server().port,
            context: context(model),
            custom: apis.iter().flat_map(|api| api.custom.clone()).collect(),
        });
    }
    let mut served: Vec<String> = apps
        .iter()
        .filter(|app| {
            chosen.iter().any(|c| c.name == app.name)
                || config.app(app.name).is_some_and(|s| s.enabled)
        })
        .flat_map(|app| app.tables.iter().map(|grant| grant.table.clone()))
        .collect();
    served.sort();
    served.dedup();
    Ok(Prepared {
        db,
        apis,
        statements,
        catalog,
        served,
        events: hub,
        own_role,
    })
}

/// Compiles an app's rules into a model's policy; a rule naming what the model lacks is an
/// error naming the app.
fn apply_rules(model: &mut AppModel, app: &str, rules: &Rules) -> anyhow::Result<()> {
    let mut policy = std::mem::take(&mut model.policy);
    let result = policy.add(model, rules);
    model.policy = policy;
    result.map_err(|e| anyhow::anyhow!("app `{app}`: {e}"))
}

//! `runtime openapi [--app NAME]`: the document of one app, or the composed document, built from
//! the configured database without binding any port. Pending migrations are applied first when
//! `migrations.apply_on_start` is on, as `start` would.

use anyhow::Context as _;
use utoipa::openapi::OpenApi;

use crate::app::App;
use crate::catalog::Catalog;
use crate::config::CheckedConfig;
use crate::db::Database;
use crate::migrate;
use crate::model::AppModel;
use crate::server::{COMPOSED, compose};

/// Builds the document `runtime start` would serve on the port of `app` (or on the composed
/// port, over every enabled app, when `app` is `None`).
pub async fn generate(
    config: &CheckedConfig,
    apps: &[App],
    app: Option<&str>,
) -> anyhow::Result<OpenApi> {
    let db = Database::connect(config.database()).await?;
    if config.raw.migrations.apply_on_start {
        migrate::apply(&db, config.migrations_dir(), None)
            .await
            .context("applying pending migrations (migrations.apply_on_start)")?;
    }
    let catalog = Catalog::introspect(&db).await;
    db.close().await;
    let catalog = catalog?;
    let document = match app {
        Some(name) => {
            let app = apps.iter().find(|a| a.name == name).ok_or_else(|| {
                let known: Vec<&str> = apps.iter().map(|a| a.name).collect();
                anyhow::anyhow!("--app {name}: no such app (apps: {})", known.join(", "))
            })?;
            let model = AppModel::build(app.name, &app.tables, &catalog)?;
            super::document(&model, &[app], config.limits())?
        }
        None => {
            let chosen: Vec<&App> = apps
                .iter()
                .filter(|a| config.app(a.name).is_some_and(|s| s.enabled))
                .collect();
            compose::check_routes(&chosen)?;
            let model = AppModel::build(COMPOSED, &compose::union_grants(&chosen), &catalog)?;
            super::document(&model, &chosen, config.limits())?
        }
    };
    Ok(document)
}

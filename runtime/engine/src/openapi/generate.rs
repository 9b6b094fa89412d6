//! `runtime openapi [--app NAME]`: the document of one app, or the composed document, built from
//! the configured database without binding any port (pending migrations are applied first when
//! `migrations.apply_on_start` is on, as `start` would).

use anyhow::Context as _;
use utoipa::openapi::OpenApi;

use crate::app::App;
use crate::config::CheckedConfig;
use crate::server::{COMPOSED, Serve, prepare};

/// Builds the document `runtime start` would serve on the port of `app` (or on the composed
/// port, over every enabled app, when `app` is `None`).
pub async fn generate(
    config: &CheckedConfig,
    apps: &[App],
    app: Option<&str>,
) -> anyhow::Result<OpenApi> {
    let serve = app.map_or(Serve::All, |name| Serve::App(name.to_string()));
    let prepared = prepare(config, apps, &serve).await?;
    let api = prepared
        .api(app.unwrap_or(COMPOSED))
        .context("the prepared APIs lack the one asked for")?;
    let owners: Vec<&App> = api.custom.iter().map(|(_, app)| app).collect();
    let document = super::document(api.context.model(), &owners, config.limits());
    prepared.db.close().await;
    Ok(document?)
}

//! What one listener serves, built once at start from its prepared API: the contexts, the apps'
//! own routes, the GraphQL schema, the start page and the API document. Every worker thread's
//! application of the listener shares it.

use std::sync::Arc;

use actix_web::web;
use anyhow::Context as _;

use super::hygiene::SizeLimits;
use super::{PreparedApi, start_page};
use crate::api::ApiContext;
use crate::app::App;
use crate::auth::Authenticator;
use crate::config::CheckedConfig;
use crate::config::CorsConfig;
use crate::openapi::Documentation;
use crate::ops::metrics::Metrics;
use crate::ops::request::Edge;
use crate::{events, graphql};

/// One listener's API, ready for [`super::app`].
#[derive(Clone)]
pub struct ServedApi {
    pub(super) context: web::Data<ApiContext>,
    /// Each app's custom routes with that app's own context.
    pub(super) custom: Vec<(web::Data<ApiContext>, App)>,
    pub(super) graphql: async_graphql::dynamic::Schema,
    pub(super) documents: graphql::DocumentCache,
    pub(super) start_page: Arc<str>,
    pub(super) documentation: Arc<Documentation>,
    /// Resolves each request's caller; `None` while auth is off.
    pub(super) authenticator: Option<web::Data<Authenticator>>,
    /// The request's id, span and metrics; `None` when all are off.
    pub(super) edge: Option<web::Data<Edge>>,
    pub(super) size_limits: web::Data<SizeLimits>,
    pub(super) cors: Arc<CorsConfig>,
}

impl ServedApi {
    /// Builds the GraphQL schema, the start page and the API document of a prepared API; an
    /// app's route that its document cannot describe is an error.
    pub fn new(
        api: &PreparedApi,
        config: &CheckedConfig,
        authenticator: Option<web::Data<Authenticator>>,
        metrics: Option<Arc<Metrics>>,
    ) -> anyhow::Result<Self> {
        let log = &config.raw.log;
        let edge = (metrics.is_some() || log.request_ids || log.requests)
            .then(|| web::Data::new(Edge::new(&api.name, metrics, log.request_ids, log.requests)));
        let model = api.context.model();
        if api.context.events().is_some() && !events::feed::is_mounted(model) {
            tracing::warn!(
                app = %api.name,
                "a table's REST path is {}: this port serves the table there, not the change feed",
                events::feed::PATH
            );
        }
        let graphql = graphql::schema(api.context.clone())
            .with_context(|| format!("building the GraphQL schema of `{}`", api.name))?;
        // Built here so that a document that cannot be built stops the start, then dropped:
        // the listener builds it again when it is first asked for.
        let secured = authenticator.is_some();
        drop(api.document(config.limits(), secured)?);
        let (prepared, limits) = (api.clone(), config.limits().clone());
        let documentation = Documentation::new(move || Ok(prepared.document(&limits, secured)?));
        Ok(Self {
            graphql,
            documents: graphql::DocumentCache::new(&config.raw.graphql),
            start_page: start_page::render(model, &api.apps(), authenticator.is_some()).into(),
            documentation: Arc::new(documentation),
            custom: api
                .custom
                .iter()
                .map(|(context, app)| (web::Data::new(context.clone()), app.clone()))
                .collect(),
            context: web::Data::new(api.context.clone()),
            authenticator,
            edge,
            size_limits: web::Data::new(SizeLimits::new(config.server())),
            cors: Arc::new(config.server().cors.clone()),
        })
    }
}

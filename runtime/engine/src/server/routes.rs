//! Every route of one listener: the start page, the apps' own routes, the API documents, GraphQL
//! and the generated REST routes. An app's own route below a table's path is mounted inside that
//! table's scope, before the generated routes it could shadow.

use std::collections::HashMap;

use actix_web::{HttpRequest, web};

use super::{ServedApi, start_page};
use crate::api::ApiContext;
use crate::app::App;
use crate::auth::Caller;
use crate::error::method_not_allowed;
use crate::model::AppModel;
use crate::{events, graphql, openapi, rest};

/// Registers every route of a listener.
pub fn configure(cfg: &mut web::ServiceConfig, served: &ServedApi) {
    let page = served.start_page.clone();
    cfg.route(
        "/",
        web::get().to(move || {
            let page = page.clone();
            async move { start_page::response(&page) }
        }),
    );
    let model = served.context.model();
    let mut below_tables: HashMap<String, Vec<rest::TableRoute>> = HashMap::new();
    for (context, app) in &served.custom {
        let mut paths: Vec<&str> = app.routes.iter().map(|r| r.path.as_str()).collect();
        paths.dedup();
        for path in paths {
            match below_table(path, model) {
                Some((plural, below)) => {
                    below_tables
                        .entry(plural.to_string())
                        .or_default()
                        .push(rest::TableRoute {
                            segments: segments(below),
                            resource: custom_resource(context, app, path, below),
                        })
                }
                None => {
                    cfg.service(custom_resource(context, app, path, path));
                }
            }
        }
    }
    openapi::serve::configure(cfg, &served.documentation);
    graphql::configure(cfg, served.graphql.clone(), served.documents.clone());
    events::feed::configure(cfg, model);
    rest::configure(cfg, model, &mut below_tables);
}

/// The table whose path starts a custom route's path, and the rest of the path.
fn below_table<'p>(path: &'p str, model: &AppModel) -> Option<(&'p str, &'p str)> {
    let rest = path.strip_prefix('/')?;
    let (first, below) = rest.find('/').map_or((rest, ""), |at| rest.split_at(at));
    model
        .entities
        .iter()
        .any(|e| e.plural == first)
        .then_some((first, below))
}

/// The path segments of a pattern; `None` when a segment's own regex could span several.
fn segments(pattern: &str) -> Option<usize> {
    (!pattern.contains([':', '*'])).then(|| pattern.matches('/').count())
}

/// One custom path of an app, at `pattern`: its routes, and a 405 naming them for other methods.
fn custom_resource(
    context: &web::Data<ApiContext>,
    app: &App,
    path: &str,
    pattern: &str,
) -> actix_web::Resource {
    let mut resource = web::resource(pattern).app_data(context.clone());
    let mut allowed: Vec<String> = Vec::new();
    for route in app.routes.iter().filter(|r| r.path == path) {
        let mut mounted = route.route();
        if let Some(roles) = &route.roles {
            let roles = std::sync::Arc::new(roles.clone());
            mounted = mounted.wrap(actix_web::middleware::from_fn(move |req, next| {
                require_roles(roles.clone(), req, next)
            }));
        }
        resource = resource.route(mounted);
        allowed.push(route.method.to_string());
    }
    let allowed = allowed.join(", ");
    resource.default_service(web::to(move |req: HttpRequest| {
        let allowed = allowed.clone();
        async move { method_not_allowed(&req, &allowed) }
    }))
}

/// Refuses a caller without one of a route's roles, before its handler runs.
async fn require_roles(
    roles: std::sync::Arc<Vec<String>>,
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::HttpMessage as _;
    let refusal = req
        .extensions()
        .get::<Caller>()
        .filter(|caller| !caller.has_any_role(&roles))
        .map(|caller| caller.refusal(&format!("call {} {}", req.method(), req.path())));
    match refusal {
        Some(refusal) => Err(refusal.into()),
        None => next.call(req).await,
    }
}

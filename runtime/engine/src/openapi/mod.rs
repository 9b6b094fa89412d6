//! The OpenAPI 3.1 document of an app model, built once at start with utoipa's builders.
//!
//! A document holds exactly what its listener serves: the visible tables (read-only ones with
//! their read operations only), every generated route with its parameters, bodies, responses and
//! headers ([`routes`]), and the apps' own routes as their [`RouteDoc`]s describe them. The
//! composed listener's document is built the same way from the composed model and every app's
//! routes. [`serve`] answers it at `/documentation/json` and `/documentation/yaml` with Swagger UI
//! at `/documentation`; `runtime openapi` prints it without binding a port.

mod changes;
mod params;
mod responses;
mod route_doc;
mod routes;
mod schema;
mod security;
pub mod serve;

use actix_web::http::Method;
use utoipa::openapi::path::HttpMethod;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, Paths, RefOr,
};

pub use route_doc::{Payload, RouteDoc};
pub use serve::Documentation;

use crate::app::App;
use crate::config::LimitsConfig;
use crate::model::AppModel;
use routes::Route;

/// A document that cannot be built from what the apps declare.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error(
        "app `{app}` describes its route {route} with table `{table}`, which the app does not list (or which has no single-column primary key)"
    )]
    UnknownTable {
        app: String,
        route: String,
        table: String,
    },
    #[error(
        "app `{app}` has a route with method {method}, which an OpenAPI document cannot describe"
    )]
    Method { app: String, method: String },
    #[error(
        "the operation id `{id}` is used by both {first} and {second}; give one of the routes another operation id"
    )]
    DuplicateOperationId {
        id: String,
        first: String,
        second: String,
    },
}

/// Builds the document of `model`, with the own routes of `apps` (the apps behind the listener)
/// and, with `events` on, the change feed. A `secured` API (auth on) declares the bearer scheme
/// and every operation's 401 and 403.
pub fn document(
    model: &AppModel,
    apps: &[&App],
    limits: &LimitsConfig,
    secured: bool,
    events: bool,
) -> Result<OpenApi, DocumentError> {
    let mut generated: Vec<Route> = Vec::new();
    let mut components = ComponentsBuilder::new().schema(schema::ERROR, schema::error());
    for (index, entity) in model.entities.iter().enumerate() {
        generated.extend(routes::entity_routes(model, index, limits));
        components = components.schema(schema::row_name(entity), schema::row(entity));
        if entity.is_writable() {
            components = components
                .schema(schema::input_name(entity), schema::input(entity))
                .schema(schema::patch_name(entity), schema::patch(entity));
        }
    }
    for (name, response) in responses::error_components() {
        components = components.response(name, response);
    }
    if events {
        generated.push(changes::route());
        for (name, schema) in changes::schemas(model) {
            components = components.schema(name, schema);
        }
    }

    let mut custom: Vec<Route> = Vec::new();
    for app in apps {
        for route in &app.routes {
            let method = http_method(&route.method).ok_or_else(|| DocumentError::Method {
                app: app.name.to_string(),
                method: route.method.to_string(),
            })?;
            let path = route_doc::openapi_path(&route.path);
            let operation = route
                .doc
                .operation(model, &app.name, method.clone(), &path)?;
            custom.push(Route {
                path,
                method,
                operation,
            });
        }
    }
    // A custom route's resource answers every method of its path: generated operations on the
    // same path are not reachable there.
    generated.retain(|g| !custom.iter().any(|c| same_shape(&c.path, &g.path)));
    let all: Vec<Route> = generated.into_iter().chain(custom).collect();
    check_operation_ids(&all)?;

    let mut paths = Paths::builder();
    for mut route in all {
        if secured {
            security::refusals(&mut route.operation);
        }
        paths = paths.path(route.path, PathItem::new(route.method, route.operation));
    }
    if secured {
        components = security::scheme(components);
    }
    let mut tags: Vec<_> = model
        .entities
        .iter()
        .map(|entity| {
            TagBuilder::new()
                .name(&entity.table)
                .description(Some(format!(
                    "`/{}`: table `{}` ({})",
                    entity.plural,
                    entity.table,
                    entity.access.as_str()
                )))
                .build()
        })
        .collect();
    for app in apps {
        if app.routes.iter().any(|r| {
            let first = r.path.trim_start_matches('/').split('/').next();
            !model
                .entities
                .iter()
                .any(|e| Some(e.plural.as_str()) == first)
        }) {
            tags.push(
                TagBuilder::new()
                    .name(app.name.as_str())
                    .description(Some(format!("routes of app `{}`", app.name)))
                    .build(),
            );
        }
    }
    if events {
        tags.push(
            TagBuilder::new()
                .name(changes::TAG)
                .description(Some("the committed changes of these tables: `/changes`"))
                .build(),
        );
    }
    let tables: Vec<&str> = model.entities.iter().map(|e| e.table.as_str()).collect();
    let info = InfoBuilder::new()
        .title(format!("{} API", model.name))
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(format!(
            "The REST API of `{}`: tables {}. Lists take `where.<field>.<op>`, `orderby.<field>`, \
             `fields`, `limit`, `offset`, `totalCount` and cursor parameters; every error has \
             the `Error` body.",
            model.name,
            tables.join(", ")
        )))
        .build();
    let mut builder = OpenApiBuilder::new()
        .info(info)
        .paths(paths.build())
        .components(Some(components.build()))
        .tags(Some(tags));
    if secured {
        builder = builder.security(Some(vec![security::requirement()]));
    }
    Ok(builder.build())
}

fn http_method(method: &Method) -> Option<HttpMethod> {
    Some(match *method {
        Method::GET => HttpMethod::Get,
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        Method::HEAD => HttpMethod::Head,
        Method::OPTIONS => HttpMethod::Options,
        Method::TRACE => HttpMethod::Trace,
        _ => return None,
    })
}

/// `/a/{id}/b` and `/a/{key}/b` are the same path.
fn same_shape(a: &str, b: &str) -> bool {
    let shape = |p: &str| -> Vec<String> {
        p.split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "{}".into()
                } else {
                    s.to_string()
                }
            })
            .collect()
    };
    shape(a) == shape(b)
}

fn check_operation_ids(routes: &[Route]) -> Result<(), DocumentError> {
    for (i, route) in routes.iter().enumerate() {
        let Some(id) = &route.operation.operation_id else {
            continue;
        };
        if let Some(first) = routes[..i]
            .iter()
            .find(|r| r.operation.operation_id.as_ref() == Some(id))
        {
            let label = |r: &Route| format!("{} {}", route_doc::method_name(&r.method), r.path);
            return Err(DocumentError::DuplicateOperationId {
                id: id.clone(),
                first: label(first),
                second: label(route),
            });
        }
    }
    Ok(())
}

/// A schema reference usable from apps' own route descriptions: the row of an entity type
/// (`Customer`) or any component the document defines.
pub fn component(name: &str) -> RefOr<Schema> {
    schema::reference(name)
}

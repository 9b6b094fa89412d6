//! The REST adapter: generated CRUD routes for every visible table of an app model.
//!
//! ```text
//! GET    /<plural>                 list (filters, order, paging: see `params`)
//! POST   /<plural>                 create one (201 + Location) or many (array body)
//! PUT    /<plural>?where...        bulk update (a filter is required)
//! DELETE /<plural>?where...        bulk delete (a filter is required)
//! GET    /<plural>/{id}            one row, with its ETag (If-None-Match: 304)
//! PUT    /<plural>/{id}            upsert (If-Match: only that version)
//! PATCH  /<plural>/{id}            partial update (If-Match: only that version)
//! DELETE /<plural>/{id}            delete, answering the row (If-Match: only that version)
//! GET    /<plural>/{id}/<relation> many-to-one object or one-to-many list
//! ```
//!
//! Read-only tables (and views) have only the GET routes; other methods answer 405. Item routes
//! exist for tables with a single-column primary key.

pub(crate) mod body;
mod etag;
mod handlers;
mod json;
pub mod params;
mod precondition;

use std::collections::HashMap;

use actix_web::http::Method;
use actix_web::{HttpRequest, Resource, Scope, web};

use crate::error::{ApiError, ErrorCode, method_not_allowed, no_route, with_allow};
use crate::model::{AppModel, RelationKind};

pub use json::{Json, json_config};

/// An app's own route below a table's path (`/customers/{id}/contact`), mounted inside that
/// table's scope by its path below it (`/{id}/contact`).
pub struct TableRoute {
    /// Path segments below the table's path; `None` when the pattern can span segments.
    pub segments: Option<usize>,
    pub resource: Resource,
}

/// Registers every generated route of a model, one scope per table so a request is matched
/// against its own table's few routes only, and the apps' own routes below each table's path
/// (`custom`, by table path), each before the generated routes it could shadow. The handlers
/// find the app's [`crate::api::ApiContext`] in the app data.
pub fn configure(
    cfg: &mut web::ServiceConfig,
    model: &AppModel,
    custom: &mut HashMap<String, Vec<TableRoute>>,
) {
    for (index, entity) in model.entities.iter().enumerate() {
        let writable = entity.is_writable();
        let mut own = custom.remove(&entity.plural).unwrap_or_default();
        // A request only matches patterns of its own segment count: an own route goes before the
        // generated routes of as many segments, and after those of fewer, which then never try
        // its pattern on their requests.
        own.sort_by_key(|r| r.segments.map_or(0, |s| s + 1));
        let mut own = own.into_iter().peekable();
        let mut scope = mount_through(
            web::scope(&format!("/{}", entity.plural)).default_service(web::to(no_route)),
            &mut own,
            0,
        );
        let mut collection =
            web::resource("").route(web::get().to(move |req, ctx| handlers::list(req, ctx, index)));
        if writable {
            collection = collection
                .route(
                    web::post()
                        .to(move |req, payload, ctx| handlers::create(req, payload, ctx, index)),
                )
                .route(
                    web::put().to(move |req, payload, ctx| {
                        handlers::bulk_update(req, payload, ctx, index)
                    }),
                )
                .route(web::delete().to(move |req, ctx| handlers::bulk_delete(req, ctx, index)));
        }
        let allowed = if writable {
            "GET, POST, PUT, DELETE"
        } else {
            "GET"
        };
        scope = scope.service(collection.default_service(not_allowed(
            allowed,
            writable,
            &entity.plural,
        )));
        scope = mount_through(scope, &mut own, 1);

        if let Some(key) = entity.primary_key {
            let mut item = web::resource("/{id}")
                .route(web::get().to(move |req, ctx| handlers::get(req, ctx, index)));
            if writable {
                item = item
                    .route(
                        web::put().to(move |req, payload, ctx| {
                            handlers::upsert(req, payload, ctx, index)
                        }),
                    )
                    .route(
                        web::patch()
                            .to(move |req, payload, ctx| handlers::patch(req, payload, ctx, index)),
                    )
                    .route(web::delete().to(move |req, ctx| handlers::delete(req, ctx, index)));
            }
            let allowed = if writable {
                "GET, PUT, PATCH, DELETE"
            } else {
                "GET"
            };
            scope =
                scope.service(item.default_service(not_allowed(allowed, writable, &entity.plural)));
            scope = mount_through(scope, &mut own, 2);

            for (relation_index, relation) in entity.relations.iter().enumerate() {
                if relation.kind == RelationKind::OneToMany && relation.local_field != key {
                    continue;
                }
                scope =
                    scope.service(
                        web::resource(format!("/{{id}}/{}", relation.name))
                            .route(web::get().to(move |req, ctx| {
                                handlers::related(req, ctx, index, relation_index)
                            }))
                            .default_service(not_allowed("GET", true, &entity.plural)),
                    );
            }
        }
        cfg.service(own.fold(scope, |scope, route| scope.service(route.resource)));
    }
}

/// Mounts the next own routes of at most `segments` segments (or spanning segments).
fn mount_through(
    mut scope: Scope,
    own: &mut std::iter::Peekable<impl Iterator<Item = TableRoute>>,
    segments: usize,
) -> Scope {
    while let Some(route) = own.next_if(|r| r.segments.is_none_or(|s| s <= segments)) {
        scope = scope.service(route.resource);
    }
    scope
}

/// A 405 in the product's error format, with the `Allow` header.
fn not_allowed(allowed: &'static str, writable: bool, plural: &str) -> actix_web::Route {
    let plural = plural.to_string();
    web::to(move |req: HttpRequest| {
        let response = if writable || req.method() == Method::GET {
            method_not_allowed(&req, allowed)
        } else {
            let message = format!("`{plural}` is read-only in this API: only GET is allowed");
            with_allow(
                &ApiError::new(ErrorCode::MethodNotAllowed, message),
                allowed,
            )
        };
        async move { response }
    })
}

//! The REST adapter: generated CRUD routes for every visible table of an app model.
//!
//! ```text
//! GET    /<plural>                 list (filters, order, paging: see `params`)
//! POST   /<plural>                 create one (201 + Location) or many (array body)
//! PUT    /<plural>?where...        bulk update (a filter is required)
//! DELETE /<plural>?where...        bulk delete (a filter is required)
//! GET    /<plural>/{id}            one row
//! PUT    /<plural>/{id}            upsert
//! PATCH  /<plural>/{id}            partial update
//! DELETE /<plural>/{id}            delete, answering the row
//! GET    /<plural>/{id}/<relation> many-to-one object or one-to-many list
//! ```
//!
//! Read-only tables (and views) have only the GET routes; other methods answer 405. Item routes
//! exist for tables with a single-column primary key.

mod body;
mod handlers;
pub mod params;

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::{ApiError, ErrorCode};
use crate::model::{AppModel, RelationKind};

/// Registers every generated route of a model, one scope per table so a request is matched
/// against its own table's few routes only. The handlers find the app's
/// [`crate::api::ApiContext`] in the app data.
pub fn configure(cfg: &mut web::ServiceConfig, model: &AppModel) {
    for (index, entity) in model.entities.iter().enumerate() {
        let writable = entity.is_writable();
        let mut scope =
            web::scope(&format!("/{}", entity.plural)).default_service(web::to(no_route));
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
        cfg.service(scope);
    }
}

/// The 404 of a path no route serves, in the product's error format.
pub async fn no_route(req: HttpRequest) -> HttpResponse {
    let error = ApiError::new(
        ErrorCode::NotFound,
        format!("no route for {} {}", req.method(), req.path()),
    );
    actix_web::ResponseError::error_response(&error)
}

/// A 405 in the product's error format, with the `Allow` header.
fn not_allowed(allowed: &'static str, writable: bool, plural: &str) -> actix_web::Route {
    let plural = plural.to_string();
    web::to(move |req: HttpRequest| {
        let response = if writable || req.method() == Method::GET {
            method_not_allowed(&req, allowed)
        } else {
            let message = format!("`{plural}` is read-only in this API: only GET is allowed");
            let error = ApiError::new(ErrorCode::MethodNotAllowed, message);
            HttpResponse::MethodNotAllowed()
                .insert_header((header::ALLOW, allowed))
                .json(error.body())
        };
        async move { response }
    })
}

/// A 405 in the product's error format, naming the methods the path offers in `Allow`.
pub(crate) fn method_not_allowed(req: &HttpRequest, allowed: &str) -> HttpResponse {
    let error = ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!(
            "method {} is not allowed on {} (allowed: {allowed})",
            req.method(),
            req.path()
        ),
    );
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allowed.to_string()))
        .json(error.body())
}

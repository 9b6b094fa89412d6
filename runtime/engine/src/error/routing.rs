//! The refusals of routing itself, in the product's error format: a path no route serves (404)
//! and a method its path does not offer (405, with `Allow`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _};

use super::{ApiError, ErrorCode};

/// The 404 of a path no route serves.
pub async fn no_route(req: HttpRequest) -> HttpResponse {
    ApiError::new(
        ErrorCode::NotFound,
        format!("no route for {} {}", req.method(), req.path()),
    )
    .error_response()
}

/// The 405 of a method the path does not offer, naming the ones it does in `Allow`.
pub fn method_not_allowed(req: &HttpRequest, allowed: &str) -> HttpResponse {
    let error = ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!(
            "method {} is not allowed on {} (allowed: {allowed})",
            req.method(),
            req.path()
        ),
    );
    with_allow(&error, allowed)
}

/// A 405 saying why in `error`, naming the methods the path offers in `Allow`.
pub fn with_allow(error: &ApiError, allowed: &str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allowed))
        .json(error.body())
}

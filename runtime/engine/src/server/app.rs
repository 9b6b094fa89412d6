//! The app factory: the one place where a listener's actix application is assembled, with its
//! app data, the extractors' answers in the product's error format, the middleware and the routes.
//! `start` builds every listener's application with it (once per worker thread), and a test can
//! serve one without a socket (`actix_web::test::init_service(application(&served))`).
//! Middleware every port needs is added here.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{middleware, web};

use super::deadline::deadline;
use super::hygiene;
use super::{ServedApi, routes};
use crate::auth::authenticate;
use crate::error::{ApiError, ErrorCode, no_route};
use crate::ops::request::observe;
use crate::rest;

/// The actix application of one listener: its API's context as app data; path, query and JSON
/// extractors whose failures answer in the product's error format (JSON bodies limited to
/// `server.max_body_bytes`); from the outside in: the request's id, span and metrics; the
/// security headers; CORS; the request size limits; the request deadline; the caller of each
/// request (while auth is on); then every route, and a 404 for any other path.
pub fn application(
    served: &ServedApi,
) -> actix_web::App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody + use<>>,
        Error = actix_web::Error,
        InitError = (),
    > + use<>,
> {
    let mut app = actix_web::App::new();
    if let Some(authenticator) = &served.authenticator {
        app = app.app_data(authenticator.clone());
    }
    if let Some(edge) = &served.edge {
        app = app.app_data(edge.clone());
    }
    let cors = &served.cors;
    app.app_data(served.size_limits.clone())
        .app_data(web::PathConfig::default().error_handler(|e, _| invalid_value(e.to_string())))
        .app_data(web::QueryConfig::default().error_handler(|e, _| invalid_value(e.to_string())))
        .app_data(rest::json_config(served.context.max_body()))
        .app_data(served.context.clone())
        .wrap(middleware::from_fn(authenticate))
        .wrap(middleware::from_fn(deadline))
        .wrap(middleware::from_fn(hygiene::limit_size))
        .wrap(middleware::Condition::new(
            cors.enabled(),
            hygiene::cors(cors),
        ))
        .wrap(hygiene::security_headers())
        .wrap(middleware::from_fn(observe))
        .configure(|cfg| routes::configure(cfg, served))
        .default_service(web::to(no_route))
}

fn invalid_value(message: String) -> actix_web::Error {
    ApiError::new(ErrorCode::InvalidValue, message).into()
}

//! HTTP hygiene on every port: request targets and headers past `server.max_url_bytes` /
//! `server.max_header_bytes` answer 414 / 431 in the product's error format (below actix's own
//! limit, which would answer without a body); the standard security headers on every answer;
//! and cross-origin requests as `[server.cors]` allows them (preflights answered).

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::{middleware, web};

use crate::config::{CorsConfig, ServerConfig};
use crate::error::{ApiError, ErrorCode};

/// The request size limits of a listener.
#[derive(Debug, Clone, Copy)]
pub struct SizeLimits {
    pub url_bytes: usize,
    pub header_bytes: usize,
}

impl SizeLimits {
    pub fn new(server: &ServerConfig) -> Self {
        Self {
            url_bytes: server.max_url_bytes,
            header_bytes: server.max_header_bytes,
        }
    }
}

/// Refuses a request whose target or headers are too large.
pub async fn limit_size(
    req: ServiceRequest,
    next: middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(limits) = req.app_data::<web::Data<SizeLimits>>() {
        let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
        if target > limits.url_bytes {
            return Err(ApiError::new(
                ErrorCode::UriTooLong,
                format!(
                    "the request target is {target} bytes; the limit is {} (server.max_url_bytes)",
                    limits.url_bytes
                ),
            )
            .into());
        }
        let headers: usize = req
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum();
        if headers > limits.header_bytes {
            return Err(ApiError::new(
                ErrorCode::HeadersTooLarge,
                format!(
                    "the request headers are {headers} bytes; the limit is {} (server.max_header_bytes)",
                    limits.header_bytes
                ),
            )
            .into());
        }
    }
    next.call(req).await
}

/// The security headers every answer carries: no MIME sniffing, no framing, no referrer.
pub fn security_headers() -> middleware::DefaultHeaders {
    middleware::DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "no-referrer"))
}

/// The CORS middleware of `[server.cors]` (mounted only when it allows an origin): preflights
/// answered, other origins refused.
pub fn cors(config: &CorsConfig) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(config.allowed_methods.iter().map(String::as_str))
        .allowed_headers(config.allowed_headers.iter().map(String::as_str))
        .expose_headers(config.expose_headers.iter().map(String::as_str))
        .max_age(config.max_age_secs)
        .block_on_origin_mismatch(true);
    if config.allowed_origins.iter().any(|o| o == "*") {
        cors = cors.allow_any_origin().send_wildcard();
    } else {
        for origin in &config.allowed_origins {
            cors = cors.allowed_origin(origin.trim_end_matches('/'));
        }
    }
    if config.allow_credentials {
        cors = cors.supports_credentials();
    }
    cors
}

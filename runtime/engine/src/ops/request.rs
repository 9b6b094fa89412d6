//! The edge of every request on every API port: its id (an incoming `X-Request-Id` is kept when
//! it is a sane token, otherwise one is made), echoed on the answer; one `tracing` span with the
//! app, method, route template, status and latency, so every log line of the request (a 500's
//! cause chain included) carries the id; an optional line per request (`log.requests`); and the
//! request metrics. Refusals of the middleware inside it (401, 503 deadline) are answered here
//! too, so they carry the id as well.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{middleware, web};
use tracing::Instrument as _;

use super::metrics::{AppLabel, DurationLabels, Metrics, RequestLabels};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the edge of one listener needs: its app's name, the metrics and the log setting.
#[derive(Debug, Clone)]
pub struct Edge {
    pub app: String,
    pub metrics: Option<Arc<Metrics>>,
    /// A request id and a span per request.
    pub spans: bool,
    pub log_requests: bool,
}

/// The request's id: the client's when it is 1 to 128 of `A-Z a-z 0-9 - _ . :`, else a new one.
fn request_id(req: &ServiceRequest) -> String {
    let given = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            (1..=128).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        });
    match given {
        Some(id) => id.to_string(),
        None => new_id(),
    }
}

/// A process-unique id: a random prefix chosen at start, and a counter.
fn new_id() -> String {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| RandomState::new().build_hasher().finish());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix:016x}-{n:x}")
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The middleware.
pub async fn observe<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: middleware::Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let edge = req.app_data::<web::Data<Edge>>().cloned();
    let Some(edge) = edge else {
        return next.call(req).await;
    };
    let id = edge.spans.then(|| request_id(&req));
    let method = req.method().clone();
    let span = match &id {
        Some(id) => tracing::info_span!(
            "request",
            id = %id,
            app = %edge.app,
            method = %method,
            route = tracing::field::Empty,
            status = tracing::field::Empty,
        ),
        None => tracing::Span::none(),
    };
    let started = Instant::now();
    let in_flight = edge.metrics.as_ref().map(|m| {
        let gauge = m
            .http
            .in_flight
            .get_or_create(&AppLabel {
                app: edge.app.clone(),
            })
            .clone();
        gauge.inc();
        gauge
    });
    let result = next.call(req).instrument(span.clone()).await;
    if let Some(gauge) = in_flight {
        gauge.dec();
    }
    // A refusal of the middleware inside (401, 414, 431, the deadline's 503) is an error, not
    // yet a response: it is answered with the id as a response of its own.
    let (status, route) = match &result {
        Ok(response) => (
            response.status().as_u16(),
            response
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".into()),
        ),
        Err(error) => (
            error.as_response_error().status_code().as_u16(),
            "unmatched".into(),
        ),
    };
    let latency = started.elapsed();
    span.record("route", route.as_str());
    span.record("status", status);
    if edge.log_requests {
        tracing::info!(
            parent: &span,
            latency_ms = latency.as_secs_f64() * 1000.0,
            "answered"
        );
    }
    if let Some(metrics) = &edge.metrics {
        let method = method.as_str().to_string();
        metrics
            .http
            .seconds
            .get_or_create(&DurationLabels {
                app: edge.app.clone(),
                route: route.clone(),
                method: method.clone(),
                status: status_class(status),
            })
            .observe(latency.as_secs_f64());
        metrics
            .http
            .requests
            .get_or_create(&RequestLabels {
                app: edge.app.clone(),
                route,
                method,
                status,
            })
            .inc();
    }
    let id = id.and_then(|id| HeaderValue::from_str(&id).ok());
    match result {
        Ok(mut response) => {
            if let Some(id) = id {
                response.headers_mut().insert(REQUEST_ID, id);
            }
            Ok(response)
        }
        Err(error) => {
            let mut answer = error.error_response();
            if let Some(id) = id {
                answer.headers_mut().insert(REQUEST_ID, id);
            }
            Err(InternalError::from_response(error.to_string(), answer).into())
        }
    }
}

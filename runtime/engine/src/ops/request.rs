//! The edge of every request on every API port: its id (an incoming `X-Request-Id` is kept when
//! it is a sane token, otherwise one is made), echoed on the answer and carried by every log line
//! the runtime writes while answering (a 500's cause chain, an unreachable database: the
//! `request_id` field, [`current_id`]); a `request` span with it at debug level, so that with
//! `RUST_LOG=debug` every line of every crate names the request; an optional line per request
//! (`log.requests`) with the app, method, route template, status and latency; and the request
//! metrics. Refusals of the middleware inside it (401, 414, 431, the deadline's 503) are answered
//! with the id too.
//!
//! It runs on every request, so it allocates little and takes no lock: label values are
//! interned, metric handles cached per thread (see bench/NOTES.md).

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{middleware, web};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use tracing::Instrument as _;

use super::metrics::{AppLabel, DurationLabels, Metrics, RequestLabels, intern};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    /// The id of the request being answered.
    static CURRENT: Arc<str>;
}

/// The id of the request being answered on this task, for log lines: `-` outside a request.
pub fn current_id() -> Arc<str> {
    CURRENT
        .try_with(Arc::clone)
        .unwrap_or_else(|_| Arc::from("-"))
}

/// What the edge of one listener needs: its app's name, the metrics and the log settings.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Interned ([`intern`]).
    pub app: &'static str,
    pub metrics: Option<Arc<Metrics>>,
    /// A request id per request.
    pub ids: bool,
    pub log_requests: bool,
    in_flight: Option<Gauge>,
}

impl Edge {
    pub fn new(app: &str, metrics: Option<Arc<Metrics>>, ids: bool, log_requests: bool) -> Self {
        let app = intern(app);
        let in_flight = metrics
            .as_ref()
            .map(|m| m.http.in_flight.get_or_create(&AppLabel { app }).clone());
        Self {
            app,
            metrics,
            ids,
            log_requests,
            in_flight,
        }
    }
}

/// The request's id: the client's when it is 1 to 128 of `A-Z a-z 0-9 - _ . :`, else a new one.
fn request_id(req: &ServiceRequest) -> Arc<str> {
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
        Some(id) => Arc::from(id),
        None => new_id(),
    }
}

/// A process-unique id: a random prefix chosen at start, and a counter.
fn new_id() -> Arc<str> {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| RandomState::new().build_hasher().finish());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Arc::from(format!("{prefix:016x}-{n:x}"))
}

/// The method as a label: the standard ones, else `other` (a client chooses the method).
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
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

/// A request's series: its counter and its duration histogram.
type Series = (Counter, Histogram);

/// The series of (metrics, app, route, method, status), by the addresses of the interned
/// strings: no hashing of text and no lock per request after the first of its kind.
type SeriesKey = (usize, usize, usize, usize, u16);

thread_local! {
    static SERIES: RefCell<HashMap<SeriesKey, Series>> = RefCell::default();
}

fn series(
    metrics: &Arc<Metrics>,
    app: &'static str,
    route: &'static str,
    method: &'static str,
    status: u16,
) -> Series {
    let key = (
        Arc::as_ptr(metrics) as usize,
        app.as_ptr() as usize,
        route.as_ptr() as usize,
        method.as_ptr() as usize,
        status,
    );
    SERIES.with(|cache| {
        cache
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| {
                let count = metrics
                    .http
                    .requests
                    .get_or_create(&RequestLabels {
                        app,
                        route,
                        method,
                        status,
                    })
                    .clone();
                let seconds = metrics
                    .http
                    .seconds
                    .get_or_create(&DurationLabels {
                        app,
                        route,
                        method,
                        status: status_class(status),
                    })
                    .clone();
                (count, seconds)
            })
            .clone()
    })
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
    let method = method_label(req.method());
    let started = Instant::now();
    if let Some(gauge) = &edge.in_flight {
        gauge.inc();
    }
    let (id, result) = if edge.ids {
        let id = request_id(&req);
        let span = tracing::debug_span!("request", id = %id);
        let answer = CURRENT
            .scope(id.clone(), next.call(req).instrument(span))
            .await;
        (Some(id), answer)
    } else {
        (None, next.call(req).await)
    };
    if let Some(gauge) = &edge.in_flight {
        gauge.dec();
    }
    let (status, route) = match &result {
        Ok(response) => (
            response.status().as_u16(),
            response
                .request()
                .match_pattern()
                .map_or("unmatched", |pattern| intern(&pattern)),
        ),
        Err(error) => (
            error.as_response_error().status_code().as_u16(),
            "unmatched",
        ),
    };
    let latency = started.elapsed();
    if edge.log_requests {
        tracing::info!(
            request_id = id.as_deref().unwrap_or("-"),
            app = edge.app,
            method,
            route,
            status,
            latency_ms = latency.as_secs_f64() * 1000.0,
            "answered"
        );
    }
    if let Some(metrics) = &edge.metrics {
        let (count, seconds) = series(metrics, edge.app, route, method, status);
        count.inc();
        seconds.observe(latency.as_secs_f64());
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

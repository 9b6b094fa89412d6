//! `GET /changes` on every port, for the tables that port serves: one JSON page
//! (`?after=ID&limit=N&tables=a,b`), or with `Accept: text/event-stream` a Server-Sent Events
//! stream that resumes from `Last-Event-ID` (or `after`) and sends a heartbeat comment while
//! idle. Each reader sees what its role's read rule admits, with the fields it may read.

use std::time::Duration;

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value as Json, json};
use tokio::sync::mpsc;

use super::{ChangeHub, View};
use crate::api::ApiContext;
use crate::auth::Identity;
use crate::error::{ApiError, ErrorCode, method_not_allowed};
use crate::model::AppModel;

/// The path of the feed on every port.
pub const PATH: &str = "/changes";

/// Changes per JSON page unless `limit` says otherwise, and the most it may say.
pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1_000;

const PARAMETERS: [&str; 3] = ["after", "limit", "tables"];

/// Mounts `/changes`, unless a table of the port has that path: its REST routes keep it, and
/// start-up says the port has no feed.
pub fn configure(cfg: &mut web::ServiceConfig, model: &AppModel) {
    if is_mounted(model) {
        cfg.service(
            web::resource(PATH)
                .route(web::get().to(changes))
                .default_service(web::to(|req: HttpRequest| async move {
                    method_not_allowed(&req, "GET")
                })),
        );
    }
}

/// Whether the feed is mounted on a port of this model.
pub fn is_mounted(model: &AppModel) -> bool {
    !model
        .entities
        .iter()
        .any(|e| format!("/{}", e.plural) == PATH)
}

/// What a request asks of the feed.
#[derive(Debug)]
struct Ask {
    after: i64,
    limit: i64,
    tables: Option<String>,
    stream: bool,
}

async fn changes(req: HttpRequest, ctx: ApiContext) -> Result<HttpResponse, ApiError> {
    let Some(hub) = ctx.events() else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "the change feed is off on this runtime (events.enabled = false)",
        ));
    };
    if matches!(ctx.caller().identity(), Identity::Nobody) {
        return Err(ctx.caller().refusal("read the change feed"));
    }
    let ask = ask(&req)?;
    let view = View::new(&ctx, ask.tables.as_deref())?;
    if !ask.stream {
        // A page shows every change committed before the request, the reader's own included.
        hub.settle().await;
    }
    let bounds = hub.bounds().await.map_err(|e| ApiError::internal(&e))?;
    if bounds.expired(ask.after) {
        return Err(ApiError::new(
            ErrorCode::ChangesExpired,
            format!(
                "changes after {} are no longer kept (the oldest kept is {}; events.retention_secs \
                 is {}): read the tables again, then follow the feed from its `last`",
                ask.after,
                bounds.oldest.unwrap_or_default(),
                hub.config().retention_secs
            ),
        ));
    }
    if ask.stream {
        return Ok(stream(hub, view, ask.after));
    }
    page(hub, &view, ask.after, ask.limit).await
}

/// Reads the query string and headers; anything unknown, repeated or malformed is a 400.
fn ask(req: &HttpRequest) -> Result<Ask, ApiError> {
    let mut ask = Ask {
        after: 0,
        limit: DEFAULT_LIMIT,
        tables: None,
        stream: accepts_events(req),
    };
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if !PARAMETERS.contains(&key.as_ref()) {
            return Err(ApiError::new(
                ErrorCode::UnknownParameter,
                format!(
                    "unknown query parameter `{key}` (/changes accepts: {})",
                    PARAMETERS.join(", ")
                ),
            ));
        }
        if seen.iter().any(|k| *k == key) {
            return Err(ApiError::new(
                ErrorCode::InvalidValue,
                format!("query parameter `{key}` is given twice"),
            ));
        }
        seen.push(key.to_string());
        match key.as_ref() {
            "after" => ask.after = id(&value, "`after`")?,
            "limit" => ask.limit = limit(&value)?,
            _ => ask.tables = Some(value.into_owned()),
        }
    }
    if let Some(last) = req.headers().get("last-event-id") {
        let text = last.to_str().unwrap_or("");
        ask.after = id(text.trim(), "the `Last-Event-ID` header")?;
    }
    Ok(ask)
}

fn id(text: &str, what: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidValue,
                format!("{what} must be a change id (an integer from 0), not `{text}`"),
            )
        })
}

fn limit(text: &str) -> Result<i64, ApiError> {
    let limit = text
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidValue,
                format!("`limit` must be an integer from 1, not `{text}`"),
            )
        })?;
    if limit > MAX_LIMIT {
        return Err(ApiError::new(
            ErrorCode::LimitTooLarge,
            format!("`limit` {limit} is over the maximum of {MAX_LIMIT}"),
        ));
    }
    Ok(limit)
}

/// Whether the client asks for Server-Sent Events.
fn accepts_events(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| {
            media
                .split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/event-stream"))
        })
}

/// One JSON page: up to `limit` changes the reader sees, after `after`, and `last`, the id to
/// ask after next (it moves past changes the reader does not see, too).
async fn page(
    hub: &ChangeHub,
    view: &View,
    after: i64,
    limit: i64,
) -> Result<HttpResponse, ApiError> {
    let mut changes: Vec<Json> = Vec::new();
    let mut last = after;
    'pages: loop {
        let page = hub
            .page(last, limit)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let end = (page.len() as i64) < limit;
        for change in &page {
            if let Some(document) = view.render(change).await {
                changes.push(document);
            }
            last = change.id;
            if changes.len() as i64 == limit {
                break 'pages;
            }
        }
        if end {
            break;
        }
    }
    Ok(HttpResponse::Ok().json(json!({ "changes": changes, "last": last })))
}

/// The Server-Sent Events stream: each change as `id:`, `event:` (its op) and `data:` (its
/// JSON), a comment every `events.heartbeat_secs` while idle. It ends when the client goes or
/// the runtime stops.
fn stream(hub: &ChangeHub, view: View, after: i64) -> HttpResponse {
    let (sender, receiver) = mpsc::channel::<Bytes>(64);
    let mut subscription = hub.subscribe(after);
    let heartbeat = Duration::from_secs(hub.config().heartbeat_secs);
    actix_web::rt::spawn(async move {
        // The first bytes: the client knows the stream is open, and how soon to reconnect.
        if sender
            .send(Bytes::from_static(b"retry: 1000\n\n"))
            .await
            .is_err()
        {
            return;
        }
        let mut quiet_until = tokio::time::Instant::now() + heartbeat;
        loop {
            let next = tokio::time::timeout_at(quiet_until, subscription.next()).await;
            let message = match next {
                Err(_) => Bytes::from_static(b": heartbeat\n\n"),
                Ok(Ok(None)) => return,
                Ok(Err(error)) => {
                    tracing::warn!(%error, "reading the change log for a stream failed; ending it");
                    return;
                }
                Ok(Ok(Some(change))) => match view.render(&change).await {
                    Some(document) => Bytes::from(format!(
                        "id: {}\nevent: {}\ndata: {document}\n\n",
                        change.id,
                        change.op.as_str()
                    )),
                    None => continue,
                },
            };
            if sender.send(message).await.is_err() {
                return;
            }
            quiet_until = tokio::time::Instant::now() + heartbeat;
        }
    });
    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|bytes| (Ok::<_, actix_web::Error>(bytes), receiver))
    });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body)
}

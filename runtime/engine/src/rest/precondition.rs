//! Conditional requests on the item routes (RFC 9110 §13): `If-None-Match` on
//! `GET /<plural>/{id}`, and `If-Match` on its `PUT`, `PATCH` and `DELETE`, against the row's
//! [`ETag`].
//!
//! A write with `If-Match` runs in one transaction: it reads the row as the caller's `GET` reads
//! it and locks it ([`ApiContext::read_locked_in`]), compares its tag, writes only on a match and
//! commits. Of two writes naming the same version, one wins and the other then reads the winner's
//! row and fails its precondition. The lock is taken by the read itself (`SELECT ... FOR UPDATE`
//! on PostgreSQL; a SQLite transaction holds the write lock from its start) rather than by
//! running the transaction at REPEATABLE READ: the read waits for a concurrent writer to finish,
//! so the tag is always compared with the committed row, and no serialization failure has to be
//! told from other errors and turned into a 412. Without `If-Match` a write runs as it always
//! did: one statement, no transaction.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

use super::etag::{Condition, ETag, Malformed};
use crate::api::ApiContext;
use crate::error::{ApiError, ErrorCode};
use crate::query::{Operation, Select};

/// The request's `If-Match` condition; `None` without the header.
pub(super) fn if_match(req: &HttpRequest) -> Result<Option<Condition>, ApiError> {
    condition(req, header::IF_MATCH, "If-Match")
}

/// The request's `If-None-Match` condition; `None` without the header.
pub(super) fn if_none_match(req: &HttpRequest) -> Result<Option<Condition>, ApiError> {
    condition(req, header::IF_NONE_MATCH, "If-None-Match")
}

fn condition(
    req: &HttpRequest,
    name: HeaderName,
    display: &str,
) -> Result<Option<Condition>, ApiError> {
    let lines = req.headers().get_all(name).map(HeaderValue::as_bytes);
    Condition::parse(lines).map_err(|Malformed| {
        ApiError::new(
            ErrorCode::InvalidValue,
            format!(
                "the {display} header must be `*` or a comma-separated list of quoted entity \
                 tags (`\"<tag>\"`, as ETag answers them)"
            ),
        )
    })
}

/// The answer of `GET /<plural>/{id}` with a row's JSON: the row with its `ETag` when `tagged`
/// (the whole row, no `fields`), or 304 Not Modified with the `ETag` and no body when
/// `If-None-Match` matches it.
pub(super) fn read_reply(
    json: String,
    tagged: bool,
    if_none_match: Option<&Condition>,
) -> HttpResponse {
    let tag = tagged.then(|| ETag::of(&json));
    let not_modified = if_none_match.is_some_and(|c| c.matches_weakly(tag.as_ref()));
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    if let Some(tag) = tag {
        response.insert_header((header::ETAG, tag.as_str()));
    }
    if not_modified {
        return response.finish();
    }
    response
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(json)
}

/// The answer of a `PUT` or `PATCH` with the written row's JSON, and the row's `ETag`: the tag a
/// `GET` of the row answers, for the client's next `If-Match`.
pub(super) fn written_reply(json: String) -> HttpResponse {
    let tag = ETag::of(&json);
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::ETAG, tag.as_str()))
        .body(json)
}

/// What an item write's `If-Match` expects of its row.
pub(super) struct Guard {
    pub(super) condition: Condition,
    /// The row, as the caller's `GET` reads it.
    pub(super) row: Select,
    /// The row in the product's words, for the 412: `product with key 2`.
    pub(super) name: String,
}

/// Runs an item write and answers the rows it wrote, as a JSON array. Without a guard it runs as
/// [`ApiContext::rows`] runs it. With one it runs in a transaction that first reads and locks the
/// row, and writes only when the guard's condition matches the row's tag; otherwise it answers
/// 412 `PRECONDITION_FAILED` and writes nothing. A write the caller may not make is refused as
/// without the guard (403, not 412: the precondition is evaluated after the request's own
/// checks, RFC 9110 §13.2.1).
pub(super) async fn write(
    ctx: &ApiContext,
    guard: Option<Guard>,
    operation: &Operation,
) -> Result<String, ApiError> {
    let Some(guard) = guard else {
        return ctx.rows(operation).await;
    };
    ctx.permits(operation)?;
    let mut tx = ctx.begin().await?;
    let current = ctx.read_locked_in(&mut tx, guard.row).await?;
    let tag = current.map(|row| ETag::of(&row.json));
    if !guard.condition.matches_strongly(tag.as_ref()) {
        return Err(failed(&guard.name, tag.is_some()));
    }
    let rows = ctx.rows_in(&mut tx, operation).await?;
    ctx.commit(tx).await?;
    Ok(rows)
}

fn failed(name: &str, exists: bool) -> ApiError {
    let message = if exists {
        format!(
            "{name} changed since the version If-Match names; nothing was written: fetch it \
             again and retry with its current ETag"
        )
    } else {
        format!(
            "{name} does not exist (any more), so If-Match cannot match it; nothing was \
             written: fetch it again"
        )
    };
    ApiError::new(ErrorCode::PreconditionFailed, message)
}

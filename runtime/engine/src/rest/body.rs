//! Request bodies: read within the size limit, checked for nesting, parsed as JSON. The
//! generated routes, GraphQL and the apps' [`super::Json`] bodies all read them here.

use actix_web::HttpRequest;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut, Payload};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use serde_json::{Map, Value as Json};

use crate::api::ApiContext;
use crate::error::{ApiError, ErrorCode};

/// Reads the body as JSON, refusing a wrong content type (415), an oversized body (413),
/// malformed JSON (400 `MALFORMED_JSON`) and JSON nested past `limits.max_nesting` (400
/// `INVALID_BODY`).
pub async fn read_json(
    req: &HttpRequest,
    payload: Payload,
    ctx: &ApiContext,
) -> Result<Json, ApiError> {
    read(req, payload, ctx).await
}

/// [`read_json`] into any deserializable type; a body of the wrong shape is `INVALID_BODY`.
pub async fn read<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: impl Stream<Item = Result<Bytes, PayloadError>> + Unpin,
    ctx: &ApiContext,
) -> Result<T, ApiError> {
    let body = read_bytes(req, payload, ctx.max_body()).await?;
    parse(&body, ctx.limits().max_nesting)
}

/// Parses JSON text nested at most `max_nesting` deep; the depth is checked first, without
/// recursion, so no parser ever walks a hostile depth. A body of the wrong shape for `T` is
/// `INVALID_BODY` naming the field at fault.
pub fn parse<T: DeserializeOwned>(text: &[u8], max_nesting: usize) -> Result<T, ApiError> {
    if let Some(depth) = nested_past(text, max_nesting) {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!(
                "the JSON nests {depth} levels deep or more; the limit is {max_nesting} (limits.max_nesting)"
            ),
        ));
    }
    serde_json::from_slice(text).map_err(|e| {
        let field = (e.classify() == Category::Data)
            .then(|| field_at_fault::<T>(text))
            .flatten();
        json_error(&e, field.as_deref())
    })
}

/// The field a body of the wrong shape for `T` fails at (`items[0].quantity`); `None` for the
/// body as a whole. Only a refused body is read this second time, to find the field.
fn field_at_fault<T: DeserializeOwned>(text: &[u8]) -> Option<String> {
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let error = serde_path_to_error::deserialize::<_, T>(&mut deserializer).err()?;
    let path = error.path();
    path.iter().next().is_some().then(|| path.to_string())
}

/// A body the JSON parser refused: `INVALID_BODY` when it is empty or JSON of the wrong shape
/// (naming `field` when known), `MALFORMED_JSON` when it is not JSON.
pub fn json_error(error: &serde_json::Error, field: Option<&str>) -> ApiError {
    match error.classify() {
        Category::Data => ApiError::new(
            ErrorCode::InvalidBody,
            match field {
                Some(field) => format!("the body has the wrong shape at `{field}`: {error}"),
                None => format!("the body has the wrong shape: {error}"),
            },
        ),
        Category::Eof if error.line() == 1 && error.column() == 0 => empty(),
        _ => ApiError::new(
            ErrorCode::MalformedJson,
            format!("the body is not valid JSON: {error}"),
        ),
    }
}

/// The depth at which JSON text passes `limit` nested arrays and objects, if it does. Brackets
/// inside strings do not count; malformed text is left to the parser.
pub fn nested_past(text: &[u8], limit: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in text {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Some(depth);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Reads the whole body, refusing a content type other than JSON (415) and a body over `limit`
/// bytes (413) before more of it is read.
async fn read_bytes(
    req: &HttpRequest,
    mut payload: impl Stream<Item = Result<Bytes, PayloadError>> + Unpin,
    limit: usize,
) -> Result<Bytes, ApiError> {
    if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
        let essence = essence(content_type);
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(unsupported(essence));
        }
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large(limit));
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| unreadable(&e))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Err(empty());
    }
    Ok(body.freeze())
}

/// A content type's essence: `application/json` of `application/json; charset=utf-8`.
pub fn essence(content_type: &header::HeaderValue) -> &str {
    content_type
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
}

/// The 415 of a body that is not `application/json`.
pub fn unsupported(essence: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnsupportedMediaType,
        format!("the body must be application/json, not {essence:?}"),
    )
}

/// The 413 of a body over `limit` bytes.
pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the body is larger than the limit of {limit} bytes"),
    )
}

/// A body that broke off while it was read.
pub fn unreadable(error: &PayloadError) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidBody,
        format!("could not read the body: {error}"),
    )
}

fn empty() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidBody,
        "the body is empty; send a JSON object",
    )
}

/// The body as one object, or a 400 saying what it is instead.
pub fn object(json: &Json) -> Result<&Map<String, Json>, ApiError> {
    json.as_object().ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidBody,
            format!("the body must be a JSON object, got {}", kind(json)),
        )
    })
}

pub fn kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_counts_brackets_outside_strings() {
        assert_eq!(nested_past(br#"{"a": [[1]]}"#, 3), None);
        assert_eq!(nested_past(br#"{"a": [[1]]}"#, 2), Some(3));
        assert_eq!(nested_past(br#"{"a": "[[[[[[\"[[["}"#, 1), None);
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(nested_past(deep.as_bytes(), 64), Some(65));
        let refused = parse::<Json>(deep.as_bytes(), 64).expect_err("too deep");
        assert_eq!(refused.code, ErrorCode::InvalidBody);
        assert!(refused.message.contains("limits.max_nesting"));
    }

    #[test]
    fn malformed_and_misshapen_bodies_have_their_own_codes() {
        assert_eq!(
            parse::<Json>(b"{", 64).expect_err("broken").code,
            ErrorCode::MalformedJson
        );
        assert_eq!(
            parse::<Vec<u8>>(b"{}", 64).expect_err("shape").code,
            ErrorCode::InvalidBody
        );
    }
}

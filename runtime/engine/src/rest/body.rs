//! Request bodies: read within the size limit, checked for nesting, parsed as JSON.

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut, Payload};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
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
    payload: Payload,
    ctx: &ApiContext,
) -> Result<T, ApiError> {
    let body = read_bytes(req, payload, ctx.max_body()).await?;
    parse(&body, ctx.limits().max_nesting)
}

/// Parses JSON text nested at most `max_nesting` deep; the depth is checked first, without
/// recursion, so no parser ever walks a hostile depth.
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
        let code = match e.classify() {
            serde_json::error::Category::Data => ErrorCode::InvalidBody,
            _ => ErrorCode::MalformedJson,
        };
        let what = if code == ErrorCode::InvalidBody {
            "the body has the wrong shape"
        } else {
            "the body is not valid JSON"
        };
        ApiError::new(code, format!("{what}: {e}"))
    })
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
pub async fn read_bytes(
    req: &HttpRequest,
    mut payload: Payload,
    limit: usize,
) -> Result<Bytes, ApiError> {
    if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
        let essence = content_type
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!("the body must be application/json, not {essence:?}"),
            ));
        }
    }
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk: Bytes = chunk.map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidBody,
                format!("could not read the body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "the body is empty; send a JSON object",
        ));
    }
    Ok(body.freeze())
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

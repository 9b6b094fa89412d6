//! Request bodies: read within the size limit and parsed as JSON.

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut, Payload};
use futures_util::StreamExt;
use serde_json::{Map, Value as Json};

use crate::error::{ApiError, ErrorCode};

/// Reads the body as JSON, refusing a wrong content type (415), an oversized body (413) and
/// malformed JSON (400).
pub async fn read_json(
    req: &HttpRequest,
    mut payload: Payload,
    limit: usize,
) -> Result<Json, ApiError> {
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
    serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedJson,
            format!("the body is not valid JSON: {e}"),
        )
    })
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

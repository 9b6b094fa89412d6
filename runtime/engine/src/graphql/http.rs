//! GraphQL over HTTP: a request from the query string of a GET or the JSON body of a POST,
//! read with the REST bodies' limits (size, content type, JSON nesting), and a document whose
//! text nests past `limits.max_nesting` refused before it is parsed.

use actix_web::HttpRequest;
use actix_web::http::Method;
use actix_web::web::Payload;
use serde_json::{Map, Value as Json};

use super::guard;
use crate::api::ApiContext;
use crate::error::{ApiError, ErrorCode};
use crate::rest::body;

/// The GET parameters of a GraphQL request; `variables` and `extensions` are JSON text.
const GET_PARAMETERS: [&str; 4] = ["query", "operationName", "variables", "extensions"];

/// Reads one GraphQL request; its faults (a body that is too large, not JSON, or not a request)
/// are errors of the REST table.
pub async fn read_request(
    req: &HttpRequest,
    payload: Payload,
    ctx: &ApiContext,
) -> Result<async_graphql::Request, ApiError> {
    if req.method() == Method::GET {
        let fields = query_string_fields(req.query_string(), ctx.limits().max_nesting)?;
        return serde_json::from_value(Json::Object(fields)).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidValue,
                format!("the query string is not a GraphQL request: {e}"),
            )
        });
    }
    let json: Json = body::read(req, payload, ctx).await?;
    if json.is_array() {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "batched requests (a JSON array) are not supported: send one request per POST",
        ));
    }
    serde_json::from_value(json).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidBody,
            format!("the body is not a GraphQL request: {e}"),
        )
    })
}

/// Refuses a request without a document, or whose document nests past `max_nesting`, before
/// anything parses it.
pub fn check_document(
    request: &async_graphql::Request,
    max_nesting: usize,
) -> Result<(), ApiError> {
    if request.query.trim().is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "the request has no `query`: send a GraphQL document",
        ));
    }
    match guard::nested_past(&request.query, max_nesting) {
        Some(depth) => Err(too_deep("the document", depth, max_nesting)),
        None => Ok(()),
    }
}

fn too_deep(what: &str, depth: usize, max_nesting: usize) -> ApiError {
    ApiError::new(
        ErrorCode::QueryTooComplex,
        format!(
            "{what} nests {depth} levels deep or more; the limit is {max_nesting} (limits.max_nesting)"
        ),
    )
}

/// The GET parameters as the fields of a JSON request; an empty value is an absent one.
fn query_string_fields(query: &str, max_nesting: usize) -> Result<Map<String, Json>, ApiError> {
    let mut fields = Map::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if !GET_PARAMETERS.contains(&key.as_ref()) {
            return Err(ApiError::new(
                ErrorCode::UnknownParameter,
                format!(
                    "unknown query parameter `{key}` (GET /graphql accepts: {})",
                    GET_PARAMETERS.join(", ")
                ),
            ));
        }
        if fields.contains_key(key.as_ref()) {
            return Err(ApiError::new(
                ErrorCode::InvalidValue,
                format!("query parameter `{key}` is given twice"),
            ));
        }
        if value.is_empty() {
            continue;
        }
        let value = match key.as_ref() {
            "variables" | "extensions" => {
                if let Some(depth) = body::nested_past(value.as_bytes(), max_nesting) {
                    return Err(too_deep(&format!("`{key}`"), depth, max_nesting));
                }
                serde_json::from_str(&value).map_err(|e| {
                    ApiError::new(
                        ErrorCode::InvalidValue,
                        format!("`{key}` is not valid JSON: {e}"),
                    )
                })?
            }
            _ => Json::String(value.into_owned()),
        };
        fields.insert(key.into_owned(), value);
    }
    Ok(fields)
}

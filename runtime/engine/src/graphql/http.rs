//! GraphQL over HTTP (the GraphQL-over-HTTP specification): a request from the query string of
//! a GET or the JSON body of a POST, read with the REST bodies' limits (size, content type, JSON
//! nesting); a document whose text nests past `limits.max_nesting` refused before it is parsed;
//! the response in the media type the client accepts.
//!
//! Under `application/json` (the default, and what `*/*` gets) every response to a readable
//! request is a 200, errors in the body, as GraphQL clients have always expected. Under
//! `application/graphql-response+json` a request refused before execution (a document that
//! does not parse or validate, or passes a limit) is a 400 without `data`. A document refused
//! before parsing is a 400 under either.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::Payload;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _};
use serde_json::{Map, Value as Json};

use super::{errors, guard};
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

/// The response media types of GraphQL over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Json,
    GraphqlResponse,
}

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

impl Media {
    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Media::Json => JSON,
            Media::GraphqlResponse => GRAPHQL_RESPONSE,
        })
    }

    /// The status of a response refused before execution.
    fn refused_status(self) -> StatusCode {
        match self {
            Media::Json => StatusCode::OK,
            Media::GraphqlResponse => StatusCode::BAD_REQUEST,
        }
    }
}

/// The media type the request's `Accept` asks for: `application/graphql-response+json` when
/// named (and not ranked below `application/json`), else `application/json`, which is also the
/// answer to no `Accept` or a wildcard; a 406 when it accepts neither.
pub fn accepted(req: &HttpRequest) -> Result<Media, ApiError> {
    let Some(accept) = req.headers().get(header::ACCEPT) else {
        return Ok(Media::Json);
    };
    let accept = accept.to_str().unwrap_or("");
    let (mut graphql, mut json, mut wildcard) = (None::<f32>, None::<f32>, None::<f32>);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let quality = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let slot = match media.as_str() {
            GRAPHQL_RESPONSE => &mut graphql,
            JSON => &mut json,
            "*/*" | "application/*" => &mut wildcard,
            _ => continue,
        };
        *slot = Some(slot.map_or(quality, |q| q.max(quality)));
    }
    let graphql = graphql.unwrap_or(0.0);
    let json = json.or(wildcard).unwrap_or(0.0);
    if graphql > 0.0 && graphql >= json {
        Ok(Media::GraphqlResponse)
    } else if json > 0.0 {
        Ok(Media::Json)
    } else {
        Err(ApiError::new(
            ErrorCode::NotAcceptable,
            format!("GraphQL answers {GRAPHQL_RESPONSE} or {JSON}; `Accept` names neither"),
        ))
    }
}

/// A request refused before parsing: a 400 under either media type.
pub fn refused_early(media: Media, error: &ApiError) -> HttpResponse {
    HttpResponse::build(StatusCode::BAD_REQUEST)
        .insert_header((header::CONTENT_TYPE, media.content_type()))
        .body(errors::refusal_body(error).to_string())
}

/// A request refused after parsing, before execution (parse errors, the document's limits).
pub fn refused(media: Media, error: &ApiError) -> HttpResponse {
    HttpResponse::build(media.refused_status())
        .insert_header((header::CONTENT_TYPE, media.content_type()))
        .body(errors::refusal_body(error).to_string())
}

/// An executed request's response, its errors coded from the table.
pub fn respond(media: Media, mut response: async_graphql::Response) -> HttpResponse {
    let before_execution = errors::classify(&mut response);
    let status = if before_execution {
        media.refused_status()
    } else {
        StatusCode::OK
    };
    let body = if before_execution {
        serde_json::to_string(&serde_json::json!({ "errors": response.errors }))
    } else {
        serde_json::to_string(&response)
    };
    match body {
        Ok(body) => HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, media.content_type()))
            .body(body),
        Err(error) => ApiError::internal(&error).error_response(),
    }
}

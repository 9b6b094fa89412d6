//! Responses: the shared error responses (one component per status, each with the error body
//! and the codes it carries), and the success responses with their headers.

use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

use super::schema;
use crate::error::ErrorCode;

/// The statuses an error can answer with, with the name of their response component.
const ERROR_RESPONSES: [(u16, &str); 12] = [
    (400, "BadRequest"),
    (401, "Unauthorized"),
    (403, "Forbidden"),
    (404, "NotFound"),
    (405, "MethodNotAllowed"),
    (409, "Conflict"),
    (410, "Gone"),
    (412, "PreconditionFailed"),
    (413, "PayloadTooLarge"),
    (415, "UnsupportedMediaType"),
    (422, "UnprocessableEntity"),
    (503, "ServiceUnavailable"),
];

/// A reference to the shared response of an error status; `None` for a status no client error
/// answers with (a 500 is a fault, never part of the contract).
pub fn error(status: u16) -> Option<RefOr<Response>> {
    ERROR_RESPONSES
        .iter()
        .find(|(s, _)| *s == status)
        .map(|(_, name)| RefOr::Ref(Ref::from_response_name(*name)))
}

/// The response components of every error status.
pub fn error_components() -> Vec<(String, RefOr<Response>)> {
    ERROR_RESPONSES
        .iter()
        .map(|&(status, name)| {
            let codes: Vec<String> = ErrorCode::ALL
                .iter()
                .filter(|c| c.status().as_u16() == status)
                .map(|c| format!("`{}`", c.as_str()))
                .collect();
            let mut response = ResponseBuilder::new()
                .description(format!("{}: {}", reason(status), codes.join(", ")))
                .content("application/json", json(schema::reference(schema::ERROR)));
            if status == 405 {
                response = response.header(
                    "Allow",
                    HeaderBuilder::new()
                        .schema(string())
                        .description(Some("the methods the path offers"))
                        .build(),
                );
            }
            (name.to_string(), RefOr::T(response.build()))
        })
        .collect()
}

fn reason(status: u16) -> &'static str {
    actix_web::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

pub fn json(schema: impl Into<RefOr<Schema>>) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

fn string() -> Schema {
    Schema::Object(ObjectBuilder::new().schema_type(Type::String).build())
}

/// A JSON success response.
pub fn ok(description: impl Into<String>, body: impl Into<RefOr<Schema>>) -> ResponseBuilder {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", json(body))
}

/// The `ETag` header of a row: its version, as `If-Match` and `If-None-Match` name it.
pub fn etag(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r#"^"[0-9a-f]{32}"$"#))
                .build(),
        ))
        .description(Some(description))
        .build()
}

/// `304` of an item `GET` whose `If-None-Match` matches the row.
pub fn not_modified() -> Response {
    ResponseBuilder::new()
        .description(
            "Not Modified: `If-None-Match` names the row's current `ETag` (or is `*`); no body",
        )
        .header("ETag", etag("the row's current version"))
        .build()
}

/// A page of a list, with its count and cursor headers.
pub fn page(description: impl Into<String>, row: &str) -> Response {
    ok(description, schema::array_of(row, None))
        .header(
            "X-Total-Count",
            HeaderBuilder::new()
                .schema(Schema::Object(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                        .minimum(Some(0))
                        .build(),
                ))
                .description(Some("with `totalCount=true`: the rows the filter matches"))
                .build(),
        )
        .header(
            "X-Start-After",
            HeaderBuilder::new()
                .schema(string())
                .description(Some(
                    "in cursor mode, when the page has rows: `startAfter` for the next page",
                ))
                .build(),
        )
        .header(
            "X-End-Before",
            HeaderBuilder::new()
                .schema(string())
                .description(Some(
                    "in cursor mode, when the page has rows: `endBefore` for the previous page",
                ))
                .build(),
        )
        .build()
}

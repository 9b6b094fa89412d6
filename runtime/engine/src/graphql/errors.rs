//! GraphQL errors in the product's code table: engine errors keep their code; errors that
//! async-graphql raises itself (parsing, validation, limits) are given the matching code.

use actix_web::HttpResponse;
use async_graphql::{ErrorExtensionValues, Response, ServerError};

use crate::error::{ApiError, ErrorCode};

/// An engine error as a GraphQL error with `extensions.code` and `extensions.statusCode`.
pub fn to_graphql(error: ApiError) -> async_graphql::Error {
    let mut extensions = ErrorExtensionValues::default();
    set_code(&mut extensions, error.code);
    async_graphql::Error {
        message: error.message,
        source: None,
        extensions: Some(extensions),
    }
}

fn set_code(extensions: &mut ErrorExtensionValues, code: ErrorCode) {
    extensions.set("code", code.as_str());
    extensions.set("statusCode", code.status().as_u16());
}

/// A request refused before execution, as a GraphQL response with `errors` and no `data`,
/// under the error's own HTTP status.
pub fn refused(error: &ApiError) -> HttpResponse {
    let body = serde_json::json!({
        "errors": [{
            "message": error.message,
            "extensions": {"code": error.code.as_str(), "statusCode": error.code.status().as_u16()},
        }],
    });
    HttpResponse::build(error.code.status()).json(body)
}

/// Gives every error of a response a code from the table.
pub fn classify(mut response: Response) -> Response {
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if !has_code {
            let code = code_of(error);
            set_code(error.extensions.get_or_insert_with(Default::default), code);
        }
    }
    response
}

fn code_of(error: &ServerError) -> ErrorCode {
    let message = error.message.as_str();
    if message.starts_with("internal:") {
        ErrorCode::Internal
    } else if message.starts_with("Unknown field") || message.starts_with("Unknown type") {
        ErrorCode::UnknownField
    } else if message.starts_with("Unknown argument") {
        ErrorCode::UnknownParameter
    } else if message.contains("nested too deep") || message.contains("too complex") {
        ErrorCode::QueryTooComplex
    } else if message.starts_with("Invalid value")
        || message.contains("of type")
        || message.contains("expected type")
    {
        ErrorCode::InvalidValue
    } else {
        ErrorCode::InvalidQuery
    }
}

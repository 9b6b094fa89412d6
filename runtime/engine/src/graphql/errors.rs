//! GraphQL errors in the product's code table: engine errors keep their code; errors that
//! async-graphql's validation raises itself (it reports them as text only) are given the
//! matching code. Parsing and the document's limits are checked before, with their own codes.

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

/// The `errors` entry of a response refused before execution (which has no `data` entry).
pub fn refusal_body(error: &ApiError) -> serde_json::Value {
    serde_json::json!({
        "errors": [{
            "message": error.message,
            "extensions": {"code": error.code.as_str(), "statusCode": error.code.status().as_u16()},
        }],
    })
}

/// Gives every error of a response a code from the table; answers whether the request failed
/// before execution (async-graphql's own validation refused it: no data, and none of the
/// errors came from a resolver, which always carry their code).
pub fn classify(response: &mut Response) -> bool {
    let before_execution =
        response.data == async_graphql::Value::Null && !response.errors.is_empty();
    let mut uncoded = true;
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if has_code {
            uncoded = false;
        } else {
            let code = code_of(error);
            set_code(error.extensions.get_or_insert_with(Default::default), code);
        }
    }
    before_execution && uncoded
}

fn code_of(error: &ServerError) -> ErrorCode {
    let message = error.message.as_str();
    if message.starts_with("internal:") {
        ErrorCode::Internal
    } else if message.starts_with("Unknown field") || message.starts_with("Unknown type") {
        ErrorCode::UnknownField
    } else if message.starts_with("Unknown argument") {
        ErrorCode::UnknownParameter
    } else if message.starts_with("Invalid value")
        || message.contains("of type")
        || message.contains("expected type")
    {
        ErrorCode::InvalidValue
    } else {
        ErrorCode::InvalidQuery
    }
}

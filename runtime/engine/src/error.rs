//! The one wire error of the product and its table of stable codes.
//!
//! Every layer that can refuse a request says which [`ErrorCode`] it is; the REST adapter renders
//! an [`ApiError`] as `{"statusCode", "code", "error", "message"}` and GraphQL puts the same code in
//! `extensions.code`. Internal failures log their cause chain and tell the client nothing internal.
//! The refusals of routing itself (404, 405) are built in [`routing`].

mod routing;

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

pub use routing::{method_not_allowed, no_route, with_allow};

/// Stable machine-readable error codes, each with the HTTP status it answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    UnknownField,
    UnknownOperator,
    UnknownParameter,
    InvalidValue,
    LimitTooLarge,
    MalformedJson,
    InvalidBody,
    FilterRequired,
    InvalidCursor,
    ReadOnlyField,
    InvalidQuery,
    QueryTooComplex,
    TooManyConditions,
    TooManyValues,
    TooManyRows,
    InvalidToken,
    AuthRequired,
    Forbidden,
    FieldForbidden,
    NotFound,
    MethodNotAllowed,
    NotAcceptable,
    UnsupportedMediaType,
    PayloadTooLarge,
    UriTooLong,
    HeadersTooLarge,
    UniqueViolation,
    Conflict,
    ChangesExpired,
    PreconditionFailed,
    ForeignKeyViolation,
    NotNullViolation,
    CheckViolation,
    ValueTooLarge,
    Unavailable,
    RequestTimeout,
    StatementTimeout,
    Internal,
}

impl ErrorCode {
    /// Every code, in the order of the README's table.
    pub const ALL: [ErrorCode; 38] = [
        Self::UnknownField,
        Self::UnknownOperator,
        Self::UnknownParameter,
        Self::InvalidValue,
        Self::LimitTooLarge,
        Self::MalformedJson,
        Self::InvalidBody,
        Self::FilterRequired,
        Self::InvalidCursor,
        Self::ReadOnlyField,
        Self::InvalidQuery,
        Self::QueryTooComplex,
        Self::TooManyConditions,
        Self::TooManyValues,
        Self::TooManyRows,
        Self::InvalidToken,
        Self::AuthRequired,
        Self::Forbidden,
        Self::FieldForbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::NotAcceptable,
        Self::UnsupportedMediaType,
        Self::PayloadTooLarge,
        Self::UriTooLong,
        Self::HeadersTooLarge,
        Self::UniqueViolation,
        Self::Conflict,
        Self::ChangesExpired,
        Self::PreconditionFailed,
        Self::ForeignKeyViolation,
        Self::NotNullViolation,
        Self::CheckViolation,
        Self::ValueTooLarge,
        Self::Unavailable,
        Self::RequestTimeout,
        Self::StatementTimeout,
        Self::Internal,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownField => "UNKNOWN_FIELD",
            Self::UnknownOperator => "UNKNOWN_OPERATOR",
            Self::UnknownParameter => "UNKNOWN_PARAMETER",
            Self::InvalidValue => "INVALID_VALUE",
            Self::LimitTooLarge => "LIMIT_TOO_LARGE",
            Self::MalformedJson => "MALFORMED_JSON",
            Self::InvalidBody => "INVALID_BODY",
            Self::FilterRequired => "FILTER_REQUIRED",
            Self::InvalidCursor => "INVALID_CURSOR",
            Self::ReadOnlyField => "READ_ONLY_FIELD",
            Self::InvalidQuery => "INVALID_QUERY",
            Self::QueryTooComplex => "QUERY_TOO_COMPLEX",
            Self::TooManyConditions => "TOO_MANY_CONDITIONS",
            Self::TooManyValues => "TOO_MANY_VALUES",
            Self::TooManyRows => "TOO_MANY_ROWS",
            Self::InvalidToken => "INVALID_TOKEN",
            Self::AuthRequired => "AUTH_REQUIRED",
            Self::Forbidden => "FORBIDDEN",
            Self::FieldForbidden => "FIELD_FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::NotAcceptable => "NOT_ACCEPTABLE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UriTooLong => "URI_TOO_LONG",
            Self::HeadersTooLarge => "HEADERS_TOO_LARGE",
            Self::UniqueViolation => "UNIQUE_VIOLATION",
            Self::Conflict => "CONFLICT",
            Self::ChangesExpired => "CHANGES_EXPIRED",
            Self::PreconditionFailed => "PRECONDITION_FAILED",
            Self::ForeignKeyViolation => "FOREIGN_KEY_VIOLATION",
            Self::NotNullViolation => "NOT_NULL_VIOLATION",
            Self::CheckViolation => "CHECK_VIOLATION",
            Self::ValueTooLarge => "VALUE_TOO_LARGE",
            Self::Unavailable => "SERVICE_UNAVAILABLE",
            Self::RequestTimeout => "REQUEST_TIMEOUT",
            Self::StatementTimeout => "STATEMENT_TIMEOUT",
            Self::Internal => "INTERNAL_ERROR",
        }
    }

    /// The HTTP status this code answers with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::UnknownField
            | Self::UnknownOperator
            | Self::UnknownParameter
            | Self::InvalidValue
            | Self::LimitTooLarge
            | Self::MalformedJson
            | Self::InvalidBody
            | Self::FilterRequired
            | Self::InvalidCursor
            | Self::ReadOnlyField
            | Self::InvalidQuery
            | Self::QueryTooComplex
            | Self::TooManyConditions
            | Self::TooManyValues
            | Self::TooManyRows => StatusCode::BAD_REQUEST,
            Self::InvalidToken | Self::AuthRequired => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::FieldForbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::UniqueViolation | Self::Conflict => StatusCode::CONFLICT,
            Self::ChangesExpired => StatusCode::GONE,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::ForeignKeyViolation
            | Self::NotNullViolation
            | Self::CheckViolation
            | Self::ValueTooLarge => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable | Self::RequestTimeout | Self::StatementTimeout => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused or failed request: a code and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// An internal failure: the cause is logged here, the client gets a generic message.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = cause.to_string();
        let mut source = cause.source();
        while let Some(next) = source {
            chain.push_str(": ");
            chain.push_str(&next.to_string());
            source = next.source();
        }
        tracing::error!(
            request_id = &*crate::ops::request::current_id(),
            error = %chain,
            "internal error"
        );
        Self::new(
            ErrorCode::Internal,
            "internal error; the server log has the cause",
        )
    }

    pub fn not_found(what: impl fmt::Display) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// The wire body of this error.
    pub fn body(&self) -> ErrorBody<'_> {
        let status = self.code.status();
        ErrorBody {
            status_code: status.as_u16(),
            code: self.code.as_str(),
            error: status.canonical_reason().unwrap_or("Error"),
            message: &self.message,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.code.status());
        // RFC 6750: a 401 names the scheme, and a refused token says why.
        match self.code {
            ErrorCode::InvalidToken => {
                response.insert_header((
                    actix_web::http::header::WWW_AUTHENTICATE,
                    "Bearer error=\"invalid_token\"",
                ));
            }
            ErrorCode::AuthRequired => {
                response.insert_header((actix_web::http::header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        response.json(self.body())
    }
}

/// The error body on the wire, the same for REST, GraphQL extensions and the OpenAPI schema.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody<'a> {
    pub status_code: u16,
    pub code: &'static str,
    pub error: &'static str,
    pub message: &'a str,
}

//! JSON bodies of the apps' own routes, answered like the generated routes' bodies.
//!
//! [`Json`] is the engine's body extractor: it reads exactly as the generated routes do (415
//! for a content type other than `application/json`, 413 past `server.max_body_bytes`, 400
//! `INVALID_BODY` for an empty body or one nested past `limits.max_nesting`, `MALFORMED_JSON` for
//! text that is not JSON) and refuses a body of the wrong shape with `INVALID_BODY` naming the
//! field at fault. [`json_config`] makes actix's own `web::Json` answer with the same codes as
//! far as actix lets it: it needs a JSON content type, also takes `text/json` and `+json` types,
//! checks no nesting and names a field only where serde's message does (a missing one).

use std::ops::{Deref, DerefMut};

use actix_web::dev::Payload;
use actix_web::error::JsonPayloadError;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::body;
use crate::api::ApiContext;
use crate::error::{ApiError, ErrorCode};

/// A JSON request body deserialized into `T`, read with the limits of the app's
/// [`ApiContext`]: take it as a handler argument like `web::Json<T>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let ctx = req.app_data::<web::Data<ApiContext>>().ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Internal,
                    "a JSON body was read outside an app's API: no ApiContext in the app data",
                )
            })?;
            body::read(&req, payload, ctx).await.map(Json)
        })
    }
}

/// `web::Json`'s configuration: bodies of at most `max_body` bytes, every failure answered
/// with the code the generated routes answer it with.
pub fn json_config(max_body: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(max_body)
        .error_handler(|error, req| refused(&error, req).into())
}

fn refused(error: &JsonPayloadError, req: &HttpRequest) -> ApiError {
    match error {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => body::too_large(*limit),
        JsonPayloadError::ContentType => match req.headers().get(header::CONTENT_TYPE) {
            Some(content_type) => body::unsupported(body::essence(content_type)),
            None => ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "the body must be application/json, and the request has no content-type",
            ),
        },
        JsonPayloadError::Deserialize(error) => body::json_error(error, None),
        JsonPayloadError::Payload(error) => body::unreadable(error),
        other => ApiError::new(
            ErrorCode::InvalidBody,
            format!("could not read the body: {other}"),
        ),
    }
}

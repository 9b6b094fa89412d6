//! The edge: every request's caller, resolved once by a middleware of the app factory from its
//! credentials and put in the request's extensions, where [`crate::api::ApiContext`] finds it.
//!
//! - `X-Admin-Secret: <auth.admin_secret>`: role `admin`, no rules;
//! - `Authorization: Bearer <token>`: the token's role(s) and claims;
//! - neither: `auth.anonymous_role`, or nobody (every data access then answers 401).
//!
//! A credential that is present but wrong is always a 401 `INVALID_TOKEN`: never silently
//! anonymous.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{AUTHORIZATION, HeaderMap};
use actix_web::{HttpMessage as _, middleware, web};

use super::caller::{Caller, Identity};
use super::verify::{Claims, Verifier};
use crate::config::{AuthConfig, Secret};
use crate::error::{ApiError, ErrorCode};
use crate::model::policy::claim;

/// The header an admin sends its secret in.
pub const ADMIN_SECRET_HEADER: &str = "x-admin-secret";

/// Turns a request's credentials into its caller.
#[derive(Debug)]
pub struct Authenticator {
    verifier: Arc<Verifier>,
    role_claim: String,
    anonymous: Caller,
    admin_secret: Option<Secret>,
}

impl Authenticator {
    /// The authenticator of the configured keys; `None` while auth is off.
    pub async fn new(config: &AuthConfig) -> anyhow::Result<Option<Self>> {
        let Some(verifier) = Verifier::new(config).await? else {
            return Ok(None);
        };
        let anonymous = match &config.anonymous_role {
            Some(role) => Identity::Anonymous { role: role.clone() },
            None => Identity::Nobody,
        };
        Ok(Some(Self {
            verifier,
            role_claim: config.role_claim.clone(),
            anonymous: Caller::new(anonymous),
            admin_secret: config.admin_secret.clone(),
        }))
    }

    /// The caller of a request's headers.
    pub async fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if let Some(given) = headers.get(ADMIN_SECRET_HEADER) {
            let matches = self.admin_secret.as_ref().is_some_and(|secret| {
                constant_time_eq(given.as_bytes(), secret.expose().as_bytes())
            });
            if !matches {
                return Err(ApiError::new(
                    ErrorCode::InvalidToken,
                    "the X-Admin-Secret header does not match auth.admin_secret",
                ));
            }
            return Ok(Caller::system());
        }
        let Some(header) = headers.get(AUTHORIZATION) else {
            return Ok(self.anonymous.clone());
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                let (scheme, token) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidToken,
                    "the Authorization header must be `Bearer <token>`",
                )
            })?;
        let claims = self
            .verifier
            .verify(token)
            .await
            .map_err(|e| ApiError::new(ErrorCode::InvalidToken, e.to_string()))?;
        let roles = roles(&claims, &self.role_claim).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidToken,
                format!(
                    "the token carries no role at `{}` (auth.role_claim): a role, or a list of roles",
                    self.role_claim
                ),
            )
        })?;
        Ok(Caller::new(Identity::Token { roles, claims }))
    }
}

/// The roles at the role claim: a string, or a non-empty array of strings.
fn roles(claims: &Claims, path: &str) -> Option<Vec<String>> {
    match claim(claims, path)? {
        serde_json::Value::String(role) if !role.is_empty() => Some(vec![role.clone()]),
        serde_json::Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().filter(|r| !r.is_empty()).map(str::to_string))
            .collect(),
        _ => None,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware: resolves the caller, or answers the refusal of a bad credential. Does
/// nothing while auth is off (no [`Authenticator`] in the app data).
pub async fn authenticate(
    req: ServiceRequest,
    next: middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(authenticator) = req.app_data::<web::Data<Authenticator>>() {
        let caller = authenticator.caller(req.headers()).await?;
        req.extensions_mut().insert(caller);
    }
    next.call(req).await
}

//! `[auth]`: how callers prove who they are. Auth is on when a JWT secret or a JWKS source is
//! set; then every port applies the apps' role rules, denying by default.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The HMAC secret of HS256/HS384/HS512 tokens.
    pub jwt_secret: Option<Secret>,
    /// A JSON Web Key Set file (RS256, ES256, EdDSA keys chosen by `kid`).
    pub jwks_file: Option<PathBuf>,
    /// A JSON Web Key Set URL, fetched at start and again on an unknown `kid` (at most once
    /// every 30 seconds).
    pub jwks_url: Option<String>,
    /// The `iss` every token must carry, when set.
    pub issuer: Option<String>,
    /// The `aud` every token must carry, when set.
    pub audience: Option<String>,
    /// Seconds of clock skew allowed on `exp` and `nbf`.
    pub leeway_secs: u64,
    /// Where the role sits in the claims: a key, or a dot-separated path of keys (`app.role`;
    /// a key that itself holds dots is found whole first). Its value is a role or an array of
    /// roles.
    pub role_claim: String,
    /// The role of a request without a token; unset, such a request is a 401.
    pub anonymous_role: Option<String>,
    /// A request with `X-Admin-Secret: <it>` acts as role `admin`, which may do anything its
    /// port serves.
    pub admin_secret: Option<Secret>,
    /// Lets a runtime without auth bind a non-loopback `server.host`.
    pub allow_open: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            jwks_file: None,
            jwks_url: None,
            issuer: None,
            audience: None,
            leeway_secs: 30,
            role_claim: "role".into(),
            anonymous_role: None,
            admin_secret: None,
            allow_open: false,
        }
    }
}

impl AuthConfig {
    /// Whether callers are verified and rules applied.
    pub fn enabled(&self) -> bool {
        self.jwt_secret.is_some() || self.jwks_file.is_some() || self.jwks_url.is_some()
    }
}

/// A secret that never reaches `Debug`, `Display` or the logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for the verifier only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

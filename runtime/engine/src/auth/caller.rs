//! Who is asking: resolved once per request at the edge ([`super::edge`]) and carried by the
//! request's [`crate::api::ApiContext`] to every adapter and to apps' own code.

use std::sync::{Arc, OnceLock};

use crate::error::{ApiError, ErrorCode};
use crate::model::policy::Claims;

/// The caller of one request. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Caller(Arc<Identity>);

#[derive(Debug)]
pub enum Identity {
    /// Auth is off: every port is open to everyone.
    Open,
    /// `X-Admin-Secret`, or an app's own code running [`crate::api::ApiContext::as_system`]:
    /// no rules apply.
    System,
    /// No credentials, and no `auth.anonymous_role`: only what needs no data is served.
    Nobody,
    /// No credentials: `auth.anonymous_role`.
    Anonymous { role: String },
    /// A verified token.
    Token {
        roles: Vec<String>,
        claims: Arc<Claims>,
    },
}

fn empty_claims() -> &'static Claims {
    static EMPTY: OnceLock<Claims> = OnceLock::new();
    EMPTY.get_or_init(Claims::new)
}

impl Caller {
    pub fn new(identity: Identity) -> Self {
        Self(Arc::new(identity))
    }

    /// The caller of every request while auth is off.
    pub fn open() -> Self {
        static OPEN: OnceLock<Caller> = OnceLock::new();
        OPEN.get_or_init(|| Caller::new(Identity::Open)).clone()
    }

    pub fn system() -> Self {
        static SYSTEM: OnceLock<Caller> = OnceLock::new();
        SYSTEM.get_or_init(|| Caller::new(Identity::System)).clone()
    }

    pub fn identity(&self) -> &Identity {
        &self.0
    }

    /// Whether no rule applies to it (auth off, admin, system).
    pub fn is_unrestricted(&self) -> bool {
        matches!(*self.0, Identity::Open | Identity::System)
    }

    /// Its roles; none for an unrestricted caller or nobody.
    pub fn roles(&self) -> &[String] {
        match &*self.0 {
            Identity::Anonymous { role } => std::slice::from_ref(role),
            Identity::Token { roles, .. } => roles,
            Identity::Open | Identity::System | Identity::Nobody => &[],
        }
    }

    /// Whether it holds one of the roles (an unrestricted caller holds every role).
    pub fn has_any_role(&self, roles: &[String]) -> bool {
        self.is_unrestricted() || self.roles().iter().any(|r| roles.contains(r))
    }

    /// Its token's claims (none without a token).
    pub fn claims(&self) -> &Claims {
        match &*self.0 {
            Identity::Token { claims, .. } => claims,
            _ => empty_claims(),
        }
    }

    /// The refusal of something its roles do not grant: a caller without a token should log
    /// in (401 `AUTH_REQUIRED`); one with a token is forbidden (403 `FORBIDDEN`).
    pub fn refusal(&self, what: &str) -> ApiError {
        match &*self.0 {
            Identity::Nobody => ApiError::new(
                ErrorCode::AuthRequired,
                format!("{what} needs a bearer token (Authorization: Bearer <token>)"),
            ),
            Identity::Anonymous { role } => ApiError::new(
                ErrorCode::AuthRequired,
                format!("role `{role}` (no token) may not {what}; send a bearer token"),
            ),
            _ => ApiError::new(
                ErrorCode::Forbidden,
                format!("{} may not {what}", self.describe()),
            ),
        }
    }

    /// "role `x`" or "roles `x`, `y`", for messages.
    pub fn describe(&self) -> String {
        let names: Vec<String> = self.roles().iter().map(|r| format!("`{r}`")).collect();
        match names.len() {
            1 => format!("role {}", names[0]),
            _ => format!("roles {}", names.join(", ")),
        }
    }
}

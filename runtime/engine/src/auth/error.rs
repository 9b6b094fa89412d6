//! Why a presented token is refused, in words fit for the client that presented it: no secret,
//! no key material, only what the token itself says.

use jsonwebtoken::errors::{Error, ErrorKind};

/// Why a presented token was refused; `Display` is the message the client gets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's `{0}` claim has the wrong type")]
    InvalidClaim(String),
    #[error("the token lacks the `{0}` claim")]
    MissingClaim(String),
    #[error("tokens signed with `{0}` are not accepted")]
    AlgorithmNotAllowed(String),
    #[error("the token names no key (`kid`) and several keys could have signed it")]
    MissingKeyId,
    #[error("the token's key `{0}` is unknown")]
    UnknownKey(String),
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
}

impl TokenError {
    /// The refusal `jsonwebtoken` reports for a token checked against `algorithm`.
    pub(super) fn from_jwt(error: &Error, algorithm: &str) -> Self {
        match error.kind() {
            ErrorKind::InvalidSignature => Self::BadSignature,
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::ImmatureSignature => Self::NotYetValid,
            ErrorKind::InvalidIssuer => Self::WrongIssuer,
            ErrorKind::InvalidAudience => Self::WrongAudience,
            ErrorKind::MissingRequiredClaim(claim) => Self::MissingClaim(claim.clone()),
            ErrorKind::InvalidClaimFormat(claim) => Self::InvalidClaim(claim.clone()),
            ErrorKind::InvalidAlgorithm
            | ErrorKind::UnsupportedAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::MissingAlgorithm => Self::AlgorithmNotAllowed(algorithm.to_string()),
            // A key that cannot verify was refused when the key set was loaded, so what is left
            // is a token whose header, payload or signature does not decode.
            _ => Self::Malformed,
        }
    }
}

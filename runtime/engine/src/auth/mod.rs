//! Who a caller is: resolved at the edge ([`edge`]) into a [`Caller`]; the verification of the
//! JSON Web Tokens callers present (against `auth.jwt_secret` or the configured key set), and the
//! minting of tokens for `runtime token`.

mod cache;
mod caller;
mod edge;
mod error;
#[cfg(test)]
mod fixtures;
mod keys;
mod mint;
mod remote;
mod verify;

pub use caller::{Caller, Identity};
pub use edge::{ADMIN_SECRET_HEADER, Authenticator, authenticate};
pub use error::TokenError;
pub use mint::{parse_claim, role_token, sign_hs256};
pub use verify::{Claims, Verifier};

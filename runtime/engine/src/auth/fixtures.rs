//! The test keys of `runtime/tests/fixtures/auth`, and helpers that sign tokens with them.

use std::path::PathBuf;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::Claims;
use crate::config::{AuthConfig, Secret};

macro_rules! fixture_path {
    ($name:literal) => {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/auth/",
            $name
        )
    };
}

pub const JWKS: &str = include_str!(fixture_path!("jwks.json"));
pub const JWKS_ROTATED: &str = include_str!(fixture_path!("jwks-rotated.json"));
pub const RSA_1: &str = include_str!(fixture_path!("rsa-1.pem"));
pub const RSA_1_PUBLIC: &str = include_str!(fixture_path!("rsa-1.pub.pem"));
pub const RSA_2: &str = include_str!(fixture_path!("rsa-2.pem"));
pub const EC: &str = include_str!(fixture_path!("ec.pem"));
pub const ED25519: &str = include_str!(fixture_path!("ed25519.pem"));

pub const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// Auth with the HMAC secret [`SECRET`] alone.
pub fn hmac_config() -> AuthConfig {
    AuthConfig {
        jwt_secret: Some(Secret::new(SECRET)),
        ..AuthConfig::default()
    }
}

/// Auth with the key set `jwks.json` alone.
pub fn jwks_config() -> AuthConfig {
    AuthConfig {
        jwks_file: Some(PathBuf::from(fixture_path!("jwks.json"))),
        ..AuthConfig::default()
    }
}

pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// The claims of a customer token expiring `exp_in` seconds from now (negative: ago).
pub fn claims(exp_in: i64) -> Claims {
    let exp = now().saturating_add_signed(exp_in);
    json!({ "role": "customer", "exp": exp })
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// `claims` with `key` set to `value`.
pub fn with(mut claims: Claims, key: &str, value: serde_json::Value) -> Claims {
    claims.insert(key.into(), value);
    claims
}

pub fn rsa(pem: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
}

pub fn ec() -> EncodingKey {
    EncodingKey::from_ec_pem(EC.as_bytes()).unwrap()
}

pub fn ed25519() -> EncodingKey {
    EncodingKey::from_ed_pem(ED25519.as_bytes()).unwrap()
}

pub fn hmac(secret: &[u8]) -> EncodingKey {
    EncodingKey::from_secret(secret).unwrap()
}

/// A token of `claims` signed with `key` under `algorithm`, naming `kid`.
pub fn sign(algorithm: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Claims) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

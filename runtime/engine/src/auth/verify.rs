//! Verifying a presented token against the configured keys: HMAC tokens against
//! `auth.jwt_secret` only, asymmetric ones against the key set only, each key verifying only the
//! algorithms of its type; `exp` always required, `nbf` checked when present, `iss` and `aud`
//! required when configured. A token that passes is remembered, so its next use costs no
//! signature check.

use std::fmt;
use std::path::Path;
use std::str::FromStr as _;
use std::sync::Arc;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde::Deserialize;

use super::TokenError;
use super::cache::TokenCache;
use super::keys::KeySet;
use super::remote::RemoteKeys;
use crate::config::AuthConfig;

/// The claims of a verified token.
pub type Claims = serde_json::Map<String, serde_json::Value>;

/// The verifier of the configured keys, shared by every request.
pub struct Verifier {
    secret: Option<DecodingKey>,
    keys: KeySource,
    /// The checks of every token; each decode narrows `algorithms` to the token's own.
    validation: Validation,
    cache: TokenCache,
}

/// Where the keys of asymmetric tokens come from.
enum KeySource {
    None,
    File(Arc<KeySet>),
    Url(RemoteKeys),
}

/// The part of a token's header read before its key is chosen.
#[derive(Deserialize)]
struct HeaderPeek {
    alg: String,
    kid: Option<String>,
}

impl Verifier {
    /// The verifier of the configured keys; `Ok(None)` when auth is off. Reads `auth.jwks_file`
    /// or fetches `auth.jwks_url` once here: a failure is a start-up error naming the key.
    pub async fn new(config: &AuthConfig) -> anyhow::Result<Option<Arc<Verifier>>> {
        if !config.enabled() {
            return Ok(None);
        }
        let secret = match &config.jwt_secret {
            Some(secret) => Some(
                DecodingKey::from_secret(secret.expose().as_bytes())
                    .context("auth.jwt_secret: must not be empty")?,
            ),
            None => None,
        };
        let keys = match (&config.jwks_file, &config.jwks_url) {
            (Some(_), Some(_)) => {
                anyhow::bail!("auth.jwks_url: set auth.jwks_file or auth.jwks_url, not both")
            }
            (Some(path), None) => KeySource::File(Arc::new(read_key_file(path).await?)),
            (None, Some(url)) => KeySource::Url(RemoteKeys::load(url).await?),
            (None, None) => KeySource::None,
        };
        Ok(Some(Arc::new(Self {
            secret,
            keys,
            validation: validation(config),
            cache: TokenCache::new(),
        })))
    }

    /// Verifies a token (the part after `Bearer `) and answers its claims.
    pub async fn verify(&self, token: &str) -> Result<Arc<Claims>, TokenError> {
        if let Some(cached) = self.cache.get(token, jsonwebtoken::get_current_timestamp()) {
            return cached;
        }
        let header = peek_header(token)?;
        let algorithm = Algorithm::from_str(&header.alg)
            .map_err(|_| TokenError::AlgorithmNotAllowed(header.alg.clone()))?;
        let claims = if algorithm.family() == AlgorithmFamily::Hmac {
            let secret = self
                .secret
                .as_ref()
                .ok_or(TokenError::AlgorithmNotAllowed(header.alg))?;
            self.decode(token, secret, algorithm)?
        } else {
            let kid = header.kid.as_deref();
            let set = self.key_set_for(kid, &header.alg).await?;
            let key = set.find(kid)?;
            if !key.algorithms.contains(&algorithm) {
                return Err(TokenError::AlgorithmNotAllowed(header.alg));
            }
            self.decode(token, &key.key, algorithm)?
        };
        let claims = Arc::new(claims);
        self.cache
            .insert(token, Arc::clone(&claims), self.validation.leeway);
        Ok(claims)
    }

    /// The key set holding the key `kid` names, fetched again when it is a URL's and lacks it.
    async fn key_set_for(&self, kid: Option<&str>, alg: &str) -> Result<Arc<KeySet>, TokenError> {
        let (set, remote) = match &self.keys {
            KeySource::None => return Err(TokenError::AlgorithmNotAllowed(alg.to_string())),
            KeySource::File(set) => (Arc::clone(set), None),
            KeySource::Url(remote) => (remote.current(), Some(remote)),
        };
        match (set.find(kid), remote) {
            (Err(TokenError::UnknownKey(_)), Some(remote)) => Ok(remote.refetch(&set).await),
            _ => Ok(set),
        }
    }

    fn decode(
        &self,
        token: &str,
        key: &DecodingKey,
        algorithm: Algorithm,
    ) -> Result<Claims, TokenError> {
        let mut validation = self.validation.clone();
        validation.algorithms = vec![algorithm];
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|error| TokenError::from_jwt(&error, &format!("{algorithm:?}")))
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = match &self.keys {
            KeySource::None => "none",
            KeySource::File(_) => "auth.jwks_file",
            KeySource::Url(_) => "auth.jwks_url",
        };
        f.debug_struct("Verifier")
            .field("jwt_secret", &self.secret.as_ref().map(|_| "***"))
            .field("key_set", &keys)
            .field("issuer", &self.validation.iss)
            .field("audience", &self.validation.aud)
            .field("leeway_secs", &self.validation.leeway)
            .finish_non_exhaustive()
    }
}

/// The checks every token passes, whatever its algorithm.
fn validation(config: &AuthConfig) -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = config.leeway_secs;
    validation.validate_nbf = true;
    validation.validate_aud = config.audience.is_some();
    let mut required = vec!["exp"];
    if let Some(issuer) = &config.issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
    }
    if let Some(audience) = &config.audience {
        validation.set_audience(&[audience]);
        required.push("aud");
    }
    validation.set_required_spec_claims(&required);
    validation
}

/// The `alg` and `kid` of a token of three dot-separated parts.
fn peek_header(token: &str) -> Result<HeaderPeek, TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)
}

async fn read_key_file(path: &Path) -> anyhow::Result<KeySet> {
    let json = tokio::fs::read(path)
        .await
        .with_context(|| format!("auth.jwks_file: reading {}", path.display()))?;
    KeySet::parse(&json).with_context(|| format!("auth.jwks_file: {}", path.display()))
}

#[cfg(test)]
mod tests;

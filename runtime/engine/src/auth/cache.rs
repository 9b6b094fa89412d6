//! Tokens already verified, so a caller repeating its token costs no signature check. Only
//! tokens that passed every check enter; an entry answers until its `exp` (plus the leeway)
//! and is refused as expired after.

use std::sync::Arc;

use quick_cache::sync::Cache;

use super::{Claims, TokenError};

/// How many verified tokens are remembered.
const CAPACITY: usize = 10_000;

/// The claims of verified tokens, keyed by the token itself.
pub(super) struct TokenCache {
    entries: Cache<Box<str>, Entry>,
}

#[derive(Clone)]
struct Entry {
    claims: Arc<Claims>,
    /// The last second (UNIX time) the token is accepted in: `exp` plus the leeway.
    valid_until: u64,
}

impl TokenCache {
    pub(super) fn new() -> Self {
        Self {
            entries: Cache::new(CAPACITY),
        }
    }

    /// The claims of `token` when it was verified before; an entry past its expiry is dropped
    /// and refused.
    pub(super) fn get(&self, token: &str, now: u64) -> Option<Result<Arc<Claims>, TokenError>> {
        let entry = self.entries.get(token)?;
        if now > entry.valid_until {
            self.entries.remove(token);
            return Some(Err(TokenError::Expired));
        }
        Some(Ok(entry.claims))
    }

    /// Remembers a token that passed every check, with its `exp` and the leeway allowed on it.
    pub(super) fn insert(&self, token: &str, claims: Arc<Claims>, leeway_secs: u64) {
        let Some(exp) = claims.get("exp").and_then(numeric_date) else {
            return;
        };
        let entry = Entry {
            claims,
            valid_until: exp.saturating_add(leeway_secs),
        };
        self.entries.insert(token.into(), entry);
    }
}

/// A `NumericDate` as `jsonwebtoken` reads it: whole seconds, fractions rounded.
fn numeric_date(value: &serde_json::Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|secs| secs.is_finite() && *secs >= 0.0 && *secs < u64::MAX as f64)
            .map(|secs| secs.round() as u64)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::TokenCache;
    use crate::auth::{Claims, TokenError};

    fn claims(exp: serde_json::Value) -> Arc<Claims> {
        let json = json!({ "role": "customer", "exp": exp });
        Arc::new(json.as_object().unwrap().clone())
    }

    #[test]
    fn answers_until_exp_plus_leeway_then_refuses_as_expired() {
        let cache = TokenCache::new();
        let stored = claims(json!(1_000));
        cache.insert("t", stored.clone(), 5);
        let hit = cache.get("t", 1_005).unwrap().unwrap();
        assert!(Arc::ptr_eq(&hit, &stored));
        assert_eq!(cache.get("t", 1_006), Some(Err(TokenError::Expired)));
        assert_eq!(cache.get("t", 1_000), None, "an expired entry is dropped");
    }

    #[test]
    fn fractional_exp_is_rounded_and_missing_exp_is_not_cached() {
        let cache = TokenCache::new();
        cache.insert("fraction", claims(json!(999.6)), 0);
        assert!(cache.get("fraction", 1_000).unwrap().is_ok());
        assert_eq!(cache.get("fraction", 1_001), Some(Err(TokenError::Expired)));
        let no_exp = Arc::new(json!({ "role": "x" }).as_object().unwrap().clone());
        cache.insert("no-exp", no_exp, 0);
        assert_eq!(cache.get("no-exp", 0), None);
    }
}

//! The public keys asymmetric tokens are checked against: a JSON Web Key Set turned into keys,
//! each bound to the algorithms its type (and its `alg`, when present) allows, and found by a
//! token's `kid`. Symmetric (`oct`) keys are never taken from a key set: HMAC tokens verify
//! against `auth.jwt_secret` alone.

use std::collections::HashSet;
use std::str::FromStr as _;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};

use super::TokenError;

/// The shortest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// One verifying key of a key set.
pub(super) struct PublicKey {
    kid: Option<String>,
    pub(super) key: DecodingKey,
    /// What the key may verify; a token of another algorithm is refused before any check.
    pub(super) algorithms: Vec<Algorithm>,
}

/// The verifying keys of one JSON Web Key Set.
pub(super) struct KeySet {
    keys: Vec<PublicKey>,
}

/// Why a JSON Web Key Set cannot be used.
#[derive(Debug, thiserror::Error)]
pub(super) enum KeySetError {
    #[error("not a JSON Web Key Set: {0}")]
    NotJwks(#[from] serde_json::Error),
    #[error("key {index} (kid {kid:?}): {reason}")]
    BadKey {
        index: usize,
        kid: Option<String>,
        reason: String,
    },
    #[error("two keys share the kid `{0}`, so a token naming it is ambiguous")]
    DuplicateKid(String),
    #[error("holds no signature key this runtime verifies (RSA, EC P-256/P-384, Ed25519)")]
    NoUsableKey,
}

impl KeySet {
    /// The usable keys of a JWKS document. Encryption keys, symmetric keys and unsupported
    /// types or curves are left out; a key whose material or `alg` is wrong is an error.
    pub(super) fn parse(json: &[u8]) -> Result<Self, KeySetError> {
        let set: JwkSet = serde_json::from_slice(json)?;
        let mut keys = Vec::with_capacity(set.keys.len());
        let mut kids = HashSet::new();
        for (index, jwk) in set.keys.iter().enumerate() {
            let kid = jwk.common.key_id.clone();
            let bad_key = |reason: String| KeySetError::BadKey {
                index,
                kid: kid.clone(),
                reason,
            };
            let Some(algorithms) = algorithms(jwk).map_err(bad_key)? else {
                continue;
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| bad_key(e.to_string()))?;
            check_material(&key, algorithms[0]).map_err(bad_key)?;
            if let Some(kid) = &kid
                && !kids.insert(kid.clone())
            {
                return Err(KeySetError::DuplicateKid(kid.clone()));
            }
            keys.push(PublicKey {
                kid,
                key,
                algorithms,
            });
        }
        if keys.is_empty() {
            return Err(KeySetError::NoUsableKey);
        }
        Ok(Self { keys })
    }

    /// The key a token names by `kid`; without a `kid`, the set's only key.
    pub(super) fn find(&self, kid: Option<&str>) -> Result<&PublicKey, TokenError> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|key| key.kid.as_deref() == Some(kid))
                .ok_or_else(|| TokenError::UnknownKey(kid.to_string())),
            None => match self.keys.as_slice() {
                [only] => Ok(only),
                _ => Err(TokenError::MissingKeyId),
            },
        }
    }
}

/// The algorithms a JWK may verify; `None` for a key that is not a signature key of a supported
/// type.
fn algorithms(jwk: &Jwk) -> Result<Option<Vec<Algorithm>>, String> {
    let common = &jwk.common;
    let not_for_signatures = matches!(
        common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) || common
        .key_operations
        .as_ref()
        .is_some_and(|ops| !ops.contains(&KeyOperations::Verify));
    if not_for_signatures {
        return Ok(None);
    }
    let by_type: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => &[
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(params) => match params.curve {
            EllipticCurve::P256 => &[Algorithm::ES256],
            EllipticCurve::P384 => &[Algorithm::ES384],
            _ => return Ok(None),
        },
        AlgorithmParameters::OctetKeyPair(params) => match params.curve {
            EllipticCurve::Ed25519 => &[Algorithm::EdDSA],
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    let Some(declared) = common.key_algorithm else {
        return Ok(Some(by_type.to_vec()));
    };
    match Algorithm::from_str(&declared.to_string()) {
        Ok(algorithm) if by_type.contains(&algorithm) => Ok(Some(vec![algorithm])),
        Ok(algorithm) => Err(format!("its alg {algorithm:?} does not fit its key type")),
        // An `alg` of encryption (`RSA-OAEP`) or one this runtime does not know.
        Err(_) => Ok(None),
    }
}

/// Refuses key material no token could ever verify against, so that a broken key is a load
/// error rather than a refusal of every token it signed.
fn check_material(key: &DecodingKey, algorithm: Algorithm) -> Result<(), String> {
    match key.kind() {
        DecodingKeyKind::RsaModulusExponent { n, .. } => {
            let significant = n.iter().skip_while(|byte| **byte == 0).count();
            if significant < MIN_RSA_MODULUS_BYTES {
                return Err("RSA keys shorter than 2048 bits are refused".into());
            }
        }
        DecodingKeyKind::SecretOrDer(bytes) if algorithm == Algorithm::EdDSA => {
            if bytes.len() != 32 {
                return Err("an Ed25519 key is 32 bytes".into());
            }
        }
        DecodingKeyKind::SecretOrDer(_) => {}
    }
    // Building the verifier parses the key: an EC point off its curve fails here.
    jsonwebtoken::crypto::verify("", b"", key, algorithm)
        .map(drop)
        .map_err(|e| format!("not a valid {algorithm:?} key ({e})"))
}

#[cfg(test)]
mod tests {
    use super::{KeySet, KeySetError};
    use crate::auth::TokenError;
    use crate::auth::fixtures::JWKS;

    #[test]
    fn fixture_set_holds_three_keys_found_by_kid() {
        let set = KeySet::parse(JWKS.as_bytes()).unwrap();
        for kid in ["rsa-1", "ec-1", "ed-1"] {
            assert!(set.find(Some(kid)).is_ok(), "{kid}");
        }
        assert_eq!(
            set.find(Some("nope")).err(),
            Some(TokenError::UnknownKey("nope".into()))
        );
        assert_eq!(set.find(None).err(), Some(TokenError::MissingKeyId));
    }

    #[test]
    fn a_single_key_matches_a_token_without_kid() {
        let set = KeySet::parse(&single(r#""kid":"only","#)).unwrap();
        assert!(set.find(None).is_ok());
    }

    #[test]
    fn encryption_and_symmetric_keys_are_left_out() {
        let json = r#"{"keys":[
            {"kty":"oct","kid":"hmac","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"},
            {"kty":"EC","kid":"enc","use":"enc","crv":"P-256","x":"AA","y":"AA"}]}"#;
        assert!(matches!(
            KeySet::parse(json.as_bytes()),
            Err(KeySetError::NoUsableKey)
        ));
    }

    #[test]
    fn an_alg_that_does_not_fit_the_key_type_is_an_error() {
        let error = KeySet::parse(&single(r#""kid":"k","alg":"ES256","#))
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("does not fit"), "{error}");
    }

    #[test]
    fn broken_key_material_is_an_error() {
        let json = r#"{"keys":[{"kty":"EC","kid":"ec","crv":"P-256","x":"AQ","y":"AQ"}]}"#;
        let error = KeySet::parse(json.as_bytes()).err().unwrap().to_string();
        assert!(error.starts_with("key 0 (kid Some(\"ec\"))"), "{error}");
        let short = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AQ"}]}"#;
        assert!(KeySet::parse(short.as_bytes()).is_err());
    }

    #[test]
    fn duplicate_kids_are_an_error() {
        let rsa = rsa_1();
        let json = format!(r#"{{"keys":[{rsa},{rsa}]}}"#);
        assert!(matches!(
            KeySet::parse(json.as_bytes()),
            Err(KeySetError::DuplicateKid(kid)) if kid == "rsa-1"
        ));
    }

    /// The RSA key of the fixture set, as JSON.
    fn rsa_1() -> String {
        let set: serde_json::Value = serde_json::from_str(JWKS).unwrap();
        set["keys"][0].to_string()
    }

    /// A set of the fixture RSA key alone, its `kid` and `alg` replaced by `fields`.
    fn single(fields: &str) -> Vec<u8> {
        let mut key: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&rsa_1()).unwrap();
        key.remove("kid");
        key.remove("alg");
        let body = serde_json::Value::Object(key).to_string();
        format!(r#"{{"keys":[{{{fields}{}]}}"#, &body[1..]).into_bytes()
    }
}

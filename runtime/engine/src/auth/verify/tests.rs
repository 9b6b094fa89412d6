use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::json;

use super::Verifier;
use crate::auth::TokenError;
use crate::auth::fixtures::{
    RSA_1, RSA_1_PUBLIC, SECRET, claims, ec, ed25519, hmac, hmac_config, jwks_config, now, rsa,
    sign, with,
};
use crate::config::{AuthConfig, Secret};

async fn verifier(config: AuthConfig) -> Arc<Verifier> {
    Verifier::new(&config).await.unwrap().unwrap()
}

fn b64(json: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(json.to_string())
}

#[tokio::test]
async fn auth_off_is_no_verifier() {
    assert!(
        Verifier::new(&AuthConfig::default())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn hs256_and_hs384_verify_with_the_secret() {
    let verifier = verifier(hmac_config()).await;
    for algorithm in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let token = sign(algorithm, None, &hmac(SECRET.as_bytes()), &claims(60));
        let claims = verifier.verify(&token).await.unwrap();
        assert_eq!(claims["role"], "customer", "{algorithm:?}");
    }
}

#[tokio::test]
async fn a_wrong_secret_is_a_bad_signature() {
    let verifier = verifier(hmac_config()).await;
    let other = b"another secret of at least 32 bytes!";
    let token = sign(Algorithm::HS256, None, &hmac(other), &claims(60));
    assert_eq!(verifier.verify(&token).await, Err(TokenError::BadSignature));
}

#[tokio::test]
async fn alg_none_is_always_refused() {
    let verifier = verifier(AuthConfig {
        jwt_secret: Some(Secret::new(SECRET)),
        ..jwks_config()
    })
    .await;
    let header = b64(&json!({ "alg": "none", "typ": "JWT" }));
    let payload = b64(&serde_json::Value::Object(claims(60)));
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}.c2ln"),
    ] {
        assert_eq!(
            verifier.verify(&token).await,
            Err(TokenError::AlgorithmNotAllowed("none".into()))
        );
    }
}

#[tokio::test]
async fn expiry_is_checked_with_the_leeway() {
    let verifier = verifier(hmac_config()).await;
    let key = hmac(SECRET.as_bytes());
    let beyond = sign(Algorithm::HS256, None, &key, &claims(-31));
    assert_eq!(verifier.verify(&beyond).await, Err(TokenError::Expired));
    let within = sign(Algorithm::HS256, None, &key, &claims(-20));
    assert!(verifier.verify(&within).await.is_ok());
    let no_exp = sign(
        Algorithm::HS256,
        None,
        &key,
        &with(claims(60), "exp", json!(null)),
    );
    assert_eq!(
        verifier.verify(&no_exp).await,
        Err(TokenError::MissingClaim("exp".into()))
    );
}

#[tokio::test]
async fn a_future_nbf_is_refused() {
    let verifier = verifier(hmac_config()).await;
    let key = hmac(SECRET.as_bytes());
    let future = sign(
        Algorithm::HS256,
        None,
        &key,
        &with(claims(600), "nbf", json!(now() + 300)),
    );
    assert_eq!(verifier.verify(&future).await, Err(TokenError::NotYetValid));
    let within = sign(
        Algorithm::HS256,
        None,
        &key,
        &with(claims(600), "nbf", json!(now() + 10)),
    );
    assert!(verifier.verify(&within).await.is_ok());
}

#[tokio::test]
async fn issuer_and_audience_are_required_when_configured() {
    let verifier = verifier(AuthConfig {
        issuer: Some("https://issuer.example".into()),
        audience: Some("runtime".into()),
        ..hmac_config()
    })
    .await;
    let key = hmac(SECRET.as_bytes());
    let good = with(
        with(claims(60), "iss", json!("https://issuer.example")),
        "aud",
        json!(["other", "runtime"]),
    );
    let token = |claims| sign(Algorithm::HS256, None, &key, &claims);
    assert!(verifier.verify(&token(good.clone())).await.is_ok());
    let cases = [
        (
            with(good.clone(), "iss", json!("https://evil.example")),
            TokenError::WrongIssuer,
        ),
        (
            with(good.clone(), "aud", json!("other")),
            TokenError::WrongAudience,
        ),
        (
            with(good.clone(), "iss", json!(null)),
            TokenError::MissingClaim("iss".into()),
        ),
        (
            with(good, "aud", json!(null)),
            TokenError::MissingClaim("aud".into()),
        ),
    ];
    for (claims, refusal) in cases {
        assert_eq!(verifier.verify(&token(claims)).await, Err(refusal));
    }
}

#[tokio::test]
async fn an_audience_is_not_checked_unless_configured() {
    let verifier = verifier(hmac_config()).await;
    let claims = with(claims(60), "aud", json!("anything"));
    let token = sign(Algorithm::HS256, None, &hmac(SECRET.as_bytes()), &claims);
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn malformed_tokens_are_refused() {
    let verifier = verifier(hmac_config()).await;
    let key = hmac(SECRET.as_bytes());
    let header = b64(&json!({ "alg": "HS256", "typ": "JWT" }));
    // Rightly signed, so that the payload is what gets refused.
    let signed = |payload: &str| {
        let message = format!("{header}.{payload}");
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap();
        format!("{message}.{signature}")
    };
    let valid = sign(Algorithm::HS256, None, &key, &claims(60));
    let payload = b64(&serde_json::Value::Object(claims(60)));
    for token in [
        String::new(),
        "abc".to_string(),
        "a.b".to_string(),
        format!("{valid}.extra"),
        "!!!.e30.sig".to_string(),
        format!("{}.e30.sig", URL_SAFE_NO_PAD.encode("{not json")),
        format!("{}.e30.sig", b64(&json!({ "typ": "JWT" }))),
        format!("{header}.{payload}.!!!"),
        signed("!!!"),
        signed(&URL_SAFE_NO_PAD.encode("not json")),
        signed(&URL_SAFE_NO_PAD.encode("[1]")),
    ] {
        assert_eq!(
            verifier.verify(&token).await,
            Err(TokenError::Malformed),
            "{token}"
        );
    }
}

#[tokio::test]
async fn asymmetric_tokens_verify_with_the_key_their_kid_names() {
    let verifier = verifier(jwks_config()).await;
    let tokens = [
        sign(Algorithm::RS256, Some("rsa-1"), &rsa(RSA_1), &claims(60)),
        sign(Algorithm::ES256, Some("ec-1"), &ec(), &claims(60)),
        sign(Algorithm::EdDSA, Some("ed-1"), &ed25519(), &claims(60)),
    ];
    for token in tokens {
        assert!(verifier.verify(&token).await.is_ok(), "{token}");
    }
}

#[tokio::test]
async fn key_choice_and_algorithm_are_strict() {
    let verifier = verifier(jwks_config()).await;
    let cases = [
        (
            sign(Algorithm::RS256, Some("rsa-9"), &rsa(RSA_1), &claims(60)),
            TokenError::UnknownKey("rsa-9".into()),
        ),
        (
            sign(Algorithm::RS256, None, &rsa(RSA_1), &claims(60)),
            TokenError::MissingKeyId,
        ),
        // The key's `alg` (RS256) pins it, though PS256 fits an RSA key.
        (
            sign(Algorithm::PS256, Some("rsa-1"), &rsa(RSA_1), &claims(60)),
            TokenError::AlgorithmNotAllowed("PS256".into()),
        ),
        // An EC token naming the RSA key.
        (
            sign(Algorithm::ES256, Some("rsa-1"), &ec(), &claims(60)),
            TokenError::AlgorithmNotAllowed("ES256".into()),
        ),
        // HMAC tokens are not accepted without auth.jwt_secret.
        (
            sign(
                Algorithm::HS256,
                None,
                &hmac(SECRET.as_bytes()),
                &claims(60),
            ),
            TokenError::AlgorithmNotAllowed("HS256".into()),
        ),
    ];
    for (token, refusal) in cases {
        assert_eq!(verifier.verify(&token).await, Err(refusal));
    }
}

#[tokio::test]
async fn asymmetric_tokens_are_refused_without_a_key_set() {
    let verifier = verifier(hmac_config()).await;
    let token = sign(Algorithm::RS256, Some("rsa-1"), &rsa(RSA_1), &claims(60));
    assert_eq!(
        verifier.verify(&token).await,
        Err(TokenError::AlgorithmNotAllowed("RS256".into()))
    );
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let forged = hmac(RSA_1_PUBLIC.as_bytes());
    for kid in [None, Some("rsa-1")] {
        let token = sign(Algorithm::HS256, kid, &forged, &claims(60));
        let only_keys = verifier(jwks_config()).await;
        assert_eq!(
            only_keys.verify(&token).await,
            Err(TokenError::AlgorithmNotAllowed("HS256".into()))
        );
        let with_secret = verifier(AuthConfig {
            jwt_secret: Some(Secret::new(SECRET)),
            ..jwks_config()
        })
        .await;
        assert_eq!(
            with_secret.verify(&token).await,
            Err(TokenError::BadSignature)
        );
    }
}

#[tokio::test]
async fn a_verified_token_is_answered_from_the_cache_and_a_refused_one_is_not_kept() {
    let verifier = verifier(hmac_config()).await;
    let key = hmac(SECRET.as_bytes());
    let token = sign(Algorithm::HS256, None, &key, &claims(60));
    let first = verifier.verify(&token).await.unwrap();
    let second = verifier.verify(&token).await.unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    let expired = sign(Algorithm::HS256, None, &key, &claims(-3600));
    assert_eq!(verifier.verify(&expired).await, Err(TokenError::Expired));
    assert!(verifier.cache.get(&expired, now()).is_none());
}

#[tokio::test]
async fn a_missing_key_file_is_a_start_up_error_naming_the_key() {
    let config = AuthConfig {
        jwks_file: Some("/nonexistent/jwks.json".into()),
        ..AuthConfig::default()
    };
    let error = Verifier::new(&config).await.unwrap_err();
    assert!(
        error.to_string().starts_with("auth.jwks_file: reading"),
        "{error:#}"
    );
}

#[tokio::test]
async fn debug_prints_no_secret() {
    let verifier = verifier(hmac_config()).await;
    let printed = format!("{verifier:?}");
    assert!(!printed.contains(SECRET), "{printed}");
    assert!(printed.contains("***"), "{printed}");
}

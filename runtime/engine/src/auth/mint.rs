//! Minting tokens: HS256 signing with `auth.jwt_secret`, and the token `runtime token` prints, so
//! the API can be tried without an identity provider.

use anyhow::Context as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;

use super::Claims;
use crate::config::{AuthConfig, Secret};

/// Signs claims with an HMAC secret (HS256), for `runtime token` and tests.
pub fn sign_hs256(secret: &Secret, claims: &Claims) -> anyhow::Result<String> {
    let key = EncodingKey::from_secret(secret.expose().as_bytes())
        .context("auth.jwt_secret: not usable as an HMAC key")?;
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).context("signing the token")
}

/// A claim given as `KEY=VALUE`: a value that reads as a JSON number or boolean is one, any
/// other value is a string.
pub fn parse_claim(arg: &str) -> Result<(String, Value), String> {
    let Some((key, value)) = arg.split_once('=').filter(|(key, _)| !key.is_empty()) else {
        return Err(format!("`{arg}` is not KEY=VALUE"));
    };
    let value = match serde_json::from_str::<Value>(value) {
        Ok(typed @ (Value::Number(_) | Value::Bool(_))) => typed,
        _ => Value::String(value.to_string()),
    };
    Ok((key.to_string(), value))
}

/// A token of `role` valid for `ttl_secs`, signed with `auth.jwt_secret`: the role under
/// `auth.role_claim` (a dotted path nests objects), `iat`, `exp`, the configured `iss` and
/// `aud`, then `extra`, each replacing a claim of its name.
pub fn role_token(
    config: &AuthConfig,
    role: &str,
    extra: &[(String, Value)],
    ttl_secs: u64,
) -> anyhow::Result<String> {
    let secret = config.jwt_secret.as_ref().context(
        "the token command signs with auth.jwt_secret, which is not set \
         (set RUNTIME_AUTH__JWT_SECRET, or jwt_secret under [auth] in runtime.toml)",
    )?;
    let now = jsonwebtoken::get_current_timestamp();
    sign_hs256(secret, &role_claims(config, role, extra, ttl_secs, now))
}

fn role_claims(
    config: &AuthConfig,
    role: &str,
    extra: &[(String, Value)],
    ttl_secs: u64,
    now: u64,
) -> Claims {
    let mut path = config.role_claim.split('.').rev();
    let mut top = path.next().unwrap_or_default();
    let mut role = Value::from(role);
    for parent in path {
        role = Value::Object(Claims::from_iter([(top.to_string(), role)]));
        top = parent;
    }
    let mut claims = Claims::new();
    claims.insert(top.to_string(), role);
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), now.saturating_add(ttl_secs).into());
    if let Some(issuer) = &config.issuer {
        claims.insert("iss".into(), issuer.as_str().into());
    }
    if let Some(audience) = &config.audience {
        claims.insert("aud".into(), audience.as_str().into());
    }
    for (key, value) in extra {
        claims.insert(key.clone(), value.clone());
    }
    claims
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{parse_claim, role_claims, role_token};
    use crate::auth::Verifier;
    use crate::auth::fixtures::hmac_config;
    use crate::config::AuthConfig;

    #[test]
    fn claims_are_typed_when_they_read_as_numbers_or_booleans() {
        assert_eq!(
            parse_claim("customer_id=1"),
            Ok(("customer_id".into(), json!(1)))
        );
        assert_eq!(parse_claim("ratio=0.5"), Ok(("ratio".into(), json!(0.5))));
        assert_eq!(parse_claim("admin=true"), Ok(("admin".into(), json!(true))));
        assert_eq!(parse_claim("name=ada"), Ok(("name".into(), json!("ada"))));
        assert_eq!(parse_claim("list=[1]"), Ok(("list".into(), json!("[1]"))));
        assert_eq!(parse_claim("eq=a=b"), Ok(("eq".into(), json!("a=b"))));
        assert!(parse_claim("no-equals").is_err());
        assert!(parse_claim("=1").is_err());
    }

    #[test]
    fn a_dotted_role_claim_nests_objects() {
        let config = AuthConfig {
            role_claim: "app.meta.role".into(),
            issuer: Some("me".into()),
            audience: Some("api".into()),
            ..AuthConfig::default()
        };
        let claims = role_claims(&config, "customer", &[("n".into(), json!(1))], 60, 1_000);
        assert_eq!(
            serde_json::Value::Object(claims),
            json!({
                "app": { "meta": { "role": "customer" } },
                "iat": 1_000, "exp": 1_060, "iss": "me", "aud": "api", "n": 1
            })
        );
    }

    #[tokio::test]
    async fn the_token_verifies_with_the_configured_secret() {
        let config = AuthConfig {
            issuer: Some("runtime".into()),
            ..hmac_config()
        };
        let token =
            role_token(&config, "customer", &[("customer_id".into(), json!(1))], 60).unwrap();
        let verifier = Verifier::new(&config).await.unwrap().unwrap();
        let claims = verifier.verify(&token).await.unwrap();
        assert_eq!(claims["role"], "customer");
        assert_eq!(claims["customer_id"], 1);
        assert_eq!(claims["iss"], "runtime");
    }

    #[test]
    fn without_a_secret_the_error_names_it() {
        let error = role_token(&AuthConfig::default(), "customer", &[], 60).unwrap_err();
        assert!(
            error.to_string().contains("RUNTIME_AUTH__JWT_SECRET"),
            "{error}"
        );
    }
}

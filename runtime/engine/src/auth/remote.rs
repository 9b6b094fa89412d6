//! The key set of `auth.jwks_url`: fetched at start, fetched again when a token names a key it
//! lacks (the issuer rotated its keys), at most once every 30 seconds however many requests
//! ask, the new set replacing the old.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::Url;
use tokio::sync::Mutex;

use super::keys::KeySet;

/// The least time between two fetches made for unknown keys.
const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A key set served at a URL.
pub(super) struct RemoteKeys {
    url: Url,
    client: reqwest::Client,
    current: RwLock<Arc<KeySet>>,
    /// When the last refetch started; held while one runs, so that concurrent requests for
    /// unknown keys wait for its answer instead of fetching too.
    last_refetch: Mutex<Option<Instant>>,
}

impl RemoteKeys {
    /// Fetches the key set once; a failure is a start-up error naming `auth.jwks_url`.
    pub(super) async fn load(url: &str) -> anyhow::Result<Self> {
        let url = Url::parse(url).with_context(|| format!("auth.jwks_url: `{url}` is no URL"))?;
        let loopback = match url.host_str() {
            Some("localhost") => true,
            Some(host) => host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()),
            None => false,
        };
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            anyhow::bail!(
                "auth.jwks_url: `{url}` must be an https URL (plain http only for a loopback host), \
                 or anyone between this runtime and the issuer could hand it keys"
            );
        }
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .context("auth.jwks_url: building the HTTP client")?;
        let set = fetch(&client, &url)
            .await
            .with_context(|| format!("auth.jwks_url: fetching the key set from {url}"))?;
        Ok(Self {
            url,
            client,
            current: RwLock::new(Arc::new(set)),
            last_refetch: Mutex::new(None),
        })
    }

    /// The key set in use.
    pub(super) fn current(&self) -> Arc<KeySet> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The key set after fetching it again, for a token whose key `seen` lacks. Fetches only
    /// when no other request replaced `seen` meanwhile and the last refetch is 30 s old; a
    /// failed fetch is logged and leaves the set as it was.
    pub(super) async fn refetch(&self, seen: &Arc<KeySet>) -> Arc<KeySet> {
        let mut last_refetch = self.last_refetch.lock().await;
        let current = self.current();
        let recent = last_refetch.is_some_and(|at| at.elapsed() < REFETCH_INTERVAL);
        if !Arc::ptr_eq(&current, seen) || recent {
            return current;
        }
        *last_refetch = Some(Instant::now());
        match fetch(&self.client, &self.url).await {
            Ok(set) => {
                let set = Arc::new(set);
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&set);
                set
            }
            Err(error) => {
                tracing::warn!(url = %self.url, "auth.jwks_url: refetching the key set: {error:#}");
                current
            }
        }
    }
}

async fn fetch(client: &reqwest::Client, url: &Url) -> anyhow::Result<KeySet> {
    let body = client
        .get(url.clone())
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    Ok(KeySet::parse(&body)?)
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use jsonwebtoken::Algorithm;

    use super::RemoteKeys;
    use crate::auth::fixtures::{JWKS, JWKS_ROTATED, RSA_1, RSA_2, claims, rsa, sign, with};
    use crate::auth::{TokenError, Verifier};
    use crate::config::AuthConfig;

    /// A JWKS endpoint on 127.0.0.1 serving whatever `body` holds, counting its requests.
    struct JwksServer {
        url: String,
        body: Arc<Mutex<&'static str>>,
        requests: Arc<AtomicUsize>,
    }

    impl JwksServer {
        fn start(body: &'static str) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
            let body = Arc::new(Mutex::new(body));
            let requests = Arc::new(AtomicUsize::new(0));
            let (served, counted) = (Arc::clone(&body), Arc::clone(&requests));
            std::thread::spawn(move || {
                for mut stream in listener.incoming().map_while(Result::ok) {
                    let mut request = Vec::new();
                    let mut chunk = [0; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => break,
                            Ok(read) => request.extend_from_slice(&chunk[..read]),
                        }
                    }
                    counted.fetch_add(1, Ordering::SeqCst);
                    let body = *served.lock().unwrap();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes());
                }
            });
            Self {
                url,
                body,
                requests,
            }
        }

        fn serve(&self, body: &'static str) {
            *self.body.lock().unwrap() = body;
        }

        fn requests(&self) -> usize {
            self.requests.load(Ordering::SeqCst)
        }

        async fn verifier(&self) -> Arc<Verifier> {
            let config = AuthConfig {
                jwks_url: Some(self.url.clone()),
                ..AuthConfig::default()
            };
            Verifier::new(&config).await.unwrap().unwrap()
        }
    }

    fn token(kid: &str, pem: &str, marker: u64) -> String {
        let claims = with(claims(60), "n", marker.into());
        sign(Algorithm::RS256, Some(kid), &rsa(pem), &claims)
    }

    #[tokio::test]
    async fn an_unknown_kid_refetches_the_rotated_set_then_waits_30_seconds() {
        let server = JwksServer::start(JWKS);
        let verifier = server.verifier().await;
        assert_eq!(server.requests(), 1);
        assert!(verifier.verify(&token("rsa-1", RSA_1, 1)).await.is_ok());
        assert_eq!(server.requests(), 1, "a known kid fetches nothing");

        server.serve(JWKS_ROTATED);
        assert!(verifier.verify(&token("rsa-2", RSA_2, 1)).await.is_ok());
        assert_eq!(server.requests(), 2);
        assert!(verifier.verify(&token("rsa-1", RSA_1, 2)).await.is_ok());

        assert_eq!(
            verifier.verify(&token("rsa-3", RSA_2, 1)).await,
            Err(TokenError::UnknownKey("rsa-3".into()))
        );
        assert_eq!(server.requests(), 2, "a second refetch within 30 s");
    }

    #[tokio::test]
    async fn concurrent_unknown_kids_fetch_once() {
        let server = JwksServer::start(JWKS);
        let verifier = server.verifier().await;
        let tokens: Vec<String> = (0..4)
            .map(|n| token(&format!("new-{n}"), RSA_2, n))
            .collect();
        let answers =
            futures_util::future::join_all(tokens.iter().map(|t| verifier.verify(t))).await;
        assert!(
            answers
                .iter()
                .all(|answer| matches!(answer, Err(TokenError::UnknownKey(_))))
        );
        assert_eq!(server.requests(), 2);
    }

    #[tokio::test]
    async fn a_failed_refetch_keeps_the_old_set() {
        let server = JwksServer::start(JWKS);
        let verifier = server.verifier().await;
        server.serve("not a key set");
        assert_eq!(
            verifier.verify(&token("rsa-2", RSA_2, 1)).await,
            Err(TokenError::UnknownKey("rsa-2".into()))
        );
        assert_eq!(server.requests(), 2);
        assert!(verifier.verify(&token("rsa-1", RSA_1, 3)).await.is_ok());
    }

    #[tokio::test]
    async fn plain_http_is_refused_but_for_loopback() {
        let error = RemoteKeys::load("http://issuer.example/jwks.json")
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(error.starts_with("auth.jwks_url:"), "{error}");
        assert!(error.contains("https"), "{error}");
    }

    #[tokio::test]
    async fn an_unreachable_url_is_a_start_up_error_naming_the_key() {
        let error = RemoteKeys::load("http://127.0.0.1:1/jwks.json")
            .await
            .err()
            .unwrap();
        assert!(
            format!("{error:#}").starts_with("auth.jwks_url: fetching"),
            "{error:#}"
        );
    }
}

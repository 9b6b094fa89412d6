//! What the people who run the runtime configure: the admin listener (`[admin]`), the logs
//! (`[log]`) and cross-origin requests (`[server.cors]`).

use serde::{Deserialize, Serialize};

/// `[admin]`: `/live`, `/ready` and `/metrics` on a port of their own, never an app's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            host: "127.0.0.1".into(),
            port: 9090,
        }
    }
}

/// `[log]`: how log lines are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// One line per request at info level (method, route, status, latency, request id).
    pub requests: bool,
    /// A request id (`X-Request-Id`, kept or made, echoed) and a span per request, so every log
    /// line of a request names it.
    pub request_ids: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            requests: false,
            request_ids: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[server.cors]`: which browser origins may call the APIs; off while `allowed_origins` is
/// empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins (`https://app.example.com`), or `["*"]` for any (only without credentials).
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    /// Response headers a browser script may read.
    pub expose_headers: Vec<String>,
    /// Seconds a browser may cache a preflight answer.
    pub max_age_secs: usize,
    /// Whether browsers send cookies and `Authorization` with cross-origin requests.
    pub allow_credentials: bool,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            allowed_methods: ["GET", "POST", "PUT", "PATCH", "DELETE"]
                .map(String::from)
                .to_vec(),
            allowed_headers: [
                "authorization",
                "content-type",
                "accept",
                "x-request-id",
                "if-match",
                "if-none-match",
            ]
            .map(String::from)
            .to_vec(),
            expose_headers: [
                "x-total-count",
                "x-start-after",
                "x-end-before",
                "x-request-id",
                "location",
                "etag",
            ]
            .map(String::from)
            .to_vec(),
            max_age_secs: 600,
            allow_credentials: false,
        }
    }
}

impl CorsConfig {
    pub fn enabled(&self) -> bool {
        !self.allowed_origins.is_empty()
    }
}

//! Typed configuration, layered defaults < `runtime.toml` < `RUNTIME_*` environment < CLI flags.
//!
//! Environment keys nest with `__`: `RUNTIME_DATABASE__URL`, `RUNTIME_APPS__CUSTOMERS__PORT`.
//! Unknown keys are refused with the key's name and where it came from. [`Config::check`] turns
//! the raw layers into a [`CheckedConfig`] against the apps the binary links.

mod app_roles;
mod auth;
mod events;
mod ops;
mod secret;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub use auth::{AuthConfig, Secret};
pub use events::EventsConfig;
pub use ops::{AdminConfig, CorsConfig, LogConfig, LogFormat};
pub use secret::DatabaseUrl;

/// The whole configuration as read from its layers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub database: DatabaseConfig,
    pub server: ServerConfig,
    pub limits: LimitsConfig,
    pub migrations: MigrationsConfig,
    pub graphql: GraphqlConfig,
    pub auth: AuthConfig,
    pub admin: AdminConfig,
    pub log: LogConfig,
    pub events: EventsConfig,
    /// Per-app settings, keyed by app name; an app without an entry uses its manifest's defaults.
    pub apps: BTreeMap<String, AppConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.sqlite` (created on first start) or `postgres://user:pass@host/db`.
    pub url: DatabaseUrl,
    /// Connections in the one PostgreSQL pool shared by every app (SQLite has no pool).
    pub max_connections: u32,
    /// Seconds a request waits for a free connection (SQLite writes: for the writer) before it
    /// gets a 503.
    pub acquire_timeout_secs: u64,
    /// Bytes of answers of expensive reads (scans) kept until the next commit; 0 = none.
    pub read_cache_bytes: usize,
    /// Seconds `start` keeps retrying a database that does not answer, with backoff.
    pub connect_timeout_secs: u64,
    /// Milliseconds one statement may run (PostgreSQL); 0 = only the request deadline.
    pub statement_timeout_ms: u64,
    /// What `runtime db roles` puts before an app's name to name its PostgreSQL role.
    pub role_prefix: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The address every listener binds.
    pub host: String,
    /// The port of the composed API (every app together).
    pub port: u16,
    /// HTTP worker threads, shared by every listener; 0 means one per CPU core.
    pub workers: usize,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest accepted request target (path and query), in bytes: longer is a 414.
    pub max_url_bytes: usize,
    /// Largest accepted request headers, in bytes all together: more is a 431.
    pub max_header_bytes: usize,
    /// Seconds in-flight requests get to finish on SIGTERM/SIGINT.
    pub shutdown_timeout_secs: u64,
    pub cors: CorsConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Rows a list returns when the request names no `limit`.
    pub default_limit: u32,
    /// The largest `limit` a request may ask for.
    pub max_limit: u32,
    /// The most conditions one request's filters may hold in all (`where.*`, `where.or`
    /// alternatives, GraphQL `where` with its nested `and`/`or`); an `in` list is one.
    pub max_conditions: usize,
    /// The most values the `in`/`nin` lists of one request may hold in all.
    pub max_in_values: usize,
    /// The most rows one bulk insert may carry.
    pub max_bulk_rows: usize,
    /// The most rows one read may answer, its nested relations' rows included, counted from
    /// the limits it asks for (GraphQL lists inside lists multiply).
    pub max_answer_rows: usize,
    /// The deepest a request may nest: JSON bodies, GraphQL documents (brackets of every
    /// kind) and GraphQL variables. Checked before anything is parsed.
    pub max_nesting: usize,
    /// Seconds one request may take; past that it answers 503 and its statement is stopped.
    pub request_timeout_secs: f64,
}

/// The most bound parameters SQLite accepts in one statement (its default
/// `SQLITE_MAX_VARIABLE_NUMBER`); PostgreSQL accepts 65,535.
pub const SQLITE_MAX_PARAMS: usize = 32_766;

/// The deepest [`LimitsConfig::max_nesting`] may be: the parsers behind the check recurse once
/// per level, and this keeps them far inside a serving thread's stack.
pub const MAX_NESTING_CEILING: usize = 256;

impl LimitsConfig {
    /// How long one request may take.
    pub fn request_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.request_timeout_secs)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MigrationsConfig {
    /// The folder holding the one migration set.
    pub dir: PathBuf,
    /// Whether `runtime start` applies pending migrations before serving.
    pub apply_on_start: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphqlConfig {
    /// The deepest selection a GraphQL query may nest.
    pub max_depth: usize,
    /// The most fields a GraphQL query may select in all.
    pub max_complexity: usize,
}

impl Default for GraphqlConfig {
    fn default() -> Self {
        Self {
            max_depth: 10,
            max_complexity: 500,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppConfig {
    /// The app's own port; its manifest's default port when absent.
    pub port: Option<u16>,
    /// Whether `runtime start` serves the app on its own port and in the composed API.
    pub enabled: Option<bool>,
    /// What `runtime start --app NAME` connects with instead of `database.url`: the app's own
    /// PostgreSQL role (see `runtime db roles`).
    pub database_url: Option<DatabaseUrl>,
    /// The password `runtime db roles` gives the app's role; none when absent.
    pub database_password: Option<Secret>,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: DatabaseUrl::new("sqlite://data/runtime.sqlite"),
            max_connections: 10,
            acquire_timeout_secs: 5,
            read_cache_bytes: 4 * 1024 * 1024,
            connect_timeout_secs: 30,
            statement_timeout_ms: 0,
            role_prefix: "app_".into(),
        }
    }
}

impl ServerConfig {
    /// The HTTP worker threads the runtime starts.
    pub fn worker_threads(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 3042,
            workers: 0,
            max_body_bytes: 1024 * 1024,
            max_url_bytes: 64 * 1024,
            max_header_bytes: 32 * 1024,
            shutdown_timeout_secs: 30,
            cors: CorsConfig::default(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            default_limit: 10,
            max_limit: 100,
            max_conditions: 100,
            max_in_values: 5_000,
            max_bulk_rows: 10_000,
            max_answer_rows: 100_000,
            max_nesting: 64,
            request_timeout_secs: 30.0,
        }
    }
}

impl Default for MigrationsConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("migrations"),
            apply_on_start: false,
        }
    }
}

/// Values given on the command line; each one set overrides every other layer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CliOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<CliDatabase>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<CliServer>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CliDatabase {
    pub url: DatabaseUrl,
}

#[derive(Debug, Clone, Serialize)]
pub struct CliServer {
    pub port: u16,
}

impl CliOverrides {
    pub fn new(database_url: Option<String>, port: Option<u16>) -> Self {
        Self {
            database: database_url.map(|url| CliDatabase {
                url: DatabaseUrl::new(url),
            }),
            server: port.map(|port| CliServer { port }),
        }
    }
}

/// Where the configuration file comes from.
#[derive(Debug, Clone)]
pub enum ConfigFile {
    /// `runtime.toml` in the working directory, if there is one.
    Default,
    /// A file the user named; it must exist.
    Named(PathBuf),
}

/// A configuration that could not be read or does not make sense.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist (check --config)")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    #[error("invalid configuration key `{key}`: {reason}")]
    Key { key: String, reason: String },
}

impl Config {
    /// Reads every layer: defaults, the file, `RUNTIME_*` variables, then the CLI flags.
    pub fn load(file: &ConfigFile, cli: &CliOverrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        figment = match file {
            ConfigFile::Default => figment.merge(Toml::file("runtime.toml")),
            ConfigFile::Named(path) if path.is_file() => figment.merge(Toml::file_exact(path)),
            ConfigFile::Named(path) => return Err(ConfigError::MissingFile(path.clone())),
        };
        figment
            .merge(Env::prefixed("RUNTIME_").split("__"))
            .merge(Serialized::defaults(cli))
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))
    }

    /// Checks the configuration against the apps the binary links (`(name, default port)`).
    pub fn check(self, linked: &[(&str, u16)]) -> Result<CheckedConfig, ConfigError> {
        for name in self.apps.keys() {
            if !linked.iter().any(|(linked_name, _)| linked_name == name) {
                let known: Vec<&str> = linked.iter().map(|(n, _)| *n).collect();
                return Err(ConfigError::Key {
                    key: format!("apps.{name}"),
                    reason: format!(
                        "no app named `{name}` is linked into this binary (known apps: {})",
                        known.join(", ")
                    ),
                });
            }
        }
        let limits = &self.limits;
        if limits.max_limit == 0 {
            return Err(key_error("limits.max_limit", "must be at least 1"));
        }
        if limits.default_limit == 0 || limits.default_limit > limits.max_limit {
            return Err(key_error(
                "limits.default_limit",
                &format!(
                    "must be between 1 and limits.max_limit ({})",
                    limits.max_limit
                ),
            ));
        }
        check_request_limits(limits)?;
        check_auth(&self.auth, &self.server)?;
        check_ops(&self)?;
        self.events.check()?;
        app_roles::check(&self)?;
        if self.database.max_connections == 0 {
            return Err(key_error("database.max_connections", "must be at least 1"));
        }
        if self.graphql.max_depth == 0 {
            return Err(key_error("graphql.max_depth", "must be at least 1"));
        }
        if self.graphql.max_complexity == 0 {
            return Err(key_error("graphql.max_complexity", "must be at least 1"));
        }
        if self.server.max_body_bytes == 0 {
            return Err(key_error("server.max_body_bytes", "must be at least 1"));
        }
        let mut apps = Vec::new();
        for (name, default_port) in linked {
            let entry = self.apps.get(*name).cloned().unwrap_or_default();
            apps.push(AppSettings {
                name: (*name).to_string(),
                port: entry.port.unwrap_or(*default_port),
                enabled: entry.enabled.unwrap_or(true),
                database_url: entry.database_url,
                database_password: entry.database_password,
            });
        }
        let mut taken: Vec<(u16, String)> = vec![(self.server.port, "server.port".into())];
        for app in apps.iter().filter(|app| app.enabled) {
            if app.port == 0 {
                continue;
            }
            if let Some((_, owner)) = taken.iter().find(|(port, _)| *port == app.port) {
                return Err(key_error(
                    &format!("apps.{}.port", app.name),
                    &format!(
                        "port {} is already used by `{owner}`; give each app its own port",
                        app.port
                    ),
                ));
            }
            taken.push((app.port, format!("apps.{}.port", app.name)));
        }
        if let Some((_, owner)) = taken
            .iter()
            .find(|(port, _)| self.admin.enabled && *port != 0 && *port == self.admin.port)
        {
            return Err(key_error(
                "admin.port",
                &format!(
                    "port {} is already used by `{owner}`; the admin listener needs its own",
                    self.admin.port
                ),
            ));
        }
        Ok(CheckedConfig { raw: self, apps })
    }
}

/// The limits that keep one request inside the databases' own limits and the server's stack.
fn check_request_limits(limits: &LimitsConfig) -> Result<(), ConfigError> {
    for (key, value) in [
        ("limits.max_conditions", limits.max_conditions),
        ("limits.max_in_values", limits.max_in_values),
        ("limits.max_bulk_rows", limits.max_bulk_rows),
        ("limits.max_answer_rows", limits.max_answer_rows),
        ("limits.max_nesting", limits.max_nesting),
    ] {
        if value == 0 {
            return Err(key_error(key, "must be at least 1"));
        }
    }
    // A filter binds at most one value per condition and one per `in` value; the rest of a
    // statement (keys, cursors) binds a few hundred at most.
    let filter_params = limits.max_conditions.saturating_add(limits.max_in_values);
    if filter_params > SQLITE_MAX_PARAMS / 2 {
        return Err(key_error(
            "limits.max_in_values",
            &format!(
                "limits.max_conditions + limits.max_in_values must stay at or below {}, half of \
                 the bound values SQLite accepts in one statement",
                SQLITE_MAX_PARAMS / 2
            ),
        ));
    }
    // SQLite nests one expression level per ANDed or ORed condition and refuses past 1,000.
    if limits.max_conditions > 500 {
        return Err(key_error(
            "limits.max_conditions",
            "must be at most 500 (SQLite refuses expressions nested past 1,000 levels)",
        ));
    }
    if limits.max_nesting > MAX_NESTING_CEILING {
        return Err(key_error(
            "limits.max_nesting",
            &format!("must be at most {MAX_NESTING_CEILING}"),
        ));
    }
    let timeout = limits.request_timeout_secs;
    if !(timeout.is_finite() && timeout > 0.0 && timeout <= 86_400.0) {
        return Err(key_error(
            "limits.request_timeout_secs",
            "must be a number of seconds above 0 and at most 86400",
        ));
    }
    Ok(())
}

/// The most a request's headers or target may be: actix refuses a request head past 128 KiB
/// with an answer of its own, so the product's 431/414 must come first.
pub const MAX_HEADER_CEILING: usize = 96 * 1024;

fn check_ops(config: &Config) -> Result<(), ConfigError> {
    let server = &config.server;
    for (key, value) in [
        ("server.max_url_bytes", server.max_url_bytes),
        ("server.max_header_bytes", server.max_header_bytes),
    ] {
        if !(256..=MAX_HEADER_CEILING).contains(&value) {
            return Err(key_error(
                key,
                &format!("must be between 256 and {MAX_HEADER_CEILING}"),
            ));
        }
    }
    let cors = &server.cors;
    if cors.allow_credentials && cors.allowed_origins.iter().any(|o| o == "*") {
        return Err(key_error(
            "server.cors.allowed_origins",
            "`*` cannot go with allow_credentials = true: name the origins",
        ));
    }
    for origin in cors.allowed_origins.iter().filter(|o| *o != "*") {
        let valid = (origin.starts_with("http://") || origin.starts_with("https://"))
            && !origin.trim_end_matches('/').contains(['?', '#'])
            && origin.matches('/').count() == 2;
        if !valid {
            return Err(key_error(
                "server.cors.allowed_origins",
                &format!("`{origin}` is not an origin: scheme://host[:port], no path"),
            ));
        }
    }
    for method in &cors.allowed_methods {
        if actix_web::http::Method::from_bytes(method.as_bytes()).is_err() {
            return Err(key_error(
                "server.cors.allowed_methods",
                &format!("`{method}` is not an HTTP method"),
            ));
        }
    }
    if config.database.connect_timeout_secs == 0 {
        return Err(key_error(
            "database.connect_timeout_secs",
            "must be at least 1",
        ));
    }
    Ok(())
}

/// The smallest HMAC secret accepted: 256 bits, as HS256 needs to be worth its name.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

fn check_auth(auth: &AuthConfig, server: &ServerConfig) -> Result<(), ConfigError> {
    if let Some(secret) = &auth.jwt_secret
        && secret.expose().len() < MIN_JWT_SECRET_BYTES
    {
        return Err(key_error(
            "auth.jwt_secret",
            &format!("must be at least {MIN_JWT_SECRET_BYTES} bytes long"),
        ));
    }
    if auth.jwks_file.is_some() && auth.jwks_url.is_some() {
        return Err(key_error(
            "auth.jwks_url",
            "set auth.jwks_file or auth.jwks_url, not both",
        ));
    }
    if auth.role_claim.is_empty() {
        return Err(key_error("auth.role_claim", "must name a claim"));
    }
    let loopback = match server.host.parse::<std::net::IpAddr>() {
        Ok(address) => address.is_loopback(),
        Err(_) => server.host == "localhost",
    };
    if !auth.enabled() && !loopback && !auth.allow_open {
        return Err(key_error(
            "server.host",
            &format!(
                "`{}` is not a loopback address and auth is off, so every port would be open to \
                 anyone who reaches it: set auth.jwt_secret, auth.jwks_file or auth.jwks_url, or \
                 auth.allow_open = true to serve it open on purpose",
                server.host
            ),
        ));
    }
    Ok(())
}

fn key_error(key: &str, reason: &str) -> ConfigError {
    ConfigError::Key {
        key: key.into(),
        reason: reason.into(),
    }
}

/// One app's effective settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSettings {
    pub name: String,
    pub port: u16,
    pub enabled: bool,
    /// `apps.<name>.database_url`: what `start --app NAME` connects with, when set.
    pub database_url: Option<DatabaseUrl>,
    /// `apps.<name>.database_password`: the password of the app's role.
    pub database_password: Option<Secret>,
}

/// A configuration checked against the linked apps.
#[derive(Debug, Clone)]
pub struct CheckedConfig {
    pub raw: Config,
    pub apps: Vec<AppSettings>,
}

impl CheckedConfig {
    pub fn database(&self) -> &DatabaseConfig {
        &self.raw.database
    }

    pub fn server(&self) -> &ServerConfig {
        &self.raw.server
    }

    pub fn limits(&self) -> &LimitsConfig {
        &self.raw.limits
    }

    pub fn auth(&self) -> &AuthConfig {
        &self.raw.auth
    }

    pub fn migrations_dir(&self) -> &Path {
        &self.raw.migrations.dir
    }

    pub fn app(&self, name: &str) -> Option<&AppSettings> {
        self.apps.iter().find(|app| app.name == name)
    }

    /// The database settings `start --app NAME` connects with when the app has a
    /// `database_url` of its own (its role): `database`'s, with that URL.
    pub fn app_database(&self, name: &str) -> Option<DatabaseConfig> {
        let url = self.app(name)?.database_url.clone()?;
        Some(DatabaseConfig {
            url,
            ..self.raw.database.clone()
        })
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return its large error type
mod tests {
    use figment::Jail;

    use super::*;

    const LINKED: &[(&str, u16)] = &[("customers", 3044), ("products", 3045)];

    fn load(jail_file: Option<&str>) -> Result<Config, ConfigError> {
        let file = match jail_file {
            Some(name) => ConfigFile::Named(name.into()),
            None => ConfigFile::Default,
        };
        Config::load(&file, &CliOverrides::default())
    }

    #[test]
    fn layers_apply_in_order() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "runtime.toml",
                "[server]\nport = 4000\n[database]\nurl = \"sqlite://file.db\"\n[apps.customers]\nport = 4001\n",
            )?;
            jail.set_env("RUNTIME_SERVER__PORT", "5000");
            jail.set_env("RUNTIME_APPS__PRODUCTS__ENABLED", "false");
            let config = load(None).expect("loads");
            assert_eq!(config.server.port, 5000);
            assert_eq!(config.database.url.expose(), "sqlite://file.db");
            let cli = CliOverrides::new(Some("postgres://u:p@h/db".into()), Some(6000));
            let config = Config::load(&ConfigFile::Default, &cli).expect("loads");
            assert_eq!(config.server.port, 6000);
            assert_eq!(config.database.url.expose(), "postgres://u:p@h/db");
            let checked = config.check(LINKED).expect("valid");
            assert_eq!(checked.app("customers").map(|a| a.port), Some(4001));
            assert_eq!(checked.app("products").map(|a| a.enabled), Some(false));
            assert_eq!(checked.app("products").map(|a| a.port), Some(3045));
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_named() {
        Jail::expect_with(|jail| {
            jail.create_file("runtime.toml", "[server]\nprot = 1\n")?;
            let err = load(None).expect_err("unknown key").to_string();
            assert!(err.contains("prot"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn unknown_app_and_shared_port_are_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("runtime.toml", "[apps.billing]\nport = 1\n")?;
            let err = load(None)
                .expect("loads")
                .check(LINKED)
                .expect_err("no such app");
            assert!(err.to_string().contains("apps.billing"), "{err}");
            jail.create_file("runtime.toml", "[apps.products]\nport = 3044\n")?;
            let err = load(None)
                .expect("loads")
                .check(LINKED)
                .expect_err("same port");
            let text = err.to_string();
            assert!(
                text.contains("apps.products.port") && text.contains("apps.customers.port"),
                "{text}"
            );
            Ok(())
        });
    }

    #[test]
    fn events_settings_are_checked_by_key() {
        Jail::expect_with(|jail| {
            for (file, key) in [
                ("[events]\nretention_secs = 0\n", "events.retention_secs"),
                ("[events]\npoll_ms = 0\n", "events.poll_ms"),
                ("[events]\nheartbeat_secs = 0\n", "events.heartbeat_secs"),
                ("[events]\nnats_url = \"http://x\"\n", "events.nats_url"),
                ("[events]\nnats_stream = \"a.b\"\n", "events.nats_stream"),
            ] {
                jail.create_file("runtime.toml", file)?;
                let err = load(None).expect("loads").check(LINKED).expect_err(key);
                assert!(err.to_string().contains(key), "{file}: {err}");
            }
            Ok(())
        });
    }

    #[test]
    fn missing_named_file_is_an_error() {
        Jail::expect_with(|_| {
            let err = load(Some("nope.toml")).expect_err("missing");
            assert!(err.to_string().contains("nope.toml"));
            Ok(())
        });
    }

    #[test]
    fn limits_are_checked() {
        Jail::expect_with(|jail| {
            jail.create_file("runtime.toml", "[limits]\ndefault_limit = 500\n")?;
            let err = load(None)
                .expect("loads")
                .check(LINKED)
                .expect_err("too big");
            assert!(err.to_string().contains("limits.default_limit"));
            for (file, key) in [
                ("[limits]\nmax_nesting = 100000\n", "limits.max_nesting"),
                ("[limits]\nmax_in_values = 40000\n", "limits.max_in_values"),
                ("[limits]\nmax_conditions = 0\n", "limits.max_conditions"),
                (
                    "[limits]\nrequest_timeout_secs = 0\n",
                    "limits.request_timeout_secs",
                ),
            ] {
                jail.create_file("runtime.toml", file)?;
                let err = load(None).expect("loads").check(LINKED).expect_err(file);
                assert!(err.to_string().contains(key), "{file}: {err}");
            }
            jail.create_file("runtime.toml", "[limits]\nrequest_timeout_secs = 2\n")?;
            let config = load(None).expect("an integer is seconds too");
            assert_eq!(
                config.limits.request_timeout(),
                std::time::Duration::from_secs(2)
            );
            Ok(())
        });
    }

    #[test]
    fn auth_is_checked_and_an_open_runtime_stays_on_loopback() {
        Jail::expect_with(|jail| {
            for (file, key) in [
                ("[auth]\njwt_secret = \"short\"\n", "auth.jwt_secret"),
                (
                    "[auth]\njwks_file = \"a.json\"\njwks_url = \"https://x/jwks\"\n",
                    "auth.jwks_url",
                ),
                ("[server]\nhost = \"0.0.0.0\"\n", "server.host"),
            ] {
                jail.create_file("runtime.toml", file)?;
                let err = load(None).expect("loads").check(LINKED).expect_err(file);
                assert!(err.to_string().contains(key), "{file}: {err}");
            }
            jail.create_file(
                "runtime.toml",
                "[server]\nhost = \"0.0.0.0\"\n[auth]\nallow_open = true\n",
            )?;
            load(None)
                .expect("loads")
                .check(LINKED)
                .expect("open on purpose");
            jail.set_env(
                "RUNTIME_AUTH__JWT_SECRET",
                "a-secret-of-at-least-thirty-two-bytes",
            );
            jail.create_file("runtime.toml", "[server]\nhost = \"0.0.0.0\"\n")?;
            let config = load(None).expect("loads").check(LINKED).expect("secured");
            assert!(config.auth().enabled());
            assert!(!format!("{:?}", config.auth()).contains("thirty-two"));
            Ok(())
        });
    }
}

//! The test harness: a fresh database per test (a temp SQLite file, or a new PostgreSQL
//! database when `TEST_POSTGRES_URL` is set), the whole runtime on port 0, and a typed client.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use engine::App;
use engine::config::{AppConfig, Config, DatabaseUrl};
use engine::server::{Runtime, RuntimeHandle, Serve};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// Runs a test body on SQLite, and on PostgreSQL when `TEST_POSTGRES_URL` is set; with
/// `config: f`, on a runtime whose test configuration `f` changed first.
macro_rules! both {
    ($name:ident, |$app:ident| $body:block) => {
        $crate::helpers::both!($name, config: |_| {}, |$app| $body);
    };
    ($name:ident, config: $configure:expr, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($app: &$crate::helpers::TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::helpers::TestDb::sqlite();
                let app = $crate::helpers::TestApp::spawn_configured(
                    db,
                    runtime::linked_apps(),
                    $configure,
                )
                .await;
                body(&app).await;
                app.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = $crate::helpers::TestDb::postgres().await else { return };
                let app = $crate::helpers::TestApp::spawn_configured(
                    db,
                    runtime::linked_apps(),
                    $configure,
                )
                .await;
                body(&app).await;
                app.finish().await;
            }
        }
    };
}
pub(crate) use both;

/// The repository's migration set.
pub fn migrations_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../migrations")
}

/// A copy of the repository's migrations that a test may change.
pub fn copy_of_migrations() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(migrations_dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    dir
}

/// A fresh, empty database.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.sqlite").display());
        Self {
            url,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A new database on the server of `TEST_POSTGRES_URL`, or `None` when it is unset.
    pub async fn postgres() -> Option<Self> {
        let admin = std::env::var("TEST_POSTGRES_URL").ok()?;
        let name = format!(
            "rt_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
            .await
            .expect("TEST_POSTGRES_URL must reach a PostgreSQL server");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let (base, _) = admin
            .rsplit_once('/')
            .expect("TEST_POSTGRES_URL ends with /database");
        Some(Self {
            url: format!("{base}/{name}"),
            _dir: None,
            postgres: Some((admin, name)),
        })
    }

    /// The same database under a second name, for a second runtime over it; dropping it drops
    /// nothing (the first one owns the database).
    pub fn alias(&self) -> Self {
        Self {
            url: self.url.clone(),
            _dir: None,
            postgres: None,
        }
    }

    /// Runs SQL straight at the database, as `psql` or `sqlite3` would, beside the runtime.
    pub async fn execute(&self, sql: &str) {
        use sqlx::Connection as _;
        if self.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.url)
                .await
                .expect("sqlite");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut conn)
                .await
                .expect("raw SQL");
            conn.close().await.expect("close");
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.url)
                .await
                .expect("postgres");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut conn)
                .await
                .expect("raw SQL");
            conn.close().await.expect("close");
        }
    }

    pub async fn drop_database(&self) {
        if let Some((admin, name)) = &self.postgres
            && let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(admin).await
        {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await;
        }
    }
}

/// A configuration for tests: every port 0, the repository's migrations applied at start.
pub fn test_config(url: &str, apps: &[App]) -> Config {
    let mut config = Config::default();
    config.database.url = DatabaseUrl::new(url);
    config.database.max_connections = 4;
    config.server.port = 0;
    config.server.workers = 1;
    config.admin.port = 0;
    config.migrations.dir = migrations_dir();
    config.migrations.apply_on_start = true;
    for app in apps {
        config.apps.insert(
            app.name.to_string(),
            AppConfig {
                port: Some(0),
                enabled: Some(true),
                ..AppConfig::default()
            },
        );
    }
    config
}

/// A response: status, headers and the JSON body (Null when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an error reply: status, code, and a message containing every `needle`.
    pub fn assert_error(&self, status: u16, code: &str, needles: &[&str]) {
        assert_eq!(self.status.as_u16(), status, "{:?}", self.body);
        assert_eq!(self.body["statusCode"], status, "{:?}", self.body);
        assert_eq!(self.body["code"], code, "{:?}", self.body);
        assert!(self.body["error"].is_string(), "{:?}", self.body);
        let message = self.body["message"].as_str().expect("message");
        for needle in needles {
            assert!(
                message.contains(needle),
                "{message:?} should mention {needle:?}"
            );
        }
    }

    pub fn assert_ok(&self) -> &Value {
        assert!(self.status.is_success(), "{} {:?}", self.status, self.body);
        &self.body
    }
}

/// The runtime serving every app on port 0, over a fresh database.
pub struct TestApp {
    pub db: TestDb,
    pub addresses: HashMap<String, SocketAddr>,
    pub client: reqwest::Client,
    /// `auth.admin_secret`, sent by every request but [`TestApp::request_as`]'s.
    admin: Option<String>,
    handle: RuntimeHandle,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    pub async fn spawn_sqlite() -> Self {
        Self::spawn_with(TestDb::sqlite(), runtime::linked_apps()).await
    }

    pub async fn spawn_with(db: TestDb, apps: Vec<App>) -> Self {
        Self::spawn_configured(db, apps, |_| {}).await
    }

    /// Starts the runtime on a test configuration that `configure` changed first.
    pub async fn spawn_configured(
        db: TestDb,
        apps: Vec<App>,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let linked: Vec<(&str, u16)> = apps.iter().map(|a| (a.name, a.default_port)).collect();
        let mut config = test_config(&db.url, &apps);
        configure(&mut config);
        let admin = config
            .auth
            .admin_secret
            .as_ref()
            .map(|s| s.expose().to_string());
        let config = config.check(&linked).expect("valid config");
        let runtime = Runtime::build(&config, &apps, Serve::All)
            .await
            .expect("runtime starts");
        let addresses = runtime
            .listeners
            .iter()
            .map(|l| (l.name.clone(), l.address))
            .collect();
        let handle = runtime.handle();
        let task = tokio::spawn(runtime.run());
        Self {
            db,
            addresses,
            client: reqwest::Client::new(),
            admin,
            handle,
            task,
        }
    }

    pub async fn finish(self) {
        let db = self.stop().await;
        db.drop_database().await;
    }

    /// Shuts the runtime down as a signal does, keeping its database.
    pub async fn stop(self) -> TestDb {
        self.handle.stop().await;
        let _ = self.task.await;
        self.db
    }

    /// `http://127.0.0.1:<port of app>/<path>`; `runtime` is the composed port.
    pub fn url(&self, app: &str, path: &str) -> String {
        let address = self
            .addresses
            .get(app)
            .unwrap_or_else(|| panic!("no listener `{app}`"));
        format!("http://{address}{path}")
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        app: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Reply {
        let admin = self
            .admin
            .as_deref()
            .map(|secret| ("x-admin-secret", secret));
        self.send(method, app, path, body, admin).await
    }

    /// A request with a bearer token, or with no credentials at all.
    pub async fn request_as(
        &self,
        token: Option<&str>,
        method: reqwest::Method,
        app: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Reply {
        let bearer = token.map(|token| format!("Bearer {token}"));
        let credential = bearer.as_deref().map(|b| ("authorization", b));
        self.send(method, app, path, body, credential).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        app: &str,
        path: &str,
        body: Option<&Value>,
        credential: Option<(&str, &str)>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(app, path));
        if let Some((name, value)) = credential {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        reply(request.send().await.expect("request")).await
    }

    /// `POST` of a body as it is, under a content type: for bodies `serde_json` would not write.
    pub async fn post_raw(
        &self,
        app: &str,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let request = self
            .client
            .post(self.url(app, path))
            .header("content-type", content_type)
            .body(body);
        reply(request.send().await.expect("request")).await
    }

    pub async fn get(&self, app: &str, path: &str) -> Reply {
        self.request(reqwest::Method::GET, app, path, None).await
    }

    pub async fn post(&self, app: &str, path: &str, body: Value) -> Reply {
        self.request(reqwest::Method::POST, app, path, Some(&body))
            .await
    }

    pub async fn put(&self, app: &str, path: &str, body: Value) -> Reply {
        self.request(reqwest::Method::PUT, app, path, Some(&body))
            .await
    }

    pub async fn patch(&self, app: &str, path: &str, body: Value) -> Reply {
        self.request(reqwest::Method::PATCH, app, path, Some(&body))
            .await
    }

    pub async fn delete(&self, app: &str, path: &str) -> Reply {
        self.request(reqwest::Method::DELETE, app, path, None).await
    }

    /// `POST /graphql` on a port; answers the whole GraphQL response.
    pub async fn graphql(&self, app: &str, query: &str, variables: Value) -> Value {
        let body = serde_json::json!({ "query": query, "variables": variables });
        let reply = self.post(app, "/graphql", body).await;
        assert_eq!(reply.status.as_u16(), 200, "{:?}", reply.body);
        reply.body
    }

    /// SQL statements the runtime has run so far.
    pub fn statements(&self) -> u64 {
        self.handle.statements()
    }

    /// Seeds a small, known data set through the API and answers nothing; see `seed` for ids.
    pub async fn seed(&self) {
        crate::seed::seed(self).await;
    }
}

pub async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

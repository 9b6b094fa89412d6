//! Operations: the admin listener (`/live`, `/ready`, `/metrics`), request ids, CORS, request
//! size limits, and PostgreSQL outages (through a TCP proxy the test stops and starts, so the
//! real server keeps serving the other tests).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::config::Config;
use engine::server::{ADMIN, Runtime, Serve};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::helpers::{TestApp, TestDb, both, copy_of_migrations, test_config};

async fn admin(app: &TestApp, path: &str) -> (u16, String) {
    let reply = app
        .client
        .get(app.url(ADMIN, path))
        .send()
        .await
        .expect("admin answers");
    (reply.status().as_u16(), reply.text().await.unwrap())
}

/// The value of one sample line of the metrics text, by its exact name and labels.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

both!(
    the_admin_listener_reports_liveness_readiness_and_metrics,
    |app| {
        let (status, body) = admin(app, "/live").await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = admin(app, "/ready").await;
        assert_eq!(status, 200, "{body}");
        let ready: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(ready["checks"]["database"], "ok");
        app.seed().await;
        for path in [
            "/products",
            "/products",
            "/products/1",
            "/products/99",
            "/nowhere/at/all",
        ] {
            app.get("products", path).await;
        }
        app.graphql("products", "{ products { id } }", json!({}))
            .await;
        let (status, metrics) = admin(app, "/metrics").await;
        assert_eq!(status, 200);
        let requests = |route: &str, method: &str, status: u16| {
            sample(
                &metrics,
                &format!(
                    r#"http_requests_total{{app="products",route="{route}",method="{method}",status="{status}"}}"#
                ),
            )
        };
        assert_eq!(requests("/products", "GET", 200), Some(2.0), "{metrics}");
        assert_eq!(
            requests("/products/{id}", "GET", 200),
            Some(1.0),
            "{metrics}"
        );
        assert_eq!(
            requests("/products/{id}", "GET", 404),
            Some(1.0),
            "{metrics}"
        );
        assert_eq!(requests("unmatched", "GET", 404), Some(1.0), "{metrics}");
        assert_eq!(requests("/graphql", "POST", 200), Some(1.0), "{metrics}");
        // The seed wrote through the composed port: counted there, by route template.
        assert!(metrics.contains(r#"http_requests_total{app="runtime",route="/customers",method="POST",status="201"}"#), "{metrics}");
        assert_eq!(
            sample(
                &metrics,
                r#"http_request_duration_seconds_count{app="products",route="/products",method="GET",status="2xx"}"#
            ),
            Some(2.0),
            "{metrics}"
        );
        assert!(
            sample(&metrics, r#"db_statements_total{kind="read"}"#).unwrap_or(0.0) >= 4.0,
            "{metrics}"
        );
        assert!(
            sample(&metrics, r#"db_statements_total{kind="insert"}"#).unwrap_or(0.0) >= 1.0,
            "{metrics}"
        );
        assert_eq!(
            sample(&metrics, "migrations_applied"),
            Some(5.0),
            "{metrics}"
        );
        assert!(
            metrics.contains(r#"runtime_build_info{version=""#),
            "{metrics}"
        );
        for family in [
            "http_requests_in_flight",
            "db_pool_timeouts_total",
            "db_read_cache_hits_total",
            "db_write_queue_depth",
            "db_batch_members",
        ] {
            assert!(metrics.contains(family), "{family}: {metrics}");
        }
        if app.db.url.starts_with("postgres") {
            assert!(
                metrics.contains(r#"db_pool_connections{state="idle"}"#),
                "{metrics}"
            );
            assert_eq!(sample(&metrics, "db_pool_max"), Some(4.0), "{metrics}");
        }
    }
);

both!(every_answer_carries_a_request_id, |app| {
    let reply = app
        .client
        .get(app.url("products", "/products"))
        .header("x-request-id", "order-42.a:b_c")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.headers()["x-request-id"], "order-42.a:b_c");
    let ids: Vec<String> =
        futures_util::future::join_all((0..2).map(|_| app.get("products", "/products")))
            .await
            .iter()
            .map(|r| r.header("x-request-id").expect("an id").to_string())
            .collect();
    assert_ne!(ids[0], ids[1]);
    for bad in ["has space", &"x".repeat(200)] {
        let reply = app
            .client
            .get(app.url("products", "/products"))
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        assert_ne!(reply.headers()["x-request-id"], bad);
    }
    // Refusals from the edge (a 404, a 400) carry it too, with the security headers.
    let reply = app
        .client
        .get(app.url("products", "/products?limit=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 400);
    assert!(reply.headers().contains_key("x-request-id"));
    assert_eq!(reply.headers()["x-content-type-options"], "nosniff");
});

fn cors(config: &mut Config) {
    config.server.cors.allowed_origins = vec!["https://app.example.com".into()];
}

both!(cors_answers_preflights_and_refuses_other_origins, config: cors, |app| {
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("runtime", "/customers"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(allowed.status().as_u16(), 200);
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example.com");
    let methods = allowed.headers()["access-control-allow-methods"].to_str().unwrap().to_string();
    assert!(methods.contains("POST"), "{methods}");
    let refused = preflight("https://evil.example.com").await.unwrap();
    assert!(refused.status().is_client_error(), "{}", refused.status());
    assert!(!refused.headers().contains_key("access-control-allow-origin"));
    let simple = app
        .client
        .get(app.url("products", "/products"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(simple.headers()["access-control-allow-origin"], "https://app.example.com");
    let exposed = simple.headers()["access-control-expose-headers"].to_str().unwrap().to_lowercase();
    assert!(exposed.contains("x-total-count"), "{exposed}");
});

fn small_requests(config: &mut Config) {
    config.server.max_url_bytes = 4096;
    config.server.max_header_bytes = 4096;
}

both!(oversized_targets_and_headers_are_414_and_431, config: small_requests, |app| {
    let long = format!("/products?where.name.eq={}", "a".repeat(5_000));
    app.get("products", &long)
        .await
        .assert_error(414, "URI_TOO_LONG", &["server.max_url_bytes"]);
    let reply = app
        .client
        .get(app.url("products", "/products"))
        .header("x-filler", "b".repeat(5_000))
        .send()
        .await
        .unwrap();
    let reply = crate::helpers::reply(reply).await;
    reply.assert_error(431, "HEADERS_TOO_LARGE", &["server.max_header_bytes"]);
    app.get("products", "/products").await.assert_ok();
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_migration_makes_the_runtime_unready() {
    let migrations = copy_of_migrations();
    let dir = migrations.path().to_path_buf();
    let app = TestApp::spawn_configured(TestDb::sqlite(), runtime::linked_apps(), move |c| {
        c.migrations.dir = dir;
    })
    .await;
    assert_eq!(admin(&app, "/ready").await.0, 200);
    std::fs::write(
        migrations.path().join("V6__later.sql"),
        "CREATE TABLE later (id INTEGER PRIMARY KEY);",
    )
    .unwrap();
    let (status, body) = admin(&app, "/ready").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("migrations") && body.contains("1 migration(s) pending"),
        "{body}"
    );
    assert_eq!(admin(&app, "/live").await.0, 200);
    app.finish().await;
}

/// A TCP proxy to PostgreSQL that the test stops (closing every connection) and starts again
/// on the same port: an outage without touching the server the other tests use.
struct Proxy {
    address: SocketAddr,
    target: SocketAddr,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(address: SocketAddr, target: SocketAddr) -> Self {
        let listener = TcpListener::bind(address).await.expect("proxy binds");
        let address = listener.local_addr().unwrap();
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let connections = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let handle = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                connections.lock().unwrap().push(handle.abort_handle());
            }
        });
        tasks.lock().unwrap().push(accept.abort_handle());
        Self {
            address,
            target,
            tasks,
        }
    }

    /// Stops listening and drops every proxied connection.
    async fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    async fn restart(&mut self) {
        *self = Proxy::start(self.address, self.target).await;
    }
}

/// The PostgreSQL server of a test database, and the database's URL through `proxy` instead.
fn through(db: &TestDb, proxy: SocketAddr) -> (SocketAddr, String) {
    let (scheme_user, rest) = db
        .url
        .split_once('@')
        .expect("user@host in TEST_POSTGRES_URL");
    let (host_port, database) = rest.split_once('/').expect("/database");
    let host_port = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    };
    let server: SocketAddr = host_port
        .replace("localhost", "127.0.0.1")
        .parse()
        .expect("TEST_POSTGRES_URL names host:port by address");
    (server, format!("{scheme_user}@{proxy}/{database}"))
}

/// A free port on loopback.
fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_is_503_and_the_runtime_recovers_by_itself() {
    let Some(mut db) = TestDb::postgres().await else {
        return;
    };
    let proxied = free_port();
    let (server, url) = through(&db, proxied);
    let mut proxy = Proxy::start(proxied, server).await;
    db.url = url;
    let app = TestApp::spawn_configured(db, runtime::linked_apps(), |c| {
        c.database.acquire_timeout_secs = 1;
    })
    .await;
    app.seed().await;
    app.get("products", "/products").await.assert_ok();

    proxy.stop().await;
    for _ in 0..3 {
        let started = Instant::now();
        let reply = app.get("products", "/products").await;
        reply.assert_error(503, "SERVICE_UNAVAILABLE", &[]);
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
    }
    let write = app
        .post(
            "runtime",
            "/emails",
            json!({"address": "outage@example.com"}),
        )
        .await;
    write.assert_error(503, "SERVICE_UNAVAILABLE", &[]);
    assert_eq!(admin(&app, "/ready").await.0, 503);
    assert_eq!(admin(&app, "/live").await.0, 200);

    proxy.restart().await;
    // The pools reconnect by themselves: within a few attempts every answer is right again.
    let mut recovered = false;
    for _ in 0..50 {
        if app.get("products", "/products").await.status.is_success() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the runtime did not recover");
    for _ in 0..20 {
        app.get("products", "/products").await.assert_ok();
    }
    app.post("runtime", "/emails", json!({"address": "back@example.com"}))
        .await
        .assert_ok();
    assert_eq!(admin(&app, "/ready").await.0, 200);
    let (_, metrics) = admin(&app, "/metrics").await;
    assert!(metrics.contains(r#"status="503""#), "{metrics}");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_waits_for_postgres_then_gives_up_clearly() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let apps = runtime::linked_apps();
    let linked: Vec<(&str, u16)> = apps
        .iter()
        .map(|a| (a.name.as_str(), a.default_port))
        .collect();
    // Nothing listens: after database.connect_timeout_secs, a clear error.
    let proxied = free_port();
    let (server, url) = through(&db, proxied);
    let mut config = test_config(&url, &apps);
    config.database.connect_timeout_secs = 2;
    let config = config.check(&linked).unwrap();
    let started = Instant::now();
    let error = match Runtime::build(&config, &apps, Serve::All).await {
        Ok(_) => panic!("started without a database"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        started.elapsed() >= Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
    assert!(error.contains("could not connect"), "{error}");
    // The database appears while it waits: it starts.
    let mut config = test_config(&url, &apps);
    config.database.connect_timeout_secs = 30;
    let config = config.check(&linked).unwrap();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        Proxy::start(proxied, server).await
    });
    let runtime = Runtime::build(&config, &apps, Serve::All)
        .await
        .expect("starts once the database answers");
    let proxy = late.await.unwrap();
    drop(runtime);
    proxy.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_its_timeout_is_503_and_the_connection_stays_healthy() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let migrations = copy_of_migrations();
    std::fs::write(
        migrations.path().join("V6__slow.postgres.sql"),
        "CREATE VIEW slow AS SELECT 1 AS id, pg_sleep(2)::text AS slept;",
    )
    .unwrap();
    std::fs::write(
        migrations.path().join("V6__slow.sqlite.sql"),
        "CREATE VIEW slow AS SELECT 1 AS id, '' AS slept;",
    )
    .unwrap();
    let app = engine::App::new("slow", 0)
        .table("slow", engine::model::Access::Read)
        .table("products", engine::model::Access::Read);
    let dir = migrations.path().to_path_buf();
    let app = TestApp::spawn_configured(db, vec![app], move |c| {
        c.migrations.dir = dir;
        c.database.statement_timeout_ms = 300;
        c.database.max_connections = 1;
    })
    .await;
    let started = Instant::now();
    app.get("slow", "/slows").await.assert_error(
        503,
        "STATEMENT_TIMEOUT",
        &["database.statement_timeout_ms"],
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // The one connection serves the next request.
    app.get("slow", "/products").await.assert_ok();
    app.finish().await;
}

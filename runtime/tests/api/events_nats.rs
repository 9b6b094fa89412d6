//! Publishing to NATS JetStream (`events.nats_url`): every change reaches the stream of each app
//! that serves its table, on `<prefix>.<app>.<table>.<op>` with `Nats-Msg-Id` = its id, once
//! and in id order, as the app's `/changes` feed shows it; nothing is lost or doubled while
//! NATS is away and comes back, nor with two runtimes on one database. Each test runs a NATS
//! server of its own (`nats-server` on a free port, a store in a temp folder), so it may stop it
//! without touching the machine's.

use std::collections::HashMap;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::{self, Context};
use engine::config::Config;
use engine::server::ADMIN;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDb};

/// The apps whose streams the tests read.
const APPS: [&str; 4] = ["shared", "customers", "products", "invoices"];

/// How long a test waits for NATS to hold what it expects.
const PATIENCE: Duration = Duration::from_secs(30);

/// A `nats-server -js` of the test's own.
struct NatsServer {
    port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    /// A free port and an empty store, nothing running yet. The port lies below the kernel's
    /// range of ephemeral ports (32768 and up here), so no listener on port 0 (the runtimes of
    /// other tests) can take it while the server is stopped and started again on it.
    fn reserve() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let first = 20_000 + (std::process::id() as usize * 131) % 10_000;
        let port = (0..10_000)
            .map(|step| (first + NEXT.fetch_add(1, Ordering::Relaxed) + step) % 10_000 + 20_000)
            .map(|port| u16::try_from(port).expect("a port"))
            .find(|port| TcpListener::bind((Ipv4Addr::LOCALHOST, *port)).is_ok())
            .expect("a free port below the ephemeral range");
        Self {
            port,
            store: tempfile::tempdir().expect("a store folder"),
            child: None,
        }
    }

    /// A server running now.
    fn running() -> Self {
        let mut server = Self::reserve();
        server.start();
        server
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server on its port and store; answers once it accepts connections.
    fn start(&mut self) {
        let log = self.store.path().join("nats.log");
        let child = Command::new(nats_server())
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store.path())
            .arg("-l")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !Self::greets(self.port) {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {} within 10 s (log: {})",
                self.port,
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether a NATS server answers on `port`: its greeting is an `INFO` line.
    fn greets(port: u16) -> bool {
        let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut greeting = [0; 4];
        std::io::Read::read_exact(&mut stream, &mut greeting).is_ok() && &greeting == b"INFO"
    }

    /// Kills the server, as a crash would.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill nats-server");
            child.wait().expect("nats-server ends");
        }
    }

    /// A JetStream client of the test's own.
    async fn jetstream(&self) -> Context {
        let client = async_nats::connect(self.url())
            .await
            .expect("the test connects to its NATS server");
        jetstream::new(client)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `nats-server` on the `PATH`, or Debian's.
fn nats_server() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("nats-server"));
    on_path
        .chain([PathBuf::from("/usr/sbin/nats-server")])
        .find(|candidate| candidate.is_file())
        .expect(
            "the NATS tests need `nats-server` (Debian's package nats-server) on the PATH or in \
             /usr/sbin",
        )
}

/// The test configuration with publishing to `url`, streams `<NAME>_<APP>`, subjects `<name>.`.
fn publishing(url: String, name: &'static str) -> impl FnOnce(&mut Config) {
    move |config| {
        config.events.nats_url = Some(url);
        config.events.nats_stream = name.to_uppercase();
        config.events.nats_subject_prefix = name.to_string();
    }
}

/// One message as the tests compare it.
#[derive(Debug, PartialEq)]
struct Published {
    subject: String,
    id: String,
    document: Value,
}

/// What the messages of an app's stream must be: its `/changes` feed, by an unrestricted reader.
async fn expected(app: &TestApp, name: &str, port: &str) -> Vec<Published> {
    let page = app.get(port, "/changes?limit=1000").await;
    let changes = page.assert_ok()["changes"]
        .as_array()
        .expect("changes")
        .clone();
    changes
        .into_iter()
        .map(|document| Published {
            subject: format!(
                "{name}.{port}.{}.{}",
                document["table"].as_str().expect("table"),
                document["op"].as_str().expect("op")
            ),
            id: document["id"].to_string(),
            document,
        })
        .collect()
}

/// Every message a stream holds now, in stream order (none while it does not exist), read
/// through a consumer of the test's own.
async fn stream_messages(js: &Context, stream: &str) -> Vec<Published> {
    let Ok(found) = js.get_stream(stream).await else {
        return Vec::new();
    };
    let consumer = found
        .create_consumer(pull::Config {
            ack_policy: AckPolicy::None,
            ..Default::default()
        })
        .await
        .expect("a consumer");
    let mut messages = Vec::new();
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(500)
            .messages()
            .await
            .expect("a fetch");
        let before = messages.len();
        while let Some(message) = batch.next().await {
            let message = message.expect("a message");
            let id = message
                .headers
                .as_ref()
                .and_then(|headers| headers.get("Nats-Msg-Id"))
                .map(|id| id.as_str().to_string())
                .unwrap_or_default();
            messages.push(Published {
                subject: message.subject.to_string(),
                id,
                document: serde_json::from_slice(&message.payload).expect("JSON"),
            });
        }
        if messages.len() == before {
            return messages;
        }
    }
}

/// Waits until every write answered so far is in the change log (on PostgreSQL a change joins
/// it a moment after its write answers): a phone number written now joins it after them.
async fn settle(app: &TestApp) {
    static SETTLED: AtomicUsize = AtomicUsize::new(0);
    let number = format!("settle-{}", SETTLED.fetch_add(1, Ordering::Relaxed));
    app.post("runtime", "/phones", json!({ "number": number }))
        .await
        .assert_ok();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let page = app
            .get("runtime", "/changes?tables=phones&limit=1000")
            .await;
        let changes = page.assert_ok()["changes"].as_array().expect("changes");
        if changes
            .iter()
            .any(|c| c["row"]["number"] == number.as_str())
        {
            return;
        }
        assert!(Instant::now() < deadline, "{number} is not in the log");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts that each app's stream comes to hold exactly what its feed shows, in order, each
/// change once, and answers the messages by app. The stream is read again until it agrees,
/// for `PATIENCE` at most: a change lost or sent twice never agrees.
async fn assert_published(
    app: &TestApp,
    js: &Context,
    name: &'static str,
) -> HashMap<&'static str, Vec<Published>> {
    settle(app).await;
    let mut all = HashMap::new();
    for port in APPS {
        let stream = format!("{}_{}", name.to_uppercase(), port.to_uppercase());
        let deadline = Instant::now() + PATIENCE;
        loop {
            let want = expected(app, name, port).await;
            let got = stream_messages(js, &stream).await;
            if got == want {
                all.insert(port, got);
                break;
            }
            if Instant::now() > deadline {
                let ids = |of: &[Published]| of.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
                panic!(
                    "{stream} after {PATIENCE:?}: ids {:?}, the feed's {:?}; first difference {:?}",
                    ids(&got),
                    ids(&want),
                    got.iter().zip(&want).find(|(g, w)| g != w)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    all
}

/// How many messages are of an e-mail address written.
fn email_inserts(messages: &[Published]) -> usize {
    messages
        .iter()
        .filter(|m| m.subject.ends_with(".emails.insert"))
        .count()
}

/// A few writes of every kind, through the composed port and the apps' own: three e-mail
/// addresses among them.
async fn write_some(app: &TestApp) {
    app.seed().await;
    app.patch("shared", "/emails/3", json!({"address": "cy@example.org"}))
        .await
        .assert_ok();
    app.delete("customers", "/phones/2").await.assert_ok();
    let product = json!({"sku": "D-4", "name": "Doohickey", "priceCents": 5, "stock": 1});
    app.post("products", "/products", product).await.assert_ok();
}

/// An e-mail address written through the shared app's port.
async fn write_email(app: &TestApp, n: usize) {
    let address = format!("writer-{n}@example.com");
    app.post("shared", "/emails", json!({ "address": address }))
        .await
        .assert_ok();
}

/// The changes of an app a runtime had NATS store, from its metrics.
async fn published_by(app: &TestApp, port: &str) -> u64 {
    let text = app
        .client
        .get(app.url(ADMIN, "/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let series = format!("events_nats_published_total{{app=\"{port}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |value| value.trim().parse().expect("a count"))
}

/// Waits for a runtime's count of an app's stored changes to be `count` (it follows the
/// acknowledgement, a moment after the message is in the stream).
async fn assert_published_by(app: &TestApp, port: &str, count: usize) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let counted = published_by(app, port).await;
        if counted == count as u64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{port}: {counted} counted, not {count}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn each_change_reaches_each_app_stream_once_in_order(db: TestDb) {
    let nats = NatsServer::running();
    let config = publishing(nats.url(), "basic");
    let app = TestApp::spawn_configured(db, runtime::linked_apps(), config).await;
    write_some(&app).await;
    let js = nats.jetstream().await;
    let published = assert_published(&app, &js, "basic").await;
    // E-mail addresses are in both apps that list them; the composed API has no stream.
    assert_eq!(email_inserts(&published["shared"]), 3);
    assert_eq!(email_inserts(&published["customers"]), 3);
    assert!(js.get_stream("BASIC_RUNTIME").await.is_err());
    for port in APPS {
        assert!(!published[port].is_empty(), "{port}");
        assert_published_by(&app, port, published[port].len()).await;
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_reaches_each_app_stream_once_in_order_sqlite() {
    each_change_reaches_each_app_stream_once_in_order(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_reaches_each_app_stream_once_in_order_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    each_change_reaches_each_app_stream_once_in_order(db).await;
}

/// Writes an e-mail address every 20 ms until `stop`; every write must succeed. Answers how
/// many it wrote.
fn keep_writing(app: Arc<TestApp>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            write_email(&app, 1_000 + n).await;
            n += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        n
    })
}

async fn nothing_is_lost_while_nats_is_away(db: TestDb) {
    let mut nats = NatsServer::reserve();
    // NATS is down at start: the runtime serves, and changes wait in the log.
    let config = publishing(nats.url(), "away");
    let app = TestApp::spawn_configured(db, runtime::linked_apps(), config).await;
    for n in 0..5 {
        write_email(&app, n).await;
    }
    nats.start();
    let js = nats.jetstream().await;
    let published = assert_published(&app, &js, "away").await;
    assert_eq!(email_inserts(&published["shared"]), 5);

    // Killed and started again while writes go on.
    let app = Arc::new(app);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = keep_writing(Arc::clone(&app), Arc::clone(&stop));
    tokio::time::sleep(Duration::from_millis(300)).await;
    nats.kill();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    nats.start();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let written = writer.await.expect("the writer");
    assert!(written >= 20, "only {written} writes while NATS was away");
    for n in 5..10 {
        write_email(&app, n).await;
    }

    let js = nats.jetstream().await;
    let published = assert_published(&app, &js, "away").await;
    assert_eq!(email_inserts(&published["shared"]), 10 + written);
    let app = Arc::into_inner(app).expect("the writer is done");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_while_nats_is_away_sqlite() {
    nothing_is_lost_while_nats_is_away(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_while_nats_is_away_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    nothing_is_lost_while_nats_is_away(db).await;
}

/// Waits for two runtimes' counts of an app's stored changes to add up to `count`; one of
/// them must have stored them all.
async fn assert_one_publisher(first: &TestApp, second: &TestApp, port: &str, count: usize) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let counts = (
            published_by(first, port).await,
            published_by(second, port).await,
        );
        if counts.0 + counts.1 == count as u64 {
            assert!(
                counts.0 == 0 || counts.1 == 0,
                "{port}: both published {counts:?}"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{port}: {counts:?} counted, not {count}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two runtimes on one database publish to one NATS: each change is in each stream once. On
/// PostgreSQL one of them publishes an app (it holds the app's lock), and the other takes over
/// when it stops.
async fn two_runtimes_publish_each_change_once(db: TestDb) {
    let postgres = db.url.starts_with("postgres");
    let nats = NatsServer::running();
    let second_db = db.alias();
    let config = publishing(nats.url(), "two");
    let first = TestApp::spawn_configured(db, runtime::linked_apps(), config).await;
    let config = publishing(nats.url(), "two");
    let second = TestApp::spawn_configured(second_db, runtime::linked_apps(), config).await;
    for n in 0..10 {
        let app = if n % 2 == 0 { &first } else { &second };
        write_email(app, n).await;
    }
    write_some(&second).await;
    let js = nats.jetstream().await;
    let published = assert_published(&second, &js, "two").await;
    assert_eq!(email_inserts(&published["shared"]), 13);
    if postgres {
        for port in APPS {
            assert_one_publisher(&first, &second, port, published[port].len()).await;
        }
    }

    // The first one stops: the second one goes on (on PostgreSQL, once it holds the locks).
    let first_db = first.stop().await;
    for n in 10..15 {
        write_email(&second, n).await;
    }
    let published = assert_published(&second, &js, "two").await;
    assert_eq!(email_inserts(&published["shared"]), 18);
    if postgres {
        assert!(published_by(&second, "shared").await >= 5);
    }
    second.finish().await;
    first_db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runtimes_publish_each_change_once_sqlite() {
    two_runtimes_publish_each_change_once(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runtimes_publish_each_change_once_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    two_runtimes_publish_each_change_once(db).await;
}

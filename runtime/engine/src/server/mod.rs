//! Serving: one process, one database, one catalog, one set of HTTP worker threads. Every app
//! gets its own listener with its own API; the composed listener serves the union. A listener
//! that cannot bind is a start-up error naming the app and the port. SIGINT/SIGTERM stop every
//! listener gracefully: in-flight requests finish first.

mod app;
mod compose;
mod deadline;
mod hygiene;
mod prepare;
mod routes;
mod served;
mod start_page;

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_http::HttpService;
use actix_service::{IntoServiceFactory as _, ServiceFactoryExt as _, map_config};
use actix_web::dev::{AppConfig, ServerHandle};
use actix_web::web;
use anyhow::Context as _;
use prometheus_client::metrics::counter::Counter;

pub use app::application;
pub use compose::RouteConflict;
pub use prepare::{COMPOSED, Prepared, PreparedApi, Serve, prepare};

/// The name the admin listener goes by in [`Runtime::listeners`].
pub const ADMIN: &str = "admin";
pub use served::ServedApi;

use crate::api::StatementCounter;
use crate::app::App;
use crate::auth::Authenticator;
use crate::backup::InUse;
use crate::config::CheckedConfig;
use crate::db::Database;
use crate::events::{ChangeHub, capture, nats};
use crate::model::AppModel;
use crate::ops::admin::{self, Admin};
use crate::ops::metrics::Metrics;
use crate::roles;

/// A listener that is bound and serving.
#[derive(Debug, Clone)]
pub struct Listener {
    /// The app's name, or [`COMPOSED`].
    pub name: String,
    pub address: SocketAddr,
    /// The tables it serves.
    pub tables: Vec<String>,
}

/// The running runtime: every listener of the process.
pub struct Runtime {
    pub listeners: Vec<Listener>,
    /// One server, one set of worker threads, for every listener.
    server: actix_web::dev::Server,
    db: Database,
    statements: StatementCounter,
    events: Option<ChangeHub>,
    /// Held while serving, so `db restore` never swaps a SQLite file this process uses.
    _in_use: Option<InUse>,
}

/// Stops a running runtime.
#[derive(Clone)]
pub struct RuntimeHandle {
    handle: ServerHandle,
    statements: StatementCounter,
    events: Option<ChangeHub>,
}

impl RuntimeHandle {
    /// SQL statements the APIs have run since start.
    pub fn statements(&self) -> u64 {
        self.statements.get()
    }

    /// Stops every listener; in-flight requests finish first, and change streams end.
    pub async fn stop(&self) {
        if let Some(hub) = &self.events {
            hub.stop();
        }
        self.handle.stop(true).await;
    }
}

impl Runtime {
    /// Connects, optionally migrates, introspects, builds every app model and binds every
    /// listener. Nothing is served until [`Runtime::run`].
    pub async fn build(config: &CheckedConfig, apps: &[App], serve: Serve) -> anyhow::Result<Self> {
        let in_use = InUse::serve(config.database())?;
        let Prepared {
            db,
            apis,
            statements,
            catalog,
            served,
            events,
            own_role,
        } = prepare(config, apps, &serve).await?;
        let installed = match apps
            .iter()
            .find(|app| Some(app.name.as_str()) == own_role.as_deref())
        {
            Some(app) => {
                if events.is_some() {
                    roles::standalone::check_capture(&db, &catalog, app).await?;
                }
                capture::Installed::default()
            }
            None => capture::install(&db, &catalog, &served, events.is_some())
                .await
                .context("creating the change log and its triggers (events.enabled)")?,
        };
        if !installed.created.is_empty() || !installed.dropped.is_empty() {
            tracing::info!(
                created = %installed.created.join(", "),
                dropped = %installed.dropped.join(", "),
                "change capture brought in line with the served tables"
            );
        }
        if let Some(hub) = &events {
            hub.start().await.context("reading the change log")?;
        }
        let authenticator = Authenticator::new(config.auth()).await?.map(web::Data::new);
        warn_if_open(config, &apis, authenticator.is_some());
        let metrics = config
            .raw
            .admin
            .enabled
            .then(|| Metrics::new(&db, statements.metrics()));
        if let (Some(hub), Some(url)) = (&events, &config.raw.events.nats_url) {
            publish_to_nats(hub, &db, url, &apis, metrics.as_deref()).await?;
        }
        let mut units = Vec::new();
        for api in apis {
            let served = ServedApi::new(&api, config, authenticator.clone(), metrics.clone())?;
            units.push((api.name, api.port, served, tables(api.context.model())));
        }

        let mut listeners = Vec::new();
        let mut bound = Vec::new();
        for (name, port, served, tables) in units {
            let host = &config.server().host;
            let tcp = TcpListener::bind((host.as_str(), port)).with_context(|| {
                let what = if name == COMPOSED {
                    "the composed API".to_string()
                } else {
                    format!("app `{name}`")
                };
                format!("{what} cannot listen on {host}:{port} (is the port already in use?)")
            })?;
            let address = tcp.local_addr()?;
            tracing::info!(app = %name, %address, tables = %tables.join(", "), "listening");
            bound.push((served, tcp));
            listeners.push(Listener {
                name,
                address,
                tables,
            });
        }
        let admin = match metrics {
            Some(metrics) => {
                let admin_config = &config.raw.admin;
                let tcp = TcpListener::bind((admin_config.host.as_str(), admin_config.port))
                    .with_context(|| {
                        format!(
                            "the admin listener cannot listen on {}:{} (is the port already in use? \
                             set admin.port, or admin.enabled = false)",
                            admin_config.host, admin_config.port
                        )
                    })?;
                let address = tcp.local_addr()?;
                tracing::info!(%address, "admin listening: /live, /ready, /metrics");
                listeners.push(Listener {
                    name: ADMIN.to_string(),
                    address,
                    tables: Vec::new(),
                });
                let admin = Admin {
                    db: db.clone(),
                    migrations: config.migrations_dir().to_path_buf(),
                    metrics,
                };
                Some((admin, tcp))
            }
            None => None,
        };
        let server = http_server(bound, admin, config)?;
        Ok(Self {
            listeners,
            server,
            db,
            statements,
            events,
            _in_use: in_use,
        })
    }

    /// The address of a listener by app name (or [`COMPOSED`]).
    pub fn address(&self, name: &str) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.address)
    }

    pub fn handle(&self) -> RuntimeHandle {
        RuntimeHandle {
            handle: self.server.handle(),
            statements: self.statements.clone(),
            events: self.events.clone(),
        }
    }

    /// Serves until every listener stops (SIGINT/SIGTERM, or [`RuntimeHandle::stop`]).
    pub async fn run(self) -> anyhow::Result<()> {
        let handle = self.handle();
        let signals = tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing in-flight requests");
            handle.stop().await;
        });
        let result = self.server.await;
        signals.abort();
        self.db.close().await;
        Ok(result?)
    }
}

/// Starts publishing the changes of every app served (not the composed API) to NATS.
async fn publish_to_nats(
    hub: &ChangeHub,
    db: &Database,
    url: &str,
    apis: &[PreparedApi],
    metrics: Option<&Metrics>,
) -> anyhow::Result<()> {
    let sources = apis
        .iter()
        .filter(|api| api.name != COMPOSED)
        .map(|api| nats::Source {
            app: api.name.clone(),
            context: api.context.clone(),
            published: metrics.map_or_else(Counter::default, |m| m.nats_published(&api.name)),
        })
        .collect();
    nats::start(hub, db, url, sources)
        .await
        .with_context(|| format!("events.nats_url `{url}`"))?;
    tracing::info!(%url, "publishing changes to NATS JetStream");
    Ok(())
}

/// Says at start what a runtime without auth serves to whom, and which rules wait for auth.
fn warn_if_open(config: &CheckedConfig, apis: &[PreparedApi], secured: bool) {
    if secured {
        return;
    }
    tracing::warn!(
        host = %config.server().host,
        "auth is off: every port answers anyone with full access to its tables (set \
         auth.jwt_secret, auth.jwks_file or auth.jwks_url to apply the apps' role rules)"
    );
    if apis
        .iter()
        .any(|api| !api.context.model().policy.is_empty())
    {
        tracing::info!("the apps' role rules apply once auth is on");
    }
}

fn tables(model: &AppModel) -> Vec<String> {
    model.entities.iter().map(|e| e.table.clone()).collect()
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => return interrupt.await.unwrap_or(()),
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await.unwrap_or(());
}

/// How long a client still sending a refused body (413) has to read the answer before the
/// connection closes: actix-web's `HttpServer` default.
const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// One HTTP server for every listener: the same worker threads (one per core by default) serve
/// every port, each port with its own API. (One server per listener multiplied the threads, and
/// with them the per-thread database pools; one application of every API, guarded by port,
/// built every API once for each port and worker, at start and in memory.)
fn http_server(
    bound: Vec<(ServedApi, TcpListener)>,
    admin: Option<(Admin, TcpListener)>,
    config: &CheckedConfig,
) -> std::io::Result<actix_server::Server> {
    let mut builder = actix_server::Server::build()
        .workers(config.server().worker_threads())
        .disable_signals()
        .shutdown_timeout(config.server().shutdown_timeout_secs);
    if let Some((admin, tcp)) = admin {
        let address = tcp.local_addr()?;
        builder = builder.listen("admin", tcp, move || {
            let admin = admin.clone();
            HttpService::build()
                .local_addr(address)
                .finish(map_config(
                    actix_web::App::new()
                        .configure(move |cfg| admin::configure(cfg, &admin))
                        .into_factory()
                        .map_err(|error: actix_web::Error| error.error_response()),
                    move |_| AppConfig::default(),
                ))
                .tcp()
        })?;
    }
    let shutdown = builder.graceful_shutdown_signal();
    for (served, tcp) in bound {
        let address = tcp.local_addr()?;
        let shutdown = shutdown.clone();
        builder = builder.listen(format!("http-{address}"), tcp, move || {
            let shutdown = shutdown.clone();
            let app = application(&served);
            HttpService::build()
                .graceful_shutdown_signal(move || {
                    let shutdown = shutdown.clone();
                    async move { shutdown.notified().await }
                })
                .local_addr(address)
                .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
                .finish(map_config(
                    app.into_factory()
                        .map_err(|error: actix_web::Error| error.error_response()),
                    move |_| AppConfig::default(),
                ))
                .tcp()
        })?;
    }
    Ok(builder.run())
}

//! Serving: one process, one database, one catalog, one set of HTTP worker threads. Every app
//! gets its own listener with its own API; the composed listener serves the union. A listener
//! that cannot bind is a start-up error naming the app and the port. SIGINT/SIGTERM stop every
//! listener gracefully: in-flight requests finish first.

mod compose;
mod prepare;
mod start_page;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_http::HttpService;
use actix_service::{IntoServiceFactory as _, ServiceFactoryExt as _, map_config};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::{HttpRequest, middleware, web};
use anyhow::Context as _;

pub use compose::RouteConflict;
pub use prepare::{COMPOSED, Prepared, PreparedApi, Serve, prepare};

use crate::api::{ApiContext, StatementCounter};
use crate::app::App;
use crate::config::{CheckedConfig, GraphqlConfig, LimitsConfig};
use crate::db::Database;
use crate::error::{ApiError, ErrorCode};
use crate::model::AppModel;
use crate::openapi::{self, Documentation};
use crate::{graphql, rest};

/// One listener's API, ready for actix: its context, the custom routes of the apps behind it,
/// its GraphQL schema and its start page.
#[derive(Clone)]
struct ServedApi {
    context: web::Data<ApiContext>,
    /// Each app's custom routes with that app's own context.
    custom: Vec<(web::Data<ApiContext>, App)>,
    graphql: async_graphql::dynamic::Schema,
    graphql_limits: GraphqlConfig,
    documents: graphql::DocumentCache,
    start_page: Arc<str>,
    documentation: Arc<Documentation>,
}

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
}

/// Stops a running runtime.
#[derive(Clone)]
pub struct RuntimeHandle {
    handle: ServerHandle,
    statements: StatementCounter,
}

impl RuntimeHandle {
    /// SQL statements the APIs have run since start.
    pub fn statements(&self) -> u64 {
        self.statements.get()
    }

    /// Stops every listener; in-flight requests finish first.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

impl Runtime {
    /// Connects, optionally migrates, introspects, builds every app model and binds every
    /// listener. Nothing is served until [`Runtime::run`].
    pub async fn build(config: &CheckedConfig, apps: &[App], serve: Serve) -> anyhow::Result<Self> {
        let Prepared {
            db,
            apis,
            statements,
        } = prepare(config, apps, &serve).await?;
        let mut units = Vec::new();
        for api in apis {
            let model = api.context.model().clone();
            let owners: Vec<&App> = api.custom.iter().map(|(_, app)| app).collect();
            let served = ServedApi {
                graphql: graphql::schema(api.context.clone())
                    .with_context(|| format!("building the GraphQL schema of `{}`", api.name))?,
                graphql_limits: config.raw.graphql.clone(),
                documents: graphql::DocumentCache::default(),
                start_page: start_page::render(&model, &owners).into(),
                documentation: documentation(&model, &owners, config)?,
                custom: api
                    .custom
                    .iter()
                    .map(|(c, app)| (web::Data::new(c.clone()), app.clone()))
                    .collect(),
                context: web::Data::new(api.context),
            };
            units.push((api.name, api.port, served, tables(&model)));
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
        let server = http_server(bound, config)?;
        Ok(Self {
            listeners,
            server,
            db,
            statements,
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

fn documentation(
    model: &AppModel,
    apps: &[&App],
    config: &CheckedConfig,
) -> anyhow::Result<Arc<Documentation>> {
    let document = openapi::document(model, apps, config.limits())?;
    Ok(Arc::new(Documentation::new(document)))
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
    config: &CheckedConfig,
) -> std::io::Result<actix_server::Server> {
    let mut builder = actix_server::Server::build()
        .workers(config.server().worker_threads())
        .disable_signals()
        .shutdown_timeout(30);
    let shutdown = builder.graceful_shutdown_signal();
    for (served, tcp) in bound {
        let address = tcp.local_addr()?;
        let shutdown = shutdown.clone();
        builder = builder.listen(format!("http-{address}"), tcp, move || {
            let shutdown = shutdown.clone();
            let app = actix_web::App::new()
                .app_data(
                    web::PathConfig::default().error_handler(|e, _| extractor_error(e.to_string())),
                )
                .app_data(
                    web::QueryConfig::default()
                        .error_handler(|e, _| extractor_error(e.to_string())),
                )
                .app_data(web::JsonConfig::default().error_handler(|e, _| {
                    ApiError::new(
                        ErrorCode::MalformedJson,
                        format!("the body is not valid JSON: {e}"),
                    )
                    .into()
                }))
                .app_data(served.context.clone())
                .wrap(middleware::from_fn(deadline))
                .configure(|cfg| configure(cfg, &served))
                .default_service(web::to(rest::no_route));
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

/// Answers 503 `REQUEST_TIMEOUT` for a request still running after
/// `limits.request_timeout_secs`; dropping its handler frees what it held (a transaction rolls
/// back, a connection goes back to its pool), and the statement itself stops at the same limit
/// in the database.
async fn deadline(
    req: ServiceRequest,
    next: middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let limit = req.app_data::<web::Data<ApiContext>>().map_or_else(
        || LimitsConfig::default().request_timeout(),
        |ctx| ctx.limits().request_timeout(),
    );
    tokio::time::timeout(limit, next.call(req))
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::new(
                ErrorCode::RequestTimeout,
                format!(
                    "the request did not finish within {} s (limits.request_timeout_secs) and was stopped",
                    limit.as_secs_f64()
                ),
            )
            .into())
        })
}

fn extractor_error(message: String) -> actix_web::Error {
    ApiError::new(ErrorCode::InvalidValue, message).into()
}

fn configure(cfg: &mut web::ServiceConfig, served: &ServedApi) {
    let page = served.start_page.clone();
    cfg.route(
        "/",
        web::get().to(move || {
            let page = page.clone();
            async move { start_page::response(&page) }
        }),
    );
    let model = served.context.model();
    let mut below_tables: HashMap<String, Vec<rest::TableRoute>> = HashMap::new();
    for (context, app) in &served.custom {
        let mut paths: Vec<&str> = app.routes.iter().map(|r| r.path.as_str()).collect();
        paths.dedup();
        for path in paths {
            match below_table(path, model) {
                Some((plural, below)) => {
                    below_tables
                        .entry(plural.to_string())
                        .or_default()
                        .push(rest::TableRoute {
                            segments: segments(below),
                            resource: custom_resource(context, app, path, below),
                        })
                }
                None => {
                    cfg.service(custom_resource(context, app, path, path));
                }
            }
        }
    }
    openapi::serve::configure(cfg, &served.documentation);
    graphql::configure(
        cfg,
        served.graphql.clone(),
        served.documents.clone(),
        &served.graphql_limits,
    );
    rest::configure(cfg, model, &mut below_tables);
}

/// The table whose path starts a custom route's path, and the rest of the path.
fn below_table<'p>(path: &'p str, model: &AppModel) -> Option<(&'p str, &'p str)> {
    let rest = path.strip_prefix('/')?;
    let (first, below) = rest.find('/').map_or((rest, ""), |at| rest.split_at(at));
    model
        .entities
        .iter()
        .any(|e| e.plural == first)
        .then_some((first, below))
}

/// The path segments of a pattern; `None` when a segment's own regex could span several.
fn segments(pattern: &str) -> Option<usize> {
    (!pattern.contains([':', '*'])).then(|| pattern.matches('/').count())
}

/// One custom path of an app, at `pattern`: its routes, and a 405 naming them for other methods.
fn custom_resource(
    context: &web::Data<ApiContext>,
    app: &App,
    path: &str,
    pattern: &str,
) -> actix_web::Resource {
    let mut resource = web::resource(pattern).app_data(context.clone());
    let mut allowed: Vec<String> = Vec::new();
    for route in app.routes.iter().filter(|r| r.path == path) {
        resource = resource.route(route.route());
        allowed.push(route.method.to_string());
    }
    let allowed = allowed.join(", ");
    resource.default_service(web::to(move |req: HttpRequest| {
        let allowed = allowed.clone();
        async move { rest::method_not_allowed(&req, &allowed) }
    }))
}

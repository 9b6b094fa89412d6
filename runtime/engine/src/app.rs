//! What a domain app hands the engine: its name, default port, table allowlist and its own
//! routes. The engine knows no app by name; the `runtime` binary passes every linked [`App`].

use std::fmt;
use std::sync::Arc;

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, web};

use crate::model::{Access, TableGrant};
use crate::openapi::RouteDoc;

/// Builds the actix route of one custom handler.
type RouteFactory = Arc<dyn Fn() -> actix_web::Route + Send + Sync>;

/// A domain app: allowlist and custom routes.
#[derive(Clone)]
pub struct App {
    pub name: &'static str,
    pub default_port: u16,
    pub tables: Vec<TableGrant>,
    pub routes: Vec<CustomRoute>,
}

/// One route an app adds next to its generated API. Its handler extracts
/// `web::Data<engine::api::ApiContext>` to reach the app's tables.
#[derive(Clone)]
pub struct CustomRoute {
    pub method: Method,
    pub path: String,
    /// What the start page and the API documents say about the route.
    pub doc: RouteDoc,
    factory: RouteFactory,
}

impl CustomRoute {
    pub(crate) fn route(&self) -> actix_web::Route {
        (self.factory)()
    }
}

impl App {
    pub fn new(name: &'static str, default_port: u16) -> Self {
        Self {
            name,
            default_port,
            tables: Vec::new(),
            routes: Vec::new(),
        }
    }

    /// Lists a table the app serves, with what the app may do with it.
    pub fn table(mut self, table: &str, access: Access) -> Self {
        self.tables.push(TableGrant {
            table: table.to_string(),
            access,
        });
        self
    }

    /// Adds a route of the app's own. Paths use actix syntax (`/products/{id}/restock`); custom
    /// routes take precedence over generated ones on the same path. `doc` describes the route
    /// for the API documents: a [`RouteDoc`], or just its summary.
    pub fn route<F, Args>(
        mut self,
        method: Method,
        path: &str,
        doc: impl Into<RouteDoc>,
        handler: F,
    ) -> Self
    where
        F: Handler<Args> + Clone + Send + Sync + 'static,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route_method = method.clone();
        self.routes.push(CustomRoute {
            method,
            path: path.to_string(),
            doc: doc.into(),
            factory: Arc::new(move || web::method(route_method.clone()).to(handler.clone())),
        });
        self
    }
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("name", &self.name)
            .field("default_port", &self.default_port)
            .field("tables", &self.tables)
            .field("routes", &self.routes)
            .finish()
    }
}

impl fmt::Debug for CustomRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

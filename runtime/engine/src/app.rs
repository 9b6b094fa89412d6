//! What a domain app hands the engine: its name, default port, table allowlist, role rules and
//! its own routes. The engine knows no app by name; the `runtime` binary passes every linked
//! [`App`].

use std::fmt;
use std::sync::Arc;

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, web};

use crate::model::rules::{self, Rules};
use crate::model::{Access, TableGrant};
use crate::openapi::RouteDoc;

/// Builds the actix route of one custom handler.
type RouteFactory = Arc<dyn Fn() -> actix_web::Route + Send + Sync>;

/// A domain app: allowlist, role rules and custom routes. A crate app builds one in its
/// `app()`; a table-only app is built from its `[apps.<name>]` configuration
/// ([`crate::apps::with_configured`]).
#[derive(Clone)]
pub struct App {
    pub name: String,
    pub default_port: u16,
    pub tables: Vec<TableGrant>,
    pub rules: Option<DeclaredRules>,
    pub routes: Vec<CustomRoute>,
}

/// An app's role rules as it declares them.
#[derive(Debug, Clone)]
pub enum DeclaredRules {
    /// TOML text in the form [`crate::model::rules`] documents, read at start (a crate app's
    /// `rules.toml`).
    Toml(String),
    /// Rules read with the configuration (a table-only app's `[apps.<name>.rules]`).
    Read(Rules),
}

/// One route an app adds next to its generated API. Its handler extracts
/// [`crate::api::ApiContext`] to reach the app's tables as the request's caller.
#[derive(Clone)]
pub struct CustomRoute {
    pub method: Method,
    pub path: String,
    /// What the start page and the API documents say about the route.
    pub doc: RouteDoc,
    /// The roles that may call it while auth is on; anyone when `None`.
    pub roles: Option<Vec<String>>,
    factory: RouteFactory,
}

impl CustomRoute {
    pub(crate) fn route(&self) -> actix_web::Route {
        (self.factory)()
    }
}

impl App {
    pub fn new(name: &str, default_port: u16) -> Self {
        Self {
            name: name.to_string(),
            default_port,
            tables: Vec::new(),
            rules: None,
            routes: Vec::new(),
        }
    }

    /// Declares the app's role rules, TOML text in the form [`crate::model::rules`] documents
    /// (usually `include_str!("../rules.toml")`). They apply once auth is on.
    pub fn rules(mut self, toml: &str) -> Self {
        self.rules = Some(DeclaredRules::Toml(toml.to_string()));
        self
    }

    /// The app's declared rules; TOML that does not read is an error naming the app.
    pub fn parsed_rules(&self) -> anyhow::Result<Rules> {
        match &self.rules {
            Some(DeclaredRules::Toml(text)) => rules::parse(text)
                .map_err(|e| anyhow::anyhow!("app `{}`: its rules do not read: {e}", self.name)),
            Some(DeclaredRules::Read(rules)) => Ok(rules.clone()),
            None => Ok(Rules::new()),
        }
    }

    /// Lets only callers with one of these roles call the route added last (while auth is on;
    /// others get 401 without a token, 403 with one).
    pub fn roles(mut self, roles: &[&str]) -> Self {
        if let Some(route) = self.routes.last_mut() {
            route.roles = Some(roles.iter().map(|r| (*r).to_string()).collect());
        }
        self
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
            roles: None,
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
            .field("rules", &self.rules.is_some())
            .field("routes", &self.routes)
            .finish()
    }
}

impl fmt::Debug for CustomRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

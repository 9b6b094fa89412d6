//! What an app says about one of its own routes for the API documents: summary, operation id,
//! parameters, request body, success responses and the error codes it can answer with. Apps build a
//! [`RouteDoc`] next to the handler; the engine resolves table names against the app model
//! (a row of `products` is the `Product` schema) when it builds the document.

use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, Required, ResponseBuilder};

use super::DocumentError;
use super::{params, responses, schema};
use crate::error::ErrorCode;
use crate::model::AppModel;

/// The description of a custom route.
#[derive(Clone)]
pub struct RouteDoc {
    summary: &'static str,
    operation_id: Option<String>,
    parameters: Vec<RouteParam>,
    /// The JSON request body: its description and schema.
    body: Option<(String, RefOr<Schema>)>,
    responses: Vec<(u16, String, Payload)>,
    errors: Vec<ErrorCode>,
}

#[derive(Clone)]
enum RouteParam {
    /// A path segment holding the primary key of a table.
    Key {
        name: String,
        table: String,
    },
    Other(Box<Parameter>),
}

/// What a response carries.
#[derive(Clone)]
pub enum Payload {
    /// One row of a table the app lists, as the generated routes answer it.
    Row(&'static str),
    /// An array of rows of a table the app lists.
    Rows(&'static str),
    /// Any other JSON body, by its schema (built with utoipa, or `T::schema()` of a
    /// `#[derive(ToSchema)]` type); see [`Payload::schema`].
    Schema(Box<RefOr<Schema>>),
}

impl Payload {
    /// Any other JSON body, by its schema.
    pub fn schema(schema: impl Into<RefOr<Schema>>) -> Self {
        Self::Schema(Box::new(schema.into()))
    }
}

impl From<&'static str> for RouteDoc {
    /// A route described by its summary alone.
    fn from(summary: &'static str) -> Self {
        Self::new(summary)
    }
}

impl RouteDoc {
    pub fn new(summary: &'static str) -> Self {
        Self {
            summary,
            operation_id: None,
            parameters: Vec::new(),
            body: None,
            responses: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// One line for the start page and the documents.
    pub fn summary(&self) -> &'static str {
        self.summary
    }

    /// The operation id clients are generated with (default: method and path, camelCased).
    pub fn operation_id(mut self, id: &str) -> Self {
        self.operation_id = Some(id.to_string());
        self
    }

    /// A path parameter holding the primary key of `table` (`{id}` of `/customers/{id}/...`).
    pub fn path_key(mut self, name: &str, table: &str) -> Self {
        self.parameters.push(RouteParam::Key {
            name: name.to_string(),
            table: table.to_string(),
        });
        self
    }

    /// A query parameter.
    pub fn query(
        mut self,
        name: &str,
        required: bool,
        description: &str,
        schema: impl Into<RefOr<Schema>>,
    ) -> Self {
        self.parameters.push(RouteParam::Other(Box::new(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(if required {
                    Required::True
                } else {
                    Required::False
                })
                .description(Some(description))
                .schema(Some(schema))
                .build(),
        )));
        self
    }

    /// The route's required JSON request body, by its schema.
    pub fn body(mut self, description: &str, schema: impl Into<RefOr<Schema>>) -> Self {
        self.body = Some((description.to_string(), schema.into()));
        self
    }

    /// A success response.
    pub fn returns(mut self, status: u16, description: &str, payload: Payload) -> Self {
        self.responses
            .push((status, description.to_string(), payload));
        self
    }

    /// The error codes the route can answer with; each adds its status with the error body.
    pub fn errors(mut self, codes: impl IntoIterator<Item = ErrorCode>) -> Self {
        self.errors.extend(codes);
        self
    }

    /// The operation of this route at `path` (in OpenAPI syntax), resolved against `model`.
    pub(super) fn operation(
        &self,
        model: &AppModel,
        app: &str,
        method: HttpMethod,
        path: &str,
    ) -> Result<Operation, DocumentError> {
        let unknown = |table: &str| DocumentError::UnknownTable {
            app: app.to_string(),
            route: format!("{} {path}", method_name(&method)),
            table: table.to_string(),
        };
        let mut parameters = Vec::new();
        for parameter in &self.parameters {
            parameters.push(match parameter {
                RouteParam::Key { name, table } => model
                    .entity(table)
                    .and_then(|entity| params::path_key(entity, name))
                    .ok_or_else(|| unknown(table))?,
                RouteParam::Other(parameter) => (**parameter).clone(),
            });
        }
        for name in path_parameters(path) {
            if !parameters.iter().any(|p| p.name == name) {
                parameters.push(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(Schema::Object(
                            ObjectBuilder::new().schema_type(Type::String).build(),
                        )))
                        .build(),
                );
            }
        }
        let mut builder = OperationBuilder::new()
            .tag(tag(model, app, path))
            .operation_id(Some(
                self.operation_id
                    .clone()
                    .unwrap_or_else(|| default_operation_id(&method, path)),
            ))
            .summary(Some(self.summary))
            .parameters(Some(parameters));
        if let Some((description, schema)) = &self.body {
            builder = builder.request_body(Some(
                RequestBodyBuilder::new()
                    .description(Some(description))
                    .required(Some(Required::True))
                    .content("application/json", responses::json(schema.clone()))
                    .build(),
            ));
        }
        if self.responses.is_empty() {
            builder = builder.response("200", ResponseBuilder::new().description(self.summary));
        }
        for (status, description, payload) in &self.responses {
            let body: RefOr<Schema> = match payload {
                Payload::Row(table) => {
                    let entity = model.entity(table).ok_or_else(|| unknown(table))?;
                    schema::reference(&schema::row_name(entity))
                }
                Payload::Rows(table) => {
                    let entity = model.entity(table).ok_or_else(|| unknown(table))?;
                    schema::array_of(&schema::row_name(entity), None).into()
                }
                Payload::Schema(schema) => (**schema).clone(),
            };
            builder = builder.response(
                status.to_string(),
                responses::ok(description.as_str(), body).build(),
            );
        }
        let mut statuses: Vec<u16> = self.errors.iter().map(|c| c.status().as_u16()).collect();
        statuses.sort_unstable();
        statuses.dedup();
        for status in statuses {
            if let Some(response) = responses::error(status) {
                builder = builder.response(status.to_string(), response);
            }
        }
        Ok(builder.build())
    }
}

/// `{name}` of every path segment (`{id:\d+}` is `{id}`).
fn path_parameters(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|inner| inner.split(':').next().unwrap_or(inner).to_string())
        .collect()
}

/// An actix path in OpenAPI syntax: `{id:\d+}` becomes `{id}`.
pub(super) fn openapi_path(path: &str) -> String {
    path.split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(inner) => format!("{{{}}}", inner.split(':').next().unwrap_or(inner)),
                None => segment.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// The tag of the table whose path the route extends, or the app's name.
fn tag(model: &AppModel, app: &str, path: &str) -> String {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    model
        .entities
        .iter()
        .find(|e| e.plural == first)
        .map_or_else(|| app.to_string(), |e| e.table.clone())
}

/// `GET /emails/lookup` -> `getEmailsLookup`.
fn default_operation_id(method: &HttpMethod, path: &str) -> String {
    use heck::ToUpperCamelCase;
    let words: String = path
        .split('/')
        .filter(|s| !s.is_empty() && !s.starts_with('{'))
        .map(|s| s.to_upper_camel_case())
        .collect();
    format!("{}{words}", method_name(method).to_lowercase())
}

pub(super) fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Put => "PUT",
        HttpMethod::Post => "POST",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Head => "HEAD",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Trace => "TRACE",
    }
}

//! The GraphQL adapter: one async-graphql dynamic schema per app model, served at `/graphql`
//! (POST, and GET for queries), with GraphiQL at `/graphiql`.
//!
//! Names follow Platformatic DB (see [`names`]). Every root field compiles its selection, nested
//! relations included, into one SQL statement through the same operations as REST; object
//! fields then read from that statement's JSON. Depth and complexity are limited by config.

mod args;
mod documents;
mod errors;
mod graphiql;
mod guard;
mod http;
mod limits;
mod mutation;
mod names;
mod query;
mod selection;
mod subscription;
mod types;
mod ws;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::dynamic::{Object, Schema, SchemaError, Subscription};

pub use documents::DocumentCache;

use crate::api::ApiContext;
use crate::auth::Identity;
use crate::error::{ApiError, ErrorCode};

/// Builds the schema of the context's app model.
pub fn schema(context: ApiContext) -> Result<Schema, SchemaError> {
    let model = context.model().clone();
    let types = types::build(&model);
    let mut query = Object::new("Query");
    let mut mutation = Object::new("Mutation");
    let mut subscription = Subscription::new("Subscription");
    let live = context.events().is_some() && !model.entities.is_empty();
    let mut writable = false;
    for (index, entity) in model.entities.iter().enumerate() {
        for field in query::fields(entity, index) {
            query = query.field(field);
        }
        if live {
            for field in subscription::fields(entity, index) {
                subscription = subscription.field(field);
            }
        }
        if entity.is_writable() {
            writable = true;
            for field in mutation::fields(entity, index) {
                mutation = mutation.field(field);
            }
        }
    }
    let mut builder = Schema::build(
        "Query",
        writable.then_some("Mutation"),
        live.then_some("Subscription"),
    )
    .register(query)
    .limit_recursive_depth(limits::MAX_LEVELS + 1)
    .data(context);
    if writable {
        builder = builder.register(mutation);
    }
    if live {
        builder = builder.register(subscription);
    }
    for object in types.objects {
        builder = builder.register(object);
    }
    for input in types.inputs {
        builder = builder.register(input);
    }
    for item in types.enums {
        builder = builder.register(item);
    }
    for scalar in types.scalars {
        builder = builder.register(scalar);
    }
    builder.finish()
}

/// Mounts `/graphql` (POST, GET, and GET upgraded to a subscription WebSocket) and
/// `/graphiql`.
pub fn configure(cfg: &mut web::ServiceConfig, schema: Schema, documents: DocumentCache) {
    cfg.app_data(web::Data::new(schema))
        .app_data(web::Data::new(documents))
        .route(
            "/graphql",
            web::get()
                .guard(actix_web::guard::fn_guard(|ctx| {
                    ctx.head()
                        .headers()
                        .get(actix_web::http::header::UPGRADE)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
                }))
                .to(ws::subscribe),
        )
        .route("/graphql", web::post().to(execute))
        .route("/graphql", web::get().to(execute));
    graphiql::configure(cfg);
}

async fn execute(
    req: HttpRequest,
    payload: web::Payload,
    ctx: ApiContext,
    schema: web::Data<Schema>,
    documents: web::Data<DocumentCache>,
) -> Result<HttpResponse, ApiError> {
    let media = http::accepted(&req)?;
    if matches!(ctx.caller().identity(), Identity::Nobody) {
        return Err(ctx.caller().refusal("GraphQL"));
    }
    let mut request = http::read_request(&req, payload, &ctx).await?;
    if let Err(refused) = http::check_document(&request, ctx.limits().max_nesting) {
        return Ok(http::refused_early(media, &refused));
    }
    if let Err(refused) = documents.prepare(&mut request) {
        return Ok(http::refused(media, &refused));
    }
    if req.method() == Method::GET && is_mutation(&mut request) {
        return Err(ApiError::new(
            ErrorCode::MethodNotAllowed,
            "mutations are only accepted over POST /graphql",
        ));
    }
    if !ctx.caller().is_unrestricted() {
        // The resolvers find the request's caller before the schema's open context.
        request = request.data(ctx);
    }
    Ok(http::respond(media, schema.execute(request).await))
}

fn is_mutation(request: &mut async_graphql::Request) -> bool {
    let operation_name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return false;
    };
    document.operations.iter().any(|(name, operation)| {
        let chosen = match (&operation_name, name) {
            (Some(wanted), Some(name)) => wanted == name.as_str(),
            _ => true,
        };
        chosen && operation.node.ty == async_graphql::parser::types::OperationType::Mutation
    })
}

/// The SDL of a schema, as printed by `runtime graphql-schema`.
pub fn sdl(schema: &Schema) -> String {
    schema.sdl()
}

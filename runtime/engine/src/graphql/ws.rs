//! GraphQL subscriptions over WebSocket at `/graphql` (`graphql-transport-ws`, and the older
//! `graphql-ws` that some clients still speak), through async-graphql-actix-web. The caller is
//! the upgrade request's (its `Authorization` header), or the one a `connection_init` payload
//! names (`{"Authorization": "Bearer <token>"}`, for browsers, which cannot set headers on a
//! WebSocket). Every document passes the same parsing and limits as over HTTP, and every event
//! carries the id of its change in `extensions.changeId`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::dynamic::Schema;
use async_graphql::{Data, Executor, Request, Response};
use async_graphql_actix_web::GraphQLSubscription;
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;

use super::documents::DocumentCache;
use super::errors::{self, to_graphql};
use super::http::check_document;
use super::subscription::LastChange;
use crate::api::ApiContext;
use crate::auth::{Authenticator, Identity};
use crate::error::ApiError;

/// The schema behind the document checks of `/graphql`, numbering each event with its change.
#[derive(Clone)]
struct Checked {
    schema: Schema,
    documents: DocumentCache,
    max_nesting: usize,
}

impl Executor for Checked {
    async fn execute(&self, request: Request) -> Response {
        match self.prepare(request) {
            Ok(request) => self.schema.execute(request).await,
            Err(error) => refused(error),
        }
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let request = match self.prepare(request) {
            Ok(request) => request,
            Err(error) => {
                let response = refused(error);
                return futures_util::stream::once(async { response }).boxed();
            }
        };
        let last = LastChange::default();
        let slot = last.0.clone();
        self.schema
            .execute_stream_with_session_data(request.data(last), session_data.unwrap_or_default())
            .map(move |mut response| {
                errors::classify(&mut response);
                if response.errors.is_empty() {
                    let id = slot.load(Ordering::Relaxed);
                    response.extensions.insert(
                        "changeId".into(),
                        async_graphql::Value::from(id.to_string()),
                    );
                }
                response
            })
            .boxed()
    }
}

impl Checked {
    /// The request with its parsed document, or the error refusing it.
    fn prepare(&self, mut request: Request) -> Result<Request, ApiError> {
        check_document(&request, self.max_nesting)?;
        self.documents.prepare(&mut request)?;
        Ok(request)
    }
}

/// The response refusing a document before execution.
fn refused(error: ApiError) -> Response {
    Response::from_errors(vec![
        to_graphql(error).into_server_error(async_graphql::Pos::default()),
    ])
}

/// Upgrades `GET /graphql` to a subscription WebSocket.
pub async fn subscribe(
    req: HttpRequest,
    payload: web::Payload,
    ctx: ApiContext,
    schema: web::Data<Schema>,
    documents: web::Data<DocumentCache>,
) -> actix_web::Result<HttpResponse> {
    let executor = Checked {
        schema: schema.get_ref().clone(),
        documents: documents.get_ref().clone(),
        max_nesting: ctx.limits().max_nesting,
    };
    let authenticator = req.app_data::<web::Data<Authenticator>>().cloned();
    let mut data = Data::default();
    data.insert(ctx.clone());
    GraphQLSubscription::new(executor)
        .with_data(data)
        .on_connection_init(move |payload| async move {
            let mut data = Data::default();
            match (credentials(&payload), authenticator) {
                (Some(headers), Some(authenticator)) => {
                    let caller = authenticator.caller(&headers).await.map_err(to_graphql)?;
                    data.insert(ctx.with_caller(caller));
                }
                _ if matches!(ctx.caller().identity(), Identity::Nobody) => {
                    return Err(to_graphql(ctx.caller().refusal("subscribe")));
                }
                _ => {}
            }
            Ok(data)
        })
        .start(&req, payload)
}

/// The credentials of a `connection_init` payload, as request headers: `Authorization` (any
/// case), at its top level or under `headers`, and `X-Admin-Secret` likewise.
fn credentials(payload: &serde_json::Value) -> Option<HeaderMap> {
    let mut headers = HeaderMap::new();
    let scopes = [Some(payload), payload.get("headers")];
    for object in scopes.into_iter().flatten().filter_map(|v| v.as_object()) {
        for (key, value) in object {
            let Some(value) = value.as_str() else {
                continue;
            };
            let name = if key.eq_ignore_ascii_case("authorization") {
                header::AUTHORIZATION
            } else if key.eq_ignore_ascii_case(crate::auth::ADMIN_SECRET_HEADER) {
                HeaderName::from_static(crate::auth::ADMIN_SECRET_HEADER)
            } else {
                continue;
            };
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        }
    }
    (!headers.is_empty()).then_some(headers)
}

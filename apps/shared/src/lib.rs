//! The `shared` app: the contact tables every domain references (addresses, e-mail addresses,
//! phone numbers), and a lookup of an e-mail row by its address.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use engine::App;
use engine::api::ApiContext;
use engine::error::{ApiError, ErrorCode};
use engine::model::Access;
use engine::openapi::{Payload, RouteDoc};
use engine::query::Op;
use serde::Deserialize;
use utoipa::openapi::schema::{ObjectBuilder, Type};

/// The app's manifest: default port, allowlist and own routes.
pub fn app() -> App {
    App::new("shared", 3043)
        .rules(include_str!("../rules.toml"))
        .table("addresses", Access::ReadWrite)
        .table("emails", Access::ReadWrite)
        .table("phones", Access::ReadWrite)
        .route(
            Method::GET,
            "/emails/lookup",
            RouteDoc::new("the e-mail row with exactly this address (?address=...)")
                .operation_id("lookupEmail")
                .query(
                    "address",
                    true,
                    "the e-mail address, compared exactly",
                    ObjectBuilder::new().schema_type(Type::String),
                )
                .returns(200, "the e-mail row", Payload::Row("emails"))
                .errors([
                    ErrorCode::InvalidValue,
                    ErrorCode::NotFound,
                    ErrorCode::Unavailable,
                ]),
            lookup_email,
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Lookup {
    address: String,
}

async fn lookup_email(
    ctx: ApiContext,
    query: web::Query<Lookup>,
) -> Result<HttpResponse, ApiError> {
    let found: Option<serde_json::Value> = ctx
        .table("emails")?
        .filter("address", Op::Eq, query.address.clone().into())
        .fetch_optional()
        .await?;
    match found {
        Some(email) => Ok(HttpResponse::Ok().json(email)),
        None => Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no e-mail row has the address {:?}", query.address),
        )),
    }
}

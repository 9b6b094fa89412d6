//! The `shared` app: the contact tables every domain references (addresses, e-mail addresses,
//! phone numbers), and a lookup of an e-mail row by its address.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use engine::App;
use engine::api::ApiContext;
use engine::error::{ApiError, ErrorCode};
use engine::model::Access;
use engine::query::Op;
use serde::Deserialize;

/// The app's manifest: default port, allowlist and own routes.
pub fn app() -> App {
    App::new("shared", 3043)
        .table("addresses", Access::ReadWrite)
        .table("emails", Access::ReadWrite)
        .table("phones", Access::ReadWrite)
        .route(
            Method::GET,
            "/emails/lookup",
            "the e-mail row with exactly this address (?address=...)",
            lookup_email,
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Lookup {
    address: String,
}

async fn lookup_email(
    ctx: web::Data<ApiContext>,
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

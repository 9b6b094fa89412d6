//! The `customers` app: customers and the shared contact rows they reference, and a customer's
//! contact card (the customer with its e-mail, phone and address, in one statement).

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use engine::App;
use engine::api::ApiContext;
use engine::error::{ApiError, ErrorCode};
use engine::model::Access;
use engine::openapi::{Payload, RouteDoc, component};
use engine::query::Op;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};

/// The app's manifest: default port, allowlist and own routes.
pub fn app() -> App {
    App::new("customers", 3044)
        .rules(include_str!("../rules.toml"))
        .table("customers", Access::ReadWrite)
        .table("emails", Access::ReadWrite)
        .table("phones", Access::ReadWrite)
        .table("addresses", Access::ReadWrite)
        .route(
            Method::GET,
            "/customers/{id}/contact",
            RouteDoc::new("a customer with its e-mail, phone and address embedded")
                .operation_id("getCustomerContact")
                .path_key("id", "customers")
                .returns(
                    200,
                    "the customer's contact card",
                    Payload::schema(contact_schema()),
                )
                .errors([
                    ErrorCode::InvalidValue,
                    ErrorCode::NotFound,
                    ErrorCode::Unavailable,
                ]),
            contact_card,
        )
}

/// A customer row with its `email` object, and its `phone` and `address` objects or null.
fn contact_schema() -> RefOr<Schema> {
    let nullable = |name: &str| {
        OneOfBuilder::new()
            .item(component(name))
            .item(ObjectBuilder::new().schema_type(Type::Null))
    };
    AllOfBuilder::new()
        .item(component("Customer"))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("email", component("Email"))
                .property("phone", nullable("Phone"))
                .property("address", nullable("Address"))
                .required("email")
                .required("phone")
                .required("address"),
        )
        .into()
}

async fn contact_card(ctx: ApiContext, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let card: Option<serde_json::Value> = ctx
        .table("customers")?
        .filter("id", Op::Eq, id.into())
        .include("email")
        .include("phone")
        .include("address")
        .fetch_optional()
        .await?;
    card.map(|c| HttpResponse::Ok().json(c)).ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("customer with key {id} not found"),
        )
    })
}

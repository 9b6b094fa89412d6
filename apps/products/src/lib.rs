//! The `products` app: the product catalogue, the products running low on stock, and restocking.

mod restock;

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use engine::App;
use engine::api::ApiContext;
use engine::error::ApiError;
use engine::error::ErrorCode;
use engine::model::Access;
use engine::openapi::{Payload, RouteDoc};
use engine::query::Op;
use serde::Deserialize;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};

/// The app's manifest: default port, allowlist and own routes.
pub fn app() -> App {
    App::new("products", 3045)
        .rules(include_str!("../rules.toml"))
        .table("products", Access::ReadWrite)
        .route(
            Method::GET,
            "/products/low-stock",
            RouteDoc::new("products with stock below ?below=N (default 10), lowest first")
                .operation_id("getLowStockProducts")
                .query(
                    "below",
                    false,
                    "the stock threshold: products with less stock are listed",
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                        .minimum(Some(0))
                        .maximum(Some(u32::MAX))
                        .default(Some(10.into())),
                )
                .returns(
                    200,
                    "the products running low, lowest stock first (at most limits.max_limit)",
                    Payload::Rows("products"),
                )
                .errors([ErrorCode::InvalidValue, ErrorCode::Unavailable]),
            low_stock,
        )
        .route(
            Method::POST,
            "/products/{id}/restock",
            RouteDoc::new("adds `quantity` (at least 1) to a product's stock, atomically")
                .operation_id("restockProduct")
                .path_key("id", "products")
                .body("how many units arrived", restock::schema())
                .returns(200, "the restocked product", Payload::Row("products"))
                .errors([
                    ErrorCode::InvalidValue,
                    ErrorCode::InvalidBody,
                    ErrorCode::MalformedJson,
                    ErrorCode::NotFound,
                    ErrorCode::PayloadTooLarge,
                    ErrorCode::UnsupportedMediaType,
                    ErrorCode::Unavailable,
                ]),
            restock::restock,
        )
        .roles(&["staff"])
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LowStock {
    below: Option<u32>,
}

async fn low_stock(ctx: ApiContext, query: web::Query<LowStock>) -> Result<HttpResponse, ApiError> {
    let below = query.below.unwrap_or(10);
    let products: Vec<serde_json::Value> = ctx
        .table("products")?
        .filter("stock", Op::Lt, below.into())
        .order_by("stock", false)
        .order_by("id", false)
        .limit(ctx.limits().max_limit)
        .fetch_all()
        .await?;
    Ok(HttpResponse::Ok().json(products))
}

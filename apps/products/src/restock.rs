//! `POST /products/{id}/restock` with `{"quantity": N}`: adds N (at least 1) to a product's stock
//! and answers the product. Restocks never lose one another: each runs in one transaction that
//! holds the product's row from its first statement to its commit, so a concurrent restock waits
//! and then adds to the stock this one wrote.

use std::num::NonZeroU32;

use actix_web::{HttpResponse, web};
use engine::api::ApiContext;
use engine::error::{ApiError, ErrorCode};
use engine::query::Op;
use engine::rest::Json;
use serde::Deserialize;
use serde_json::json;
use utoipa::openapi::schema::{
    AdditionalProperties, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};

/// The body: how many units arrived.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restock {
    quantity: NonZeroU32,
}

/// The body's schema, for the API documents.
pub fn schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .property(
            "quantity",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(1))
                .maximum(Some(u32::MAX))
                .description(Some("units added to the stock")),
        )
        .required("quantity")
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
}

#[derive(Debug, Deserialize)]
struct Stock {
    stock: i64,
}

pub async fn restock(
    ctx: ApiContext,
    id: web::Path<i64>,
    body: Json<Restock>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let missing = || ApiError::not_found(format!("product with key {id}"));
    let product = ctx.table("products")?.filter("id", Op::Eq, id.into());
    let mut tx = ctx.begin().await?;
    // Writing the key to itself takes the row's write lock on PostgreSQL (on SQLite the
    // transaction holds the database's from its start) and answers the stock as last committed.
    let locked: Vec<Stock> = product
        .clone()
        .update_in(&mut tx, json!({ "id": id }))
        .await?;
    let current = locked.first().ok_or_else(missing)?;
    let stock = current
        .stock
        .checked_add(i64::from(body.quantity.get()))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidValue,
                format!(
                    "invalid value for field `stock`: restocking {} units takes it past the largest integer",
                    body.quantity
                ),
            )
        })?;
    let updated: Vec<serde_json::Value> = product
        .update_in(&mut tx, json!({ "stock": stock }))
        .await?;
    let restocked = updated.into_iter().next().ok_or_else(missing)?;
    ctx.commit(tx).await?;
    Ok(HttpResponse::Ok().json(restocked))
}

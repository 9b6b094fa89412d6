//! `GET /customers/{id}/summary`: how many invoices a customer has and what they add up to.

use actix_web::{HttpResponse, web};
use engine::api::ApiContext;
use engine::error::{ApiError, ErrorCode};
use engine::query::Op;
use serde::Serialize;
use utoipa::ToSchema;

use crate::totals::{self, InvoiceTotal};

/// A customer's invoice count and total.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    customer_id: i64,
    invoice_count: usize,
    total_cents: i64,
}

pub async fn customer_summary(
    ctx: ApiContext,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = id.into_inner();
    let customer: Option<serde_json::Value> = ctx
        .table("customers")?
        .filter("id", Op::Eq, customer_id.into())
        .fetch_optional()
        .await?;
    if customer.is_none() {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("customer with key {customer_id} not found"),
        ));
    }
    let totals: Vec<InvoiceTotal> = ctx
        .table("invoice_totals")?
        .filter("customer_id", Op::Eq, customer_id.into())
        .fetch_all()
        .await?;
    Ok(HttpResponse::Ok().json(Summary {
        customer_id,
        invoice_count: totals.len(),
        total_cents: totals::sum(&totals)?,
    }))
}

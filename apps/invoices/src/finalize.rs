//! `POST /invoices/{id}/finalize`: computes a draft invoice's total from its line items, stores
//! it and marks the invoice issued, in one transaction. Only a draft can be finalized: the
//! update is conditional on the status, so two concurrent calls cannot both succeed.

use actix_web::{HttpResponse, web};
use engine::api::ApiContext;
use engine::error::{ApiError, ErrorCode};
use engine::query::Op;
use serde::Deserialize;
use serde_json::json;

use crate::totals::InvoiceTotal;

#[derive(Debug, Deserialize)]
struct Invoice {
    status: String,
}

pub async fn finalize(ctx: ApiContext, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let mut tx = ctx.begin().await?;
    let totals: Vec<InvoiceTotal> = ctx
        .table("invoice_totals")?
        .filter("invoice_id", Op::Eq, id.into())
        .fetch_all_in(&mut tx)
        .await?;
    let Some(total) = totals.first() else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("invoice with key {id} not found"),
        ));
    };
    let updated: Vec<serde_json::Value> = ctx
        .table("invoices")?
        .filter("id", Op::Eq, id.into())
        .filter("status", Op::Eq, "draft".into())
        .update_in(
            &mut tx,
            json!({ "status": "issued", "total_cents": total.cents()? }),
        )
        .await?;
    let Some(invoice) = updated.into_iter().next() else {
        let current: Vec<Invoice> = ctx
            .table("invoices")?
            .filter("id", Op::Eq, id.into())
            .fetch_all_in(&mut tx)
            .await?;
        let status = current.first().map_or("unknown", |i| i.status.as_str());
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("invoice {id} is already {status}; only a draft can be finalized"),
        ));
    };
    ctx.commit(tx).await?;
    Ok(HttpResponse::Ok().json(invoice))
}

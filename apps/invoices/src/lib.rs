//! The `invoices` app: invoices and their line items, with customers and products read-only,
//! the computed totals view, a customer's invoice summary and invoice finalization.

mod finalize;
mod summary;
mod totals;

use actix_web::http::Method;
use engine::App;
use engine::error::ErrorCode;
use engine::model::Access;
use engine::openapi::{Payload, RouteDoc};
use utoipa::PartialSchema;

/// The app's manifest: default port, allowlist and own routes.
pub fn app() -> App {
    App::new("invoices", 3046)
        .rules(include_str!("../rules.toml"))
        .table("invoices", Access::ReadWrite)
        .table("line_items", Access::ReadWrite)
        .table("customers", Access::Read)
        .table("products", Access::Read)
        .table("invoice_totals", Access::Read)
        .route(
            Method::GET,
            "/customers/{id}/summary",
            RouteDoc::new("a customer's invoice count and the total of its invoices, in cents")
                .operation_id("getCustomerSummary")
                .path_key("id", "customers")
                .returns(
                    200,
                    "the customer's invoice summary",
                    Payload::schema(summary::Summary::schema()),
                )
                .errors([
                    ErrorCode::InvalidValue,
                    ErrorCode::NotFound,
                    ErrorCode::Unavailable,
                ]),
            summary::customer_summary,
        )
        .route(
            Method::POST,
            "/invoices/{id}/finalize",
            RouteDoc::new(
                "stores a draft invoice's total and marks it issued (409 unless it is a draft)",
            )
            .operation_id("finalizeInvoice")
            .path_key("id", "invoices")
            .returns(200, "the finalized invoice", Payload::Row("invoices"))
            .errors([
                ErrorCode::InvalidValue,
                ErrorCode::NotFound,
                ErrorCode::Conflict,
                ErrorCode::Unavailable,
            ]),
            finalize::finalize,
        )
        .roles(&["staff"])
}

//! The `invoices` app: invoices and their line items, with customers and products read-only,
//! the computed totals view, a customer's invoice summary and invoice finalization.

mod finalize;
mod summary;

use actix_web::http::Method;
use engine::App;
use engine::model::Access;

/// The app's manifest: default port, allowlist and own routes.
pub fn app() -> App {
    App::new("invoices", 3046)
        .table("invoices", Access::ReadWrite)
        .table("line_items", Access::ReadWrite)
        .table("customers", Access::Read)
        .table("products", Access::Read)
        .table("invoice_totals", Access::Read)
        .route(
            Method::GET,
            "/customers/{id}/summary",
            "a customer's invoice count and the total of its invoices, in cents",
            summary::customer_summary,
        )
        .route(
            Method::POST,
            "/invoices/{id}/finalize",
            "stores a draft invoice's total and marks it issued (409 unless it is a draft)",
            finalize::finalize,
        )
}

//! Rows of the `invoice_totals` view. A line's `quantity * unit_price_cents` can outgrow 64 bits:
//! PostgreSQL then fails the statement (a 400), SQLite answers a float; both routes that read
//! the view answer such a total with the same 400 instead of a wrong number.

use engine::error::{ApiError, ErrorCode};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceTotal {
    total_cents: serde_json::Number,
}

impl InvoiceTotal {
    /// The total in cents, when it is a 64-bit integer.
    pub fn cents(&self) -> Result<i64, ApiError> {
        self.total_cents.as_i64().ok_or_else(too_large)
    }
}

/// The sum of several invoices' totals.
pub fn sum(totals: &[InvoiceTotal]) -> Result<i64, ApiError> {
    totals.iter().try_fold(0i64, |sum, total| {
        sum.checked_add(total.cents()?).ok_or_else(too_large)
    })
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidValue,
        "invalid value: the line items' quantities times unit prices add up to more than a 64-bit integer holds",
    )
}

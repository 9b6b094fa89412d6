//! Opaque keyset cursors: base64url of the JSON array of a row's order-field values.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value as Json};

use crate::error::{ApiError, ErrorCode};
use crate::model::Entity;
use crate::query::{Keyset, Order, coerce_json};

fn invalid(reason: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidCursor,
        format!(
            "invalid cursor: {reason}; use a cursor from X-Start-After or X-End-Before with the same orderby"
        ),
    )
}

/// Checks that an order can carry keyset pages: it orders by something, and never by a
/// nullable field (NULLs have no place in a keyset comparison).
pub fn check_order(entity: &Entity, order: &[Order]) -> Result<(), ApiError> {
    if order.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidCursor,
            format!(
                "`{}` has no primary key: cursor pagination needs an explicit order",
                entity.plural
            ),
        ));
    }
    match order
        .iter()
        .map(|o| &entity.fields[o.field])
        .find(|f| f.nullable)
    {
        Some(nullable) => Err(ApiError::new(
            ErrorCode::InvalidCursor,
            format!(
                "cursor pagination cannot order by `{}`, which can be null",
                nullable.name
            ),
        )),
        None => Ok(()),
    }
}

/// Decodes a cursor into keyset values for `order`.
pub fn decode(
    cursor: &str,
    entity: &Entity,
    order: &[Order],
    before: bool,
) -> Result<Keyset, ApiError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid("not base64url"))?;
    let values: Vec<Json> = serde_json::from_slice(&bytes).map_err(|_| invalid("not a cursor"))?;
    if values.len() != order.len() {
        return Err(invalid("it was made for another ordering"));
    }
    let values = order
        .iter()
        .zip(&values)
        .map(|(o, v)| {
            if v.is_null() {
                return Err(invalid("it holds a null"));
            }
            coerce_json(&entity.fields[o.field], v)
                .map_err(|_| invalid("it holds a value of the wrong type"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Keyset { values, before })
}

/// The cursor of a row (a JSON object) in `order`.
pub fn encode(row: &Map<String, Json>, entity: &Entity, order: &[Order]) -> String {
    let values: Vec<&Json> = order
        .iter()
        .map(|o| row.get(&entity.fields[o.field].name).unwrap_or(&Json::Null))
        .collect();
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&values).unwrap_or_default())
}

/// A page of rows in presentation order, with the cursors of its first and last row.
#[derive(Debug)]
pub struct Page {
    pub body: String,
    pub end_before: Option<String>,
    pub start_after: Option<String>,
}

/// Puts rows fetched for a keyset page in order (a page *before* a cursor is fetched backwards)
/// and computes its cursors.
pub fn page(
    json: &str,
    entity: &Entity,
    order: &[Order],
    backwards: bool,
) -> Result<Page, ApiError> {
    let mut rows: Vec<Map<String, Json>> =
        serde_json::from_str(json).map_err(|e| ApiError::internal(&e))?;
    if backwards {
        rows.reverse();
    }
    Ok(Page {
        end_before: rows.first().map(|r| encode(r, entity, order)),
        start_after: rows.last().map(|r| encode(r, entity, order)),
        body: serde_json::to_string(&rows).map_err(|e| ApiError::internal(&e))?,
    })
}

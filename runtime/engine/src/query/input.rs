//! Row input (a JSON object of field values, from a REST body or a GraphQL input) checked field
//! by field against the table before anything reaches the database.

use serde_json::{Map, Value as Json};

use super::{Value, coerce_json};
use crate::error::{ApiError, ErrorCode};
use crate::model::Entity;

/// How a row body is used, which decides what it must contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowUse<'p> {
    /// Every required field must be present, but those the caller's rule presets.
    Insert { preset: &'p [usize] },
    /// Any subset of fields; at least one.
    Update,
}

/// Checks one JSON object against the entity and answers its (field, value) pairs.
pub fn row_values(
    entity: &Entity,
    row: &Map<String, Json>,
    usage: RowUse<'_>,
) -> Result<Vec<(usize, Value)>, ApiError> {
    let mut values: Vec<(usize, Value)> = Vec::with_capacity(row.len());
    for (key, json) in row {
        let index = entity.field_index(key).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownField,
                format!(
                    "`{}` has no field `{key}` (fields: {})",
                    entity.plural,
                    entity.field_names()
                ),
            )
        })?;
        let field = &entity.fields[index];
        if values.iter().any(|(i, _)| *i == index) {
            return Err(ApiError::new(
                ErrorCode::InvalidBody,
                format!(
                    "field `{}` is given twice (as camelCase and snake_case)",
                    field.name
                ),
            ));
        }
        if !field.writable() {
            return Err(ApiError::new(
                ErrorCode::ReadOnlyField,
                format!(
                    "field `{}` is computed by the database and cannot be written",
                    field.name
                ),
            ));
        }
        if json.is_null() && !field.nullable {
            return Err(ApiError::new(
                ErrorCode::NotNullViolation,
                format!("field `{}` cannot be null", field.name),
            ));
        }
        values.push((index, coerce_json(field, json)?));
    }
    match usage {
        RowUse::Insert { preset } => {
            let missing: Vec<&str> = entity
                .fields
                .iter()
                .enumerate()
                .filter(|(i, f)| {
                    f.required_on_insert()
                        && !preset.contains(i)
                        && !values.iter().any(|(v, _)| v == i)
                })
                .map(|(_, f)| f.name.as_str())
                .collect();
            if !missing.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::NotNullViolation,
                    format!("missing required field(s): {}", missing.join(", ")),
                ));
            }
        }
        RowUse::Update if values.is_empty() => {
            return Err(ApiError::new(
                ErrorCode::InvalidBody,
                "the body names no field to update",
            ));
        }
        RowUse::Update => {}
    }
    Ok(values)
}

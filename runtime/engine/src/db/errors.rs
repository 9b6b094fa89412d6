//! Turns database failures into client errors, by SQLSTATE class and constraint name.
//!
//! Constraint violations name the API fields involved (never a table the app cannot see); data
//! exceptions (a value the column type cannot hold) are 400s; pool exhaustion is a 503; anything
//! else is logged and answered as an internal error.

use sqlx::error::ErrorKind;

use crate::error::{ApiError, ErrorCode};

/// What the error mapper may say about constraints: API names of visible tables' columns.
pub trait ConstraintNames {
    /// The API field names a named constraint covers, when it belongs to a visible table.
    fn constraint_fields(&self, constraint: &str) -> Option<Vec<String>>;
    /// The API field name of a visible table's column.
    fn column_field(&self, table: &str, column: &str) -> Option<String>;
}

/// Maps a database error to the client error it stands for.
pub fn db_error(error: sqlx::Error, names: &dyn ConstraintNames) -> ApiError {
    match &error {
        sqlx::Error::PoolTimedOut => {
            return ApiError::new(
                ErrorCode::Unavailable,
                "the database is busy; no connection became free in time, retry later",
            );
        }
        sqlx::Error::Database(db) => {
            let constraint = db.constraint().map(str::to_owned);
            let message = db.message().to_owned();
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let constraint = constraint.or_else(|| sqlite_constraint(&message));
            let fields = constraint
                .as_deref()
                .and_then(|c| names.constraint_fields(c))
                .or_else(|| sqlite_fields(&message, names))
                .or_else(|| postgres_column(db.as_ref(), names));
            let described = describe(constraint.as_deref(), fields.as_deref());
            match db.kind() {
                ErrorKind::UniqueViolation => {
                    return ApiError::new(
                        ErrorCode::UniqueViolation,
                        format!(
                            "unique constraint violated{described}: a row with the same value already exists"
                        ),
                    );
                }
                ErrorKind::ForeignKeyViolation => {
                    return ApiError::new(
                        ErrorCode::ForeignKeyViolation,
                        format!(
                            "foreign key constraint violated{described}: the referenced row does not exist, or other rows still reference this one"
                        ),
                    );
                }
                ErrorKind::NotNullViolation => {
                    return ApiError::new(
                        ErrorCode::NotNullViolation,
                        format!("not-null constraint violated{described}: a value is required"),
                    );
                }
                ErrorKind::CheckViolation => {
                    return ApiError::new(
                        ErrorCode::CheckViolation,
                        format!("check constraint violated{described}: the value is not allowed"),
                    );
                }
                _ => {}
            }
            // PostgreSQL class 22: data exceptions (bad text for a type, out of range, ...).
            if code.starts_with("22") {
                return ApiError::new(ErrorCode::InvalidValue, format!("invalid value: {message}"));
            }
        }
        _ => {}
    }
    ApiError::internal(&error)
}

fn describe(constraint: Option<&str>, fields: Option<&[String]>) -> String {
    match (constraint, fields) {
        (Some(c), Some(f)) => format!(" ({c} on {})", f.join(", ")),
        (Some(c), None) => format!(" ({c})"),
        (None, Some(f)) => format!(" (on {})", f.join(", ")),
        (None, None) => String::new(),
    }
}

/// SQLite names `table.column` pairs after the colon: `UNIQUE constraint failed: products.sku`.
fn sqlite_fields(message: &str, names: &dyn ConstraintNames) -> Option<Vec<String>> {
    let (_, list) = message.split_once("constraint failed: ")?;
    list.split(", ")
        .map(|item| {
            let (table, column) = item.split_once('.')?;
            names.column_field(table, column)
        })
        .collect()
}

/// SQLite names a CHECK constraint after the colon: `CHECK constraint failed: invoices_status_check`.
fn sqlite_constraint(message: &str) -> Option<String> {
    let (_, name) = message.split_once("CHECK constraint failed: ")?;
    Some(name.to_string())
}

fn postgres_column(
    db: &(dyn sqlx::error::DatabaseError + 'static),
    names: &dyn ConstraintNames,
) -> Option<Vec<String>> {
    let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?;
    Some(vec![names.column_field(pg.table()?, pg.column()?)?])
}

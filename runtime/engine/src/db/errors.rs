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

/// A failed statement, from either driver.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// No connection (or, on SQLite, the writer) became free within the acquire timeout.
    #[error("timed out waiting for a database connection")]
    Busy,
    /// A statement combined with concurrent ones failed outside the database (its connection
    /// broke); a write may have committed, so it is not run again.
    #[error("a combined statement failed on its connection: {0}")]
    Combined(String),
}

/// The constraint violations and data errors a client can cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Violation {
    Unique,
    ForeignKey,
    NotNull,
    Check,
    TooLarge,
    InvalidValue,
}

/// Maps a database error to the client error it stands for.
pub fn db_error(error: DbError, names: &dyn ConstraintNames) -> ApiError {
    let explained = match &error {
        DbError::Busy | DbError::Sqlx(sqlx::Error::PoolTimedOut) => {
            return ApiError::new(
                ErrorCode::Unavailable,
                "the database is busy; no connection became free in time, retry later",
            );
        }
        DbError::Sqlx(sqlx::Error::Database(db))
            if db.code().as_deref() == Some(QUERY_CANCELED) =>
        {
            return timed_out();
        }
        DbError::Sqlx(sqlx::Error::Database(db)) => postgres_violation(db.as_ref(), names),
        DbError::Sqlite(rusqlite::Error::SqliteFailure(failure, message)) => {
            match failure.code {
                rusqlite::ErrorCode::DatabaseBusy => {
                    return ApiError::new(
                        ErrorCode::Unavailable,
                        "the database is locked by another process; retry later",
                    );
                }
                rusqlite::ErrorCode::OperationInterrupted => return timed_out(),
                _ => {}
            }
            sqlite_violation(
                failure.extended_code,
                message.as_deref().unwrap_or(""),
                names,
            )
        }
        _ => None,
    };
    match explained {
        Some((violation, described)) => violation_error(violation, &described),
        None => ApiError::internal(&error),
    }
}

/// SQLSTATE 57014: `statement_timeout` (or an operator) cancelled the statement.
const QUERY_CANCELED: &str = "57014";
/// SQLSTATE 54000: a value too large for what holds it, such as an index entry (a B-tree row
/// of over 2,704 bytes, or over 8,191 compressed).
const PROGRAM_LIMIT_EXCEEDED: &str = "54000";

/// A statement stopped at the request's time limit (SQLite's progress handler, PostgreSQL's
/// `statement_timeout`).
fn timed_out() -> ApiError {
    ApiError::new(
        ErrorCode::RequestTimeout,
        "the request took longer than limits.request_timeout_secs allows and was stopped; narrow it (a filter, a smaller limit) or retry later",
    )
}

fn violation_error(violation: Violation, described: &str) -> ApiError {
    match violation {
        Violation::Unique => ApiError::new(
            ErrorCode::UniqueViolation,
            format!(
                "unique constraint violated{described}: a row with the same value already exists"
            ),
        ),
        Violation::ForeignKey => ApiError::new(
            ErrorCode::ForeignKeyViolation,
            format!(
                "foreign key constraint violated{described}: the referenced row does not exist, or other rows still reference this one"
            ),
        ),
        Violation::NotNull => ApiError::new(
            ErrorCode::NotNullViolation,
            format!("not-null constraint violated{described}: a value is required"),
        ),
        Violation::Check => ApiError::new(
            ErrorCode::CheckViolation,
            format!("check constraint violated{described}: the value is not allowed"),
        ),
        Violation::TooLarge => ApiError::new(
            ErrorCode::ValueTooLarge,
            format!(
                "a value is too large for an index of the table{described}: shorten it (PostgreSQL indexes values of up to about 2,700 bytes)"
            ),
        ),
        Violation::InvalidValue => ApiError::new(
            ErrorCode::InvalidValue,
            format!("invalid value: {described}"),
        ),
    }
}

/// A PostgreSQL error by kind, constraint and column; class 22 (data exceptions: bad text for
/// a type, out of range, ...) is an invalid value.
fn postgres_violation(
    db: &(dyn sqlx::error::DatabaseError + 'static),
    names: &dyn ConstraintNames,
) -> Option<(Violation, String)> {
    let violation = match db.kind() {
        ErrorKind::UniqueViolation => Violation::Unique,
        ErrorKind::ForeignKeyViolation => Violation::ForeignKey,
        ErrorKind::NotNullViolation => Violation::NotNull,
        ErrorKind::CheckViolation => Violation::Check,
        _ if db.code().as_deref() == Some(PROGRAM_LIMIT_EXCEEDED) => Violation::TooLarge,
        _ if db.code().is_some_and(|c| c.starts_with("22")) => {
            return Some((Violation::InvalidValue, db.message().to_owned()));
        }
        _ => return None,
    };
    let constraint = db.constraint();
    let fields = constraint
        .and_then(|c| names.constraint_fields(c))
        .or_else(|| postgres_column(db, names));
    Some((violation, describe(constraint, fields.as_deref())))
}

/// A SQLite error by extended result code; SQLite names the columns, or a CHECK constraint, in
/// its message.
fn sqlite_violation(
    extended_code: std::ffi::c_int,
    message: &str,
    names: &dyn ConstraintNames,
) -> Option<(Violation, String)> {
    use rusqlite::ffi;
    let violation = match extended_code {
        ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => Violation::Unique,
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Violation::ForeignKey,
        ffi::SQLITE_CONSTRAINT_NOTNULL => Violation::NotNull,
        ffi::SQLITE_CONSTRAINT_CHECK => Violation::Check,
        ffi::SQLITE_MISMATCH | ffi::SQLITE_TOOBIG => {
            return Some((Violation::InvalidValue, message.to_owned()));
        }
        // `sum()` past 64 bits; PostgreSQL's counterpart is SQLSTATE 22003.
        ffi::SQLITE_ERROR if message == "integer overflow" => {
            return Some((Violation::InvalidValue, message.to_owned()));
        }
        _ => return None,
    };
    let constraint = sqlite_constraint(message);
    let fields = constraint
        .as_deref()
        .and_then(|c| names.constraint_fields(c))
        .or_else(|| sqlite_fields(message, names));
    Some((
        violation,
        describe(constraint.as_deref(), fields.as_deref()),
    ))
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

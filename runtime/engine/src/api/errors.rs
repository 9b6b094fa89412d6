//! The one place a database failure becomes the product's error: constraint violations name the
//! API fields involved (never a table the app cannot see), taking them from what the database
//! reported or, when it names none, from the write that failed; data exceptions are 400s, a busy
//! database a 503, anything else an internal error whose cause is logged.

use crate::db::{DbError, Failure, Violation, ViolationKind};
use crate::error::{ApiError, ErrorCode};
use crate::model::AppModel;
use crate::ops::request::current_id;
use crate::query::{Operation, Value};

/// Text values a database may refuse to index: this many bytes or more.
const LONG_VALUE: usize = 2_000;

/// Maps a failed statement to the client error it stands for; `operation` is what ran, when
/// known, for the fields a violation the database did not attribute is about.
pub fn explain(error: DbError, model: &AppModel, operation: Option<&Operation>) -> ApiError {
    match error.failure() {
        Failure::Busy => ApiError::new(
            ErrorCode::Unavailable,
            "no database connection became available in time (the database is busy or unreachable); retry later",
        ),
        Failure::Locked => ApiError::new(
            ErrorCode::Unavailable,
            "the database is locked by another process; retry later",
        ),
        Failure::TimedOut => ApiError::new(
            ErrorCode::RequestTimeout,
            "the request took longer than limits.request_timeout_secs allows and was stopped; narrow it (a filter, a smaller limit) or retry later",
        ),
        Failure::Unreachable => {
            tracing::warn!(
                request_id = &*current_id(),
                error = %error,
                "the database cannot be reached"
            );
            ApiError::new(
                ErrorCode::Unavailable,
                "the database cannot be reached; retry later",
            )
        }
        Failure::CannotWrite => {
            tracing::error!(
                request_id = &*current_id(),
                error = %error,
                "the database cannot write"
            );
            ApiError::new(
                ErrorCode::Unavailable,
                "the database cannot write now (a full disk?); nothing was written, retry later",
            )
        }
        Failure::Violation(violation) => violation_error(&violation, model, operation),
        Failure::Fault => ApiError::internal(&error),
    }
}

fn violation_error(
    violation: &Violation,
    model: &AppModel,
    operation: Option<&Operation>,
) -> ApiError {
    let fields = reported_fields(violation, model);
    let described = describe(violation.constraint.as_deref(), fields.as_deref());
    match violation.kind {
        ViolationKind::Unique => ApiError::new(
            ErrorCode::UniqueViolation,
            format!(
                "unique constraint violated{described}: a row with the same value already exists"
            ),
        ),
        ViolationKind::ForeignKey => {
            let written = operation.and_then(|op| written_foreign_keys(model, op));
            let message = match (&fields, violation.constraint.as_deref(), written) {
                (None, None, Some(written)) => format!(
                    "foreign key constraint violated: one of {written} references a row that does not exist, or other rows still reference this one"
                ),
                _ => format!(
                    "foreign key constraint violated{described}: the referenced row does not exist, or other rows still reference this one"
                ),
            };
            ApiError::new(ErrorCode::ForeignKeyViolation, message)
        }
        ViolationKind::NotNull => ApiError::new(
            ErrorCode::NotNullViolation,
            format!("not-null constraint violated{described}: a value is required"),
        ),
        ViolationKind::Check => ApiError::new(
            ErrorCode::CheckViolation,
            format!("check constraint violated{described}: the value is not allowed"),
        ),
        ViolationKind::TooLarge => {
            let what = operation
                .and_then(|op| long_values(model, op))
                .map_or(described, |fields| format!(": {fields}"));
            ApiError::new(
                ErrorCode::ValueTooLarge,
                format!(
                    "a value is too large for an index of the table{what}; PostgreSQL indexes values of up to about 2,700 bytes"
                ),
            )
        }
        ViolationKind::InvalidValue => ApiError::new(
            ErrorCode::InvalidValue,
            format!(
                "invalid value: {}",
                violation.detail.as_deref().unwrap_or("")
            ),
        ),
    }
}

/// The API fields of what the database named: the constraint's, or every named column's when
/// each belongs to a visible table.
fn reported_fields(violation: &Violation, model: &AppModel) -> Option<Vec<String>> {
    violation
        .constraint
        .as_deref()
        .and_then(|c| model.constraint_fields(c))
        .or_else(|| {
            if violation.columns.is_empty() {
                return None;
            }
            violation
                .columns
                .iter()
                .map(|(table, column)| model.column_field(table, column))
                .collect()
        })
}

fn describe(constraint: Option<&str>, fields: Option<&[String]>) -> String {
    match (constraint, fields) {
        (Some(c), Some(f)) => format!(" ({c} on {})", f.join(", ")),
        (Some(c), None) => format!(" ({c})"),
        (None, Some(f)) => format!(" (on {})", f.join(", ")),
        (None, None) => String::new(),
    }
}

/// The values an operation writes, with the entity they go to.
fn written(operation: &Operation) -> Option<(usize, Vec<&(usize, Value)>)> {
    match operation {
        Operation::Insert { entity, rows, .. } => Some((*entity, rows.iter().flatten().collect())),
        Operation::Upsert { entity, values, .. } | Operation::Update { entity, values, .. } => {
            Some((*entity, values.iter().collect()))
        }
        _ => None,
    }
}

/// The foreign-key fields a write sets, named for an error message.
fn written_foreign_keys(model: &AppModel, operation: &Operation) -> Option<String> {
    let (entity, values) = written(operation)?;
    let entity = &model.entities[entity];
    let mut names: Vec<&str> = entity
        .constraints
        .iter()
        .filter(|c| c.foreign_key)
        .flat_map(|c| c.fields.iter())
        .filter(|f| values.iter().any(|(written, _)| written == *f))
        .map(|f| entity.fields[*f].name.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    (!names.is_empty()).then(|| names.join(", "))
}

/// The fields a write sets to long text, with their longest lengths, named for an error message.
fn long_values(model: &AppModel, operation: &Operation) -> Option<String> {
    let (entity, values) = written(operation)?;
    let entity = &model.entities[entity];
    let mut long: Vec<(usize, usize)> = Vec::new();
    for (field, value) in values {
        if let Value::Text(text) = value
            && text.len() >= LONG_VALUE
        {
            match long.iter_mut().find(|(f, _)| f == field) {
                Some((_, length)) => *length = (*length).max(text.len()),
                None => long.push((*field, text.len())),
            }
        }
    }
    let named: Vec<String> = long
        .iter()
        .map(|(field, length)| format!("`{}` ({length} bytes)", entity.fields[*field].name))
        .collect();
    (!named.is_empty()).then(|| named.join(", "))
}

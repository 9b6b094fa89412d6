//! What a failed statement means, from either driver, in the database's own terms: busy, timed
//! out, a constraint violation with the constraint, table and columns the database names, or a
//! fault. Turning that into the product's error, with the app's API names, is the API layer's
//! job (`api::errors`).

use sqlx::error::ErrorKind;

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
    /// A statement answered JSON that is not what it writes (the change log, read by hand).
    #[error("the database answered JSON the runtime cannot read: {0}")]
    Decode(String),
}

/// What a failed statement means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No connection became free in time.
    Busy,
    /// Another process holds the database's lock (SQLite).
    Locked,
    /// The statement ran past its time limit and was stopped.
    TimedOut,
    /// The database cannot be reached: refused, dropped or shutting-down connections.
    Unreachable,
    /// The database cannot write: a full disk, an I/O error (SQLite).
    CannotWrite,
    /// A constraint or value the client's data broke.
    Violation(Violation),
    /// Anything else: a fault of the server or the database.
    Fault,
}

/// A constraint or value the client's data broke, as the database reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: ViolationKind,
    /// The constraint (or index) by name, when the database names it.
    pub constraint: Option<String>,
    /// `(table, column)` pairs the database names.
    pub columns: Vec<(String, String)>,
    /// The database's own words, for a value it cannot take.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationKind {
    Unique,
    ForeignKey,
    NotNull,
    Check,
    /// A value too large for an index entry.
    TooLarge,
    /// A value the column type cannot hold (bad text for a type, out of range, ...).
    InvalidValue,
}

/// SQLSTATE 57014: `statement_timeout` (or an operator) cancelled the statement.
const QUERY_CANCELED: &str = "57014";
/// SQLSTATE 54000: a value too large for what holds it, such as an index entry (a B-tree row
/// of over 2,704 bytes, or over 8,191 compressed).
const PROGRAM_LIMIT_EXCEEDED: &str = "54000";

impl DbError {
    /// Whether a driver error says the database is not there: a refused, dropped or
    /// shutting-down connection (SQLSTATE class 08, 57P01-57P03).
    pub fn unreachable(error: &sqlx::Error) -> bool {
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
            _ => false,
        }
    }

    /// What the failure means.
    pub fn failure(&self) -> Failure {
        match self {
            DbError::Busy | DbError::Sqlx(sqlx::Error::PoolTimedOut) => Failure::Busy,
            DbError::Sqlx(error) if DbError::unreachable(error) => Failure::Unreachable,
            DbError::Combined(_) => Failure::Unreachable,
            DbError::Sqlx(sqlx::Error::Database(db)) => postgres_failure(db.as_ref()),
            DbError::Sqlite(rusqlite::Error::SqliteFailure(failure, message)) => {
                match failure.code {
                    rusqlite::ErrorCode::DatabaseBusy => Failure::Locked,
                    rusqlite::ErrorCode::OperationInterrupted => Failure::TimedOut,
                    rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::ReadOnly
                    | rusqlite::ErrorCode::CannotOpen => Failure::CannotWrite,
                    _ => sqlite_violation(failure.extended_code, message.as_deref().unwrap_or(""))
                        .map_or(Failure::Fault, Failure::Violation),
                }
            }
            _ => Failure::Fault,
        }
    }
}

/// A PostgreSQL error by SQLSTATE, with the constraint, table and column it names; class 22
/// (data exceptions) is an invalid value.
fn postgres_failure(db: &(dyn sqlx::error::DatabaseError + 'static)) -> Failure {
    let code = db.code();
    let kind = match db.kind() {
        ErrorKind::UniqueViolation => ViolationKind::Unique,
        ErrorKind::ForeignKeyViolation => ViolationKind::ForeignKey,
        ErrorKind::NotNullViolation => ViolationKind::NotNull,
        ErrorKind::CheckViolation => ViolationKind::Check,
        _ if code.as_deref() == Some(QUERY_CANCELED) => return Failure::TimedOut,
        _ if code.as_deref() == Some(PROGRAM_LIMIT_EXCEEDED) => ViolationKind::TooLarge,
        _ if code.is_some_and(|c| c.starts_with("22")) => {
            return Failure::Violation(Violation {
                kind: ViolationKind::InvalidValue,
                constraint: None,
                columns: Vec::new(),
                detail: Some(db.message().to_owned()),
            });
        }
        _ => return Failure::Fault,
    };
    let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
    let columns = pg
        .and_then(|pg| Some((pg.table()?.to_owned(), pg.column()?.to_owned())))
        .into_iter()
        .collect();
    Failure::Violation(Violation {
        kind,
        constraint: db.constraint().map(str::to_owned),
        columns,
        detail: None,
    })
}

/// A SQLite error by extended result code. SQLite has no structured fields: it names the
/// `table.column` pairs, or a CHECK constraint, after the colon of its message.
fn sqlite_violation(extended_code: std::ffi::c_int, message: &str) -> Option<Violation> {
    use rusqlite::ffi;
    let kind = match extended_code {
        ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => ViolationKind::Unique,
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ViolationKind::ForeignKey,
        ffi::SQLITE_CONSTRAINT_NOTNULL => ViolationKind::NotNull,
        ffi::SQLITE_CONSTRAINT_CHECK => ViolationKind::Check,
        // `sum()` past 64 bits; PostgreSQL's counterpart is SQLSTATE 22003.
        ffi::SQLITE_MISMATCH | ffi::SQLITE_TOOBIG => ViolationKind::InvalidValue,
        ffi::SQLITE_ERROR if message == "integer overflow" => ViolationKind::InvalidValue,
        _ => return None,
    };
    if kind == ViolationKind::InvalidValue {
        return Some(Violation {
            kind,
            constraint: None,
            columns: Vec::new(),
            detail: Some(message.to_owned()),
        });
    }
    let named = message.split_once("constraint failed: ").map(|(_, n)| n);
    let (constraint, columns) = match (kind, named) {
        (ViolationKind::Check, Some(name)) => (Some(name.to_owned()), Vec::new()),
        (_, Some(list)) => (
            None,
            list.split(", ")
                .filter_map(|item| item.split_once('.'))
                .map(|(table, column)| (table.to_owned(), column.to_owned()))
                .collect(),
        ),
        (_, None) => (None, Vec::new()),
    };
    Some(Violation {
        kind,
        constraint,
        columns,
        detail: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_names_columns_and_check_constraints() {
        let unique = sqlite_violation(
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE,
            "UNIQUE constraint failed: line_items.invoice_id, line_items.product_id",
        )
        .expect("a violation");
        assert_eq!(unique.kind, ViolationKind::Unique);
        assert_eq!(
            unique.columns,
            [
                ("line_items".into(), "invoice_id".into()),
                ("line_items".into(), "product_id".into())
            ]
        );
        let check = sqlite_violation(
            rusqlite::ffi::SQLITE_CONSTRAINT_CHECK,
            "CHECK constraint failed: invoices_status_check",
        )
        .expect("a violation");
        assert_eq!(check.constraint.as_deref(), Some("invoices_status_check"));
        assert!(sqlite_violation(rusqlite::ffi::SQLITE_IOERR, "disk I/O error").is_none());
    }
}

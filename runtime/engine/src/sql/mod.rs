//! The SQL builder: one neutral [`Operation`] becomes one parameterised statement whose result is
//! the response JSON, built by the database (`json_build_object`/`json_agg` on PostgreSQL,
//! `json_object`/`json_group_array` on SQLite). Relations are correlated sub-selects inside the
//! same statement, so the number of statements never grows with rows or nesting.
//!
//! Identifiers come only from the catalog (through the app model) and are always quoted, text
//! literals too ([`quote`]); every value is a bound parameter. The builder writes each statement
//! front to back ([`Text`]) and records its [`Plan`] beside it, from which [`combine`] renders
//! concurrent statements of one text as one.

mod combine;
mod filter;
mod json;
mod plan;
pub(crate) mod quote;
mod read;
#[cfg(test)]
pub(crate) mod testing;
mod text;
mod write;

use std::fmt;

pub use combine::combine;
pub use plan::{Combining, Plan};
pub(crate) use text::Text;

use self::plan::Shape;
use self::quote::ident;
use crate::db::{Dialect, Statement};
use crate::model::{AppModel, Field};
use crate::query::{Operation, Value};

/// Builds the statement for an operation.
pub fn build(model: &AppModel, dialect: Dialect, operation: &Operation) -> Statement {
    let mut builder = Builder::new(model, dialect);
    builder.operation(operation);
    builder.finish()
}

/// Builds the statement for an operation like [`build`], except that on PostgreSQL a single-row
/// read ([`Operation::One`]) also locks the row it answers until its transaction ends
/// (`SELECT ... FOR UPDATE`): a transaction that reads a row to decide whether to write it
/// (`If-Match`) then writes the very version it read, and a concurrent one doing the same waits
/// and then reads the version this one wrote. Other operations are built as [`build`] builds
/// them. SQLite has no row locks and needs none: its transactions hold the database's write lock
/// from their start (`BEGIN IMMEDIATE`).
pub fn build_locking(model: &AppModel, dialect: Dialect, operation: &Operation) -> Statement {
    let mut builder = Builder::new(model, dialect);
    builder.operation(operation);
    if dialect == Dialect::Postgres && matches!(operation, Operation::One { .. }) {
        builder.text.push_str(" FOR UPDATE");
    }
    builder.finish()
}

impl Text {
    /// A read of this text (hand-written, not built from an operation) binding `params`.
    pub(crate) fn into_read(self, params: Vec<Value>) -> Statement {
        let (sql, slots) = self.into_parts();
        Statement {
            sql: sql.into(),
            params,
            per_row: false,
            plan: Plan::new(Shape::Read, slots),
        }
    }
}

pub(crate) struct Builder<'m> {
    model: &'m AppModel,
    dialect: Dialect,
    text: Text,
    params: Vec<Value>,
    aliases: usize,
    /// The statement answers one JSON text per row (SQLite `RETURNING`), not one aggregate.
    per_row: bool,
    /// What the statement does; the writes set it.
    shape: Shape,
}

/// A table alias in a statement.
#[derive(Clone, Copy)]
enum Alias<'t> {
    /// `t1`, `t2`, ...: a table or sub-select of a read.
    Table(usize),
    /// `w`: the rows a PostgreSQL write returns.
    Written,
    /// The written table by its own name, where a bare column could be ambiguous (inside a
    /// sub-select of a write's condition, an upsert's conflict condition).
    Named(&'t str),
    /// None: columns unqualified.
    Bare,
}

impl fmt::Display for Alias<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Table(n) => write!(f, "t{n}"),
            Self::Written => f.write_str("w"),
            Self::Named(table) => write!(f, "{}", ident(table)),
            Self::Bare => Ok(()),
        }
    }
}

/// A column, qualified by its table alias unless that is [`Alias::Bare`].
#[derive(Clone, Copy)]
struct Column<'a>(Alias<'a>, &'a str);

impl fmt::Display for Column<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !matches!(self.0, Alias::Bare) {
            write!(f, "{}.", self.0)?;
        }
        write!(f, "{}", ident(self.1))
    }
}

impl<'m> Builder<'m> {
    fn new(model: &'m AppModel, dialect: Dialect) -> Self {
        Builder {
            model,
            dialect,
            text: Text::new(dialect),
            params: Vec::new(),
            aliases: 0,
            per_row: false,
            shape: Shape::Read,
        }
    }

    /// Writes the statement of an operation.
    fn operation(&mut self, operation: &Operation) {
        let model = self.model;
        match operation {
            Operation::List {
                select,
                count,
                parent,
            } => self.list(select, *count, parent.as_ref()),
            Operation::One { select } => self.one(select),
            Operation::Count { entity, filter } => {
                self.text.push_str("SELECT CAST(");
                self.count_expr(&model.entities[*entity], filter);
                self.text.push_str(" AS TEXT)");
            }
            Operation::Insert {
                entity,
                rows,
                returning,
            } => self.insert(*entity, rows, returning),
            Operation::Upsert {
                entity,
                key_field,
                values,
                filter,
                returning,
            } => self.upsert(*entity, *key_field, values, filter, returning),
            Operation::Update {
                entity,
                filter,
                values,
                returning,
            } => self.update(*entity, filter, values, returning),
            Operation::Delete {
                entity,
                filter,
                returning,
            } => self.delete(*entity, filter, returning),
        }
    }

    /// The statement written.
    fn finish(self) -> Statement {
        let (sql, slots) = self.text.into_parts();
        Statement {
            sql: sql.into(),
            params: self.params,
            per_row: self.per_row,
            plan: Plan::new(self.shape, slots),
        }
    }

    fn next_alias(&mut self) -> Alias<'static> {
        self.aliases += 1;
        Alias::Table(self.aliases)
    }

    /// Binds a value and writes its placeholder; on PostgreSQL, text-carried values get a cast
    /// to the column's type so comparisons and assignments type-check.
    fn bind(&mut self, value: Value, field: Option<&Field>) {
        match self.dialect {
            Dialect::Sqlite => {
                let normalizer = field.and_then(|f| sqlite_normalizer(f, &value));
                self.params.push(value);
                match normalizer {
                    Some(function) => {
                        self.text.push_str(function);
                        self.text.push_str("(");
                        self.text.param(self.params.len());
                        self.text.push_str(")");
                    }
                    None => self.text.param(self.params.len()),
                }
            }
            Dialect::Postgres => {
                let cast = field.and_then(|f| pg_cast(f, &value));
                self.params.push(value);
                self.text.param(self.params.len());
                if let Some(cast) = cast {
                    self.text.push_str("::");
                    self.text.push_str(cast);
                }
            }
        }
    }
}

/// SQLite keeps date-times as text; values pass through its date functions so they are stored
/// and compared in one form (UTC `YYYY-MM-DD HH:MM:SS`, like `CURRENT_TIMESTAMP`).
fn sqlite_normalizer(field: &Field, value: &Value) -> Option<&'static str> {
    use crate::catalog::ColumnKind as K;
    if !matches!(value, Value::Text(_)) {
        return None;
    }
    match field.kind {
        K::Timestamp | K::TimestampTz => Some("datetime"),
        K::Date => Some("date"),
        K::Time => Some("time"),
        _ => None,
    }
}

/// The cast PostgreSQL needs for a parameter carried as text (or JSON) into a typed column.
fn pg_cast<'f>(field: &'f Field, value: &Value) -> Option<&'f str> {
    use crate::catalog::ColumnKind as K;
    if !matches!(value, Value::Text(_) | Value::Json(_) | Value::Null) {
        return None;
    }
    match field.kind {
        K::Timestamp => Some("timestamp"),
        K::TimestampTz => Some("timestamptz"),
        K::Date => Some("date"),
        K::Uuid => Some("uuid"),
        K::Numeric => Some("numeric"),
        K::Time | K::Json | K::Other => Some(&field.sql_type),
        K::SmallInt | K::Integer | K::BigInt | K::Float | K::Boolean
            if matches!(value, Value::Null) =>
        {
            Some(&field.sql_type)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{build, build_locking, testing};
    use crate::catalog::{ColumnKind, Generated};
    use crate::db::Dialect;
    use crate::query::{Filter, Operation, Select, Value};

    #[test]
    fn a_locking_row_read_locks_its_row_on_postgres_only() {
        let columns = [
            ("id", "integer", ColumnKind::Integer, Generated::Identity),
            ("name", "text", ColumnKind::Text, Generated::No),
        ];
        let select = Select {
            filter: Filter::eq(0, Value::Int(1)),
            ..Select::all_fields(0, 2)
        };
        let one = Operation::One { select };
        let postgres = testing::model(Dialect::Postgres, "t", &columns);
        let locking = build_locking(&postgres, Dialect::Postgres, &one);
        let plain = build(&postgres, Dialect::Postgres, &one);
        assert_eq!(&*locking.sql, format!("{} FOR UPDATE", plain.sql));
        assert_eq!(locking.params, plain.params);
        let sqlite = testing::model(Dialect::Sqlite, "t", &columns);
        let locking = build_locking(&sqlite, Dialect::Sqlite, &one);
        assert_eq!(locking.sql, build(&sqlite, Dialect::Sqlite, &one).sql);
    }
}

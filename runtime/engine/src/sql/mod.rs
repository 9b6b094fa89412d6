//! The SQL builder: one neutral [`Operation`] becomes one parameterised statement whose result is
//! the response JSON, built by the database (`json_build_object`/`json_agg` on PostgreSQL,
//! `json_object`/`json_group_array` on SQLite). Relations are correlated sub-selects inside the
//! same statement, so the number of statements never grows with rows or nesting.
//!
//! Identifiers come only from the catalog (through the app model) and are always quoted; every
//! value is a bound parameter.

mod filter;
mod json;
mod write;

use std::fmt::Write as _;

use crate::db::{Dialect, Sharing, Statement};
use crate::model::{AppModel, Entity, Field};
use crate::query::{Operation, ParentGuard, Select, Value};

/// Builds the statement for an operation.
pub fn build(model: &AppModel, dialect: Dialect, operation: &Operation) -> Statement {
    let mut builder = Builder {
        model,
        dialect,
        sql: String::with_capacity(256),
        params: Vec::new(),
        aliases: 0,
        per_row: false,
        sharing: Sharing::Alone,
    };
    match operation {
        Operation::List {
            select,
            count,
            parent,
        } => builder.list(select, *count, parent.as_ref()),
        Operation::One { select } => builder.one(select),
        Operation::Count { entity, filter } => {
            let entity = &model.entities[*entity];
            let count = builder.count_expr(entity, filter);
            builder.sql.push_str("SELECT CAST(");
            builder.sql.push_str(&count);
            builder.sql.push_str(" AS TEXT)");
        }
        Operation::Insert {
            entity,
            rows,
            returning,
        } => builder.insert(*entity, rows, returning),
        Operation::Upsert {
            entity,
            key_field,
            values,
            returning,
        } => builder.upsert(*entity, *key_field, values, returning),
        Operation::Update {
            entity,
            filter,
            values,
            returning,
        } => builder.update(*entity, filter, values, returning),
        Operation::Delete {
            entity,
            filter,
            returning,
        } => builder.delete(*entity, filter, returning),
    }
    let reads = matches!(
        operation,
        Operation::List { .. } | Operation::One { .. } | Operation::Count { .. }
    );
    Statement {
        sql: builder.sql.into(),
        params: builder.params,
        per_row: builder.per_row,
        sharing: if reads {
            Sharing::Read
        } else {
            builder.sharing
        },
    }
}

pub(crate) struct Builder<'m> {
    model: &'m AppModel,
    dialect: Dialect,
    sql: String,
    params: Vec<Value>,
    aliases: usize,
    /// The statement answers one JSON text per row (SQLite `RETURNING`), not one aggregate.
    per_row: bool,
    /// Set by the writes that may share a statement with others.
    sharing: Sharing,
}

/// An identifier, quoted when written (without an allocation of its own: statements are built
/// per request, and their identifiers are most of their text).
pub(crate) fn ident(name: &str) -> Ident<'_> {
    Ident(name)
}

#[derive(Clone, Copy)]
pub(crate) struct Ident<'a>(&'a str);

impl std::fmt::Display for Ident<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_char('"')?;
        for (i, part) in self.0.split('"').enumerate() {
            if i > 0 {
                f.write_str("\"\"")?;
            }
            f.write_str(part)?;
        }
        f.write_char('"')
    }
}

/// A column, qualified by its table alias unless that is empty.
#[derive(Clone, Copy)]
struct Column<'a>(&'a str, &'a str);

impl std::fmt::Display for Column<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.0.is_empty() {
            write!(f, "{}.", self.0)?;
        }
        write!(f, "{}", ident(self.1))
    }
}

impl<'m> Builder<'m> {
    fn next_alias(&mut self) -> String {
        self.aliases += 1;
        format!("t{}", self.aliases)
    }

    /// Binds a value and answers its placeholder; on PostgreSQL, text-carried values get a cast
    /// to the column's type so comparisons and assignments type-check.
    fn bind(&mut self, value: Value, field: Option<&Field>) -> String {
        self.params.push(value);
        let n = self.params.len();
        match self.dialect {
            Dialect::Sqlite => {
                match field.and_then(|f| sqlite_normalizer(f, &self.params[n - 1])) {
                    Some(function) => format!("{function}(?{n})"),
                    None => format!("?{n}"),
                }
            }
            Dialect::Postgres => match field.and_then(|f| pg_cast(f, &self.params[n - 1])) {
                Some(cast) => format!("${n}::{cast}"),
                None => format!("${n}"),
            },
        }
    }

    /// `SELECT <list JSON>[, <count>]` for a list, optionally guarded by its parent's existence.
    fn list(&mut self, select: &Select, count: bool, parent: Option<&ParentGuard>) {
        let entity = &self.model.entities[select.entity];
        let rows = self.rows_subquery(select, None);
        let array = self.aggregate(&rows, true);
        let mut out = String::from("SELECT ");
        match parent {
            Some(guard) => {
                let parent_entity = &self.model.entities[guard.entity];
                let key = &parent_entity.fields[guard.key_field];
                let placeholder = self.bind(guard.key.clone(), Some(key));
                let _ = write!(
                    out,
                    "CASE WHEN EXISTS (SELECT 1 FROM {} WHERE {} = {placeholder}) THEN ({array}) END",
                    ident(&parent_entity.table),
                    ident(&key.column)
                );
            }
            None => {
                let _ = write!(out, "({array})");
            }
        }
        if count {
            let count = self.count_expr(entity, &select.filter);
            let _ = write!(out, ", {count}");
        }
        self.sql = out;
    }

    /// `SELECT <object> FROM ... WHERE ... LIMIT 1`.
    fn one(&mut self, select: &Select) {
        let alias = self.next_alias();
        let entity = &self.model.entities[select.entity];
        let object = self.object(entity, &alias, &select.fields, &select.relations);
        let mut sql = format!("SELECT {object}");
        if self.dialect == Dialect::Postgres {
            sql.push_str("::text");
        }
        let _ = write!(sql, " FROM {} {alias}", ident(&entity.table));
        if let Some(condition) = self.filter(entity, &alias, &select.filter) {
            let _ = write!(sql, " WHERE {condition}");
        }
        sql.push_str(" LIMIT 1");
        self.sql = sql;
    }

    /// `(SELECT count(*) FROM t WHERE ...)`.
    fn count_expr(&mut self, entity: &Entity, filter: &crate::query::Filter) -> String {
        let alias = self.next_alias();
        let mut sql = format!("(SELECT count(*) FROM {} {alias}", ident(&entity.table));
        if let Some(condition) = self.filter(entity, &alias, filter) {
            let _ = write!(sql, " WHERE {condition}");
        }
        sql.push(')');
        sql
    }

    /// `SELECT <object> AS j FROM t WHERE ... ORDER BY ... LIMIT ... OFFSET ...`, with an extra
    /// join condition for nested relations; with an order, the page is picked in a sub-select.
    fn rows_subquery(&mut self, select: &Select, join: Option<(String, &Field)>) -> String {
        let alias = self.next_alias();
        let entity = &self.model.entities[select.entity];
        let object = self.object(entity, &alias, &select.fields, &select.relations);
        let mut sql = format!("FROM {} {alias}", ident(&entity.table));
        let mut conditions = Vec::new();
        if let Some((outer, field)) = join {
            conditions.push(format!("{alias}.{} = {outer}", ident(&field.column)));
        }
        conditions.extend(self.filter(entity, &alias, &select.filter));
        if let Some(keyset) = &select.keyset {
            conditions.push(self.keyset(entity, &alias, &select.order, keyset));
        }
        if !conditions.is_empty() {
            let _ = write!(sql, " WHERE {}", conditions.join(" AND "));
        }
        if !select.order.is_empty() {
            let reverse = select.keyset.as_ref().is_some_and(|k| k.before);
            let order: Vec<String> = select
                .order
                .iter()
                .map(|o| {
                    let descending = o.descending != reverse;
                    format!(
                        "{alias}.{}{}",
                        ident(&entity.fields[o.field].column),
                        if descending { " DESC" } else { " ASC" }
                    )
                })
                .collect();
            let _ = write!(sql, " ORDER BY {}", order.join(", "));
        }
        // Limit and offset are validated integers, written as literals: SQLite re-prepares a
        // statement whenever a bound LIMIT changes (see bench/NOTES.md).
        if let Some(limit) = select.limit {
            let _ = write!(sql, " LIMIT {limit}");
        }
        if select.offset > 0 {
            if select.limit.is_none() {
                sql.push_str(" LIMIT -1");
            }
            let _ = write!(sql, " OFFSET {}", select.offset);
        }
        if select.order.is_empty() {
            format!("SELECT {object} AS j {sql}")
        } else {
            // Sorted rows are picked first and rendered after: rendered before the sort, every
            // matching row would be turned into JSON, not only the page's.
            format!("SELECT {object} AS j FROM (SELECT * {sql}) {alias}")
        }
    }

    /// The JSON array of a rows subquery, `[]` when it has no rows; as text at the top level,
    /// as JSON when nested in another object.
    fn aggregate(&self, rows: &str, top_level: bool) -> String {
        match self.dialect {
            Dialect::Postgres => {
                let cast = if top_level { "::text" } else { "" };
                format!("SELECT coalesce(json_agg(s.j), '[]'){cast} FROM ({rows}) s")
            }
            // The row objects are joined as text: `json_group_array` would parse each again.
            Dialect::Sqlite if top_level => {
                format!("SELECT '[' || coalesce(group_concat(s.j, ','), '') || ']' FROM ({rows}) s")
            }
            Dialect::Sqlite => {
                format!(
                    "SELECT json('[' || coalesce(group_concat(s.j, ','), '') || ']') FROM ({rows}) s"
                )
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
fn pg_cast(field: &Field, value: &Value) -> Option<String> {
    use crate::catalog::ColumnKind as K;
    if !matches!(value, Value::Text(_) | Value::Json(_) | Value::Null) {
        return None;
    }
    match field.kind {
        K::Timestamp => Some("timestamp".into()),
        K::TimestampTz => Some("timestamptz".into()),
        K::Date => Some("date".into()),
        K::Uuid => Some("uuid".into()),
        K::Numeric => Some("numeric".into()),
        K::Time | K::Json | K::Other => Some(field.sql_type.clone()),
        K::SmallInt | K::Integer | K::BigInt | K::Float | K::Boolean
            if matches!(value, Value::Null) =>
        {
            Some(field.sql_type.clone())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::ident;

    #[test]
    fn identifiers_are_quoted_with_inner_quotes_doubled() {
        assert_eq!(ident("line_items").to_string(), r#""line_items""#);
        assert_eq!(ident(r#"odd"name""#).to_string(), r#""odd""name""""#);
    }
}

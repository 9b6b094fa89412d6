//! Writes: insert (one or many rows), upsert, update and delete, each answering the written rows.
//!
//! PostgreSQL wraps the write in a CTE and aggregates `RETURNING *` into one JSON array; SQLite
//! cannot use a write inside a CTE, so it answers one JSON object per row from `RETURNING`.

use std::fmt::Write as _;

use super::filter::writes_nothing;
use super::plan::{Insert, RowInsert, Shape};
use super::text::Span;
use super::{Alias, Builder, ident};
use crate::catalog::Generated;
use crate::db::Dialect;
use crate::model::{Entity, Field};
use crate::query::{Filter, Value};

/// Where the parts of a one-row insert sit, while it is written.
struct RowParts {
    table: Span,
    columns: Span,
    values: Span,
    column_count: u32,
    key: Box<str>,
}

impl Builder<'_> {
    pub(super) fn insert(
        &mut self,
        entity: usize,
        rows: &[Vec<(usize, Value)>],
        returning: &[usize],
    ) {
        let model = self.model;
        let entity = &model.entities[entity];
        let mut columns: Vec<usize> = Vec::new();
        for row in rows {
            for (field, _) in row {
                if !columns.contains(field) {
                    columns.push(*field);
                }
            }
        }
        let write = self.start_write();
        self.text.push_str("INSERT INTO ");
        let table_at = self.text.position();
        let _ = write!(self.text, "{}", ident(&entity.table));
        let table = self.text.span_from(table_at);
        let mut one_row = None;
        if columns.is_empty() {
            self.text.push_str(" DEFAULT VALUES");
        } else {
            self.text.push_str(" (");
            let columns_at = self.text.position();
            for (n, &i) in columns.iter().enumerate() {
                let separator = if n > 0 { ", " } else { "" };
                let _ = write!(self.text, "{separator}{}", ident(&entity.fields[i].column));
            }
            let column_span = self.text.span_from(columns_at);
            self.text.push_str(") VALUES ");
            let mut values = None;
            for (r, row) in rows.iter().enumerate() {
                self.text.push_str(if r > 0 { ", (" } else { "(" });
                let values_at = self.text.position();
                for (n, &column) in columns.iter().enumerate() {
                    if n > 0 {
                        self.text.push_str(", ");
                    }
                    match row.iter().find(|(f, _)| *f == column) {
                        Some((_, value)) => self.bind(value.clone(), Some(&entity.fields[column])),
                        None => self.omitted(&entity.fields[column]),
                    }
                }
                values = Some(self.text.span_from(values_at));
                self.text.push_str(")");
            }
            let generated_key = entity.primary_key.filter(|key| {
                entity.fields[*key].generated == Generated::Identity && !columns.contains(key)
            });
            if let (Some(key), [_], Some(values)) = (generated_key, rows, values) {
                one_row = Some(RowParts {
                    table,
                    columns: column_span,
                    values,
                    column_count: u32::try_from(columns.len()).unwrap_or(u32::MAX),
                    key: ident(&entity.fields[key].column).to_string().into(),
                });
            }
        }
        if let Some((write, answer, object)) = self.finish_write(write, entity, returning) {
            self.shape = Shape::Insert(Insert {
                write,
                answer,
                row: one_row.map(|row| RowInsert {
                    table: row.table,
                    columns: row.columns,
                    values: row.values,
                    column_count: row.column_count,
                    object,
                    key: row.key,
                }),
            });
        }
    }

    pub(super) fn upsert(
        &mut self,
        entity: usize,
        key: usize,
        values: &[(usize, Value)],
        filter: &Filter,
        returning: &[usize],
    ) {
        let model = self.model;
        let entity = &model.entities[entity];
        let write = self.start_write();
        let _ = write!(self.text, "INSERT INTO {} (", ident(&entity.table));
        for (n, (i, _)) in values.iter().enumerate() {
            let separator = if n > 0 { ", " } else { "" };
            let _ = write!(self.text, "{separator}{}", ident(&entity.fields[*i].column));
        }
        self.text.push_str(") VALUES (");
        for (n, (i, value)) in values.iter().enumerate() {
            if n > 0 {
                self.text.push_str(", ");
            }
            self.bind(value.clone(), Some(&entity.fields[*i]));
        }
        let key_column = ident(&entity.fields[key].column);
        let _ = write!(self.text, ") ON CONFLICT ({key_column}) DO UPDATE SET ");
        let mut updates = values.iter().filter(|(i, _)| *i != key).peekable();
        if updates.peek().is_none() {
            let _ = write!(self.text, "{key_column} = excluded.{key_column}");
        }
        for (n, (i, _)) in updates.enumerate() {
            let separator = if n > 0 { ", " } else { "" };
            let column = ident(&entity.fields[*i].column);
            let _ = write!(self.text, "{separator}{column} = excluded.{column}");
        }
        // Only an existing row the filter admits is updated; otherwise nothing is written.
        if !writes_nothing(filter) {
            self.text.push_str(" WHERE ");
            self.filter(entity, Alias::Named(&entity.table), filter);
        }
        self.finish_write(write, entity, returning);
    }

    pub(super) fn update(
        &mut self,
        entity: usize,
        filter: &Filter,
        values: &[(usize, Value)],
        returning: &[usize],
    ) {
        let model = self.model;
        let entity = &model.entities[entity];
        let write = self.start_write();
        let _ = write!(self.text, "UPDATE {} SET ", ident(&entity.table));
        for (n, (i, value)) in values.iter().enumerate() {
            let field = &entity.fields[*i];
            let separator = if n > 0 { ", " } else { "" };
            let _ = write!(self.text, "{separator}{} = ", ident(&field.column));
            self.bind(value.clone(), Some(field));
        }
        self.where_clause(entity, filter);
        self.finish_write(write, entity, returning);
    }

    pub(super) fn delete(&mut self, entity: usize, filter: &Filter, returning: &[usize]) {
        let model = self.model;
        let entity = &model.entities[entity];
        let write = self.start_write();
        let _ = write!(self.text, "DELETE FROM {}", ident(&entity.table));
        self.where_clause(entity, filter);
        self.finish_write(write, entity, returning);
    }

    /// ` WHERE <condition>` over unqualified columns, unless the filter filters nothing.
    fn where_clause(&mut self, entity: &Entity, filter: &Filter) {
        if !writes_nothing(filter) {
            self.text.push_str(" WHERE ");
            self.filter(entity, Alias::Bare, filter);
        }
    }

    /// What an insert writes for a column a row leaves out: PostgreSQL's `DEFAULT`; on SQLite,
    /// which has no `DEFAULT` in multi-row `VALUES`, the column's default expression or NULL.
    fn omitted(&mut self, field: &Field) {
        match (self.dialect, &field.default) {
            (Dialect::Postgres, _) => self.text.push_str("DEFAULT"),
            (Dialect::Sqlite, Some(default)) => {
                let _ = write!(self.text, "({default})");
            }
            (Dialect::Sqlite, None) => self.text.push_str("NULL"),
        }
    }

    /// Starts a write: on PostgreSQL, the CTE it goes in. Answers where the write begins.
    fn start_write(&mut self) -> u32 {
        self.shape = Shape::Write;
        if self.dialect == Dialect::Postgres {
            self.text.push_str("WITH w AS (");
        }
        self.text.position()
    }

    /// Completes the write begun at `write` with its answer. On PostgreSQL, answers where the
    /// write, the answer expression and each row's object sit in the statement text.
    fn finish_write(
        &mut self,
        write: u32,
        entity: &Entity,
        returning: &[usize],
    ) -> Option<(Span, Span, Span)> {
        match self.dialect {
            Dialect::Postgres => {
                let write = self.text.span_from(write);
                self.text.push_str(" RETURNING *) SELECT ");
                let answer_at = self.text.position();
                self.text.push_str("coalesce(json_agg(");
                let object_at = self.text.position();
                self.object(entity, Alias::Written, returning, &[]);
                let object = self.text.span_from(object_at);
                self.text.push_str("), '[]')::text");
                let answer = self.text.span_from(answer_at);
                self.text.push_str(" FROM w");
                Some((write, answer, object))
            }
            Dialect::Sqlite => {
                self.text.push_str(" RETURNING ");
                self.object(entity, Alias::Bare, returning, &[]);
                self.per_row = true;
                None
            }
        }
    }
}

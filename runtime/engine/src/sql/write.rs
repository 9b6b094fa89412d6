//! Writes: insert (one or many rows), upsert, update and delete, each answering the written rows.
//!
//! PostgreSQL wraps the write in a CTE and aggregates `RETURNING *` into one JSON array; SQLite
//! cannot use a write inside a CTE, so it answers one JSON object per row from `RETURNING`.

use std::fmt::Write as _;
use std::ops::Range;

use super::{Builder, ident};
use crate::catalog::Generated;
use crate::db::{Dialect, OneRow, Sharing};
use crate::model::Field;
use crate::query::{Filter, Value};

/// Where a PostgreSQL write's parts sit in its statement text.
struct Answered {
    write: Range<usize>,
    answer: Range<usize>,
    /// The JSON object of one written row, inside `answer`.
    object: Range<usize>,
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
        let mut sql = format!("INSERT INTO {}", ident(&entity.table));
        let table = sql.len();
        let mut one_row = None;
        if columns.is_empty() {
            sql.push_str(" DEFAULT VALUES");
        } else {
            let names: Vec<String> = columns
                .iter()
                .map(|&i| ident(&entity.fields[i].column).to_string())
                .collect();
            let _ = write!(sql, " ({})", names.join(", "));
            let head = 0..sql.len();
            sql.push_str(" VALUES ");
            let values_at = sql.len();
            let mut tuples = Vec::with_capacity(rows.len());
            for row in rows {
                let values: Vec<String> = columns
                    .iter()
                    .map(|&column| match row.iter().find(|(f, _)| *f == column) {
                        Some((_, value)) => self.bind(value.clone(), Some(&entity.fields[column])),
                        None => self.omitted(&entity.fields[column]),
                    })
                    .collect();
                tuples.push(format!("({})", values.join(", ")));
            }
            sql.push_str(&tuples.join(", "));
            let generated_key = entity.primary_key.filter(|key| {
                entity.fields[*key].generated == Generated::Identity && !columns.contains(key)
            });
            if let (Some(key), [_]) = (generated_key, rows) {
                one_row = Some(OneRow {
                    table,
                    head,
                    values: values_at + 1..sql.len() - 1,
                    columns: columns.len(),
                    key: ident(&entity.fields[key].column).to_string(),
                });
            }
        }
        if let Some(Answered {
            write,
            answer,
            object,
        }) = self.finish_write(sql, entity, returning)
        {
            self.sharing = Sharing::Insert {
                write,
                answer,
                object,
                one_row,
            };
        }
    }

    pub(super) fn upsert(
        &mut self,
        entity: usize,
        key: usize,
        values: &[(usize, Value)],
        returning: &[usize],
    ) {
        let model = self.model;
        let entity = &model.entities[entity];
        let names: Vec<String> = values
            .iter()
            .map(|(i, _)| ident(&entity.fields[*i].column).to_string())
            .collect();
        let placeholders: Vec<String> = values
            .iter()
            .map(|(i, v)| self.bind(v.clone(), Some(&entity.fields[*i])))
            .collect();
        let key_column = ident(&entity.fields[key].column);
        let mut updates: Vec<String> = values
            .iter()
            .filter(|(i, _)| *i != key)
            .map(|(i, _)| {
                let column = ident(&entity.fields[*i].column);
                format!("{column} = excluded.{column}")
            })
            .collect();
        if updates.is_empty() {
            updates.push(format!("{key_column} = excluded.{key_column}"));
        }
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({key_column}) DO UPDATE SET {}",
            ident(&entity.table),
            names.join(", "),
            placeholders.join(", "),
            updates.join(", ")
        );
        let _ = self.finish_write(sql, entity, returning);
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
        let sets: Vec<String> = values
            .iter()
            .map(|(i, v)| {
                let field = &entity.fields[*i];
                format!(
                    "{} = {}",
                    ident(&field.column),
                    self.bind(v.clone(), Some(field))
                )
            })
            .collect();
        let mut sql = format!("UPDATE {} SET {}", ident(&entity.table), sets.join(", "));
        if let Some(condition) = self.filter(entity, "", filter) {
            let _ = write!(sql, " WHERE {condition}");
        }
        let _ = self.finish_write(sql, entity, returning);
    }

    pub(super) fn delete(&mut self, entity: usize, filter: &Filter, returning: &[usize]) {
        let model = self.model;
        let entity = &model.entities[entity];
        let mut sql = format!("DELETE FROM {}", ident(&entity.table));
        if let Some(condition) = self.filter(entity, "", filter) {
            let _ = write!(sql, " WHERE {condition}");
        }
        let _ = self.finish_write(sql, entity, returning);
    }

    /// What an insert writes for a column a row leaves out: PostgreSQL's `DEFAULT`; on SQLite,
    /// which has no `DEFAULT` in multi-row `VALUES`, the column's default expression or NULL.
    fn omitted(&self, field: &Field) -> String {
        match (self.dialect, &field.default) {
            (Dialect::Postgres, _) => "DEFAULT".into(),
            (Dialect::Sqlite, Some(default)) => format!("({default})"),
            (Dialect::Sqlite, None) => "NULL".into(),
        }
    }

    /// Completes a write with its answer. On PostgreSQL, answers where the write, the answer
    /// expression and each row's object sit in the statement text.
    fn finish_write(
        &mut self,
        write: String,
        entity: &crate::model::Entity,
        returning: &[usize],
    ) -> Option<Answered> {
        match self.dialect {
            Dialect::Postgres => {
                let object = self.object(entity, "w", returning, &[]);
                let mut sql = String::from("WITH w AS (");
                let write_at = sql.len()..sql.len() + write.len();
                sql.push_str(&write);
                sql.push_str(" RETURNING *) SELECT ");
                let answer_start = sql.len();
                sql.push_str("coalesce(json_agg(");
                let object_at = sql.len()..sql.len() + object.len();
                let _ = write!(sql, "{object}), '[]')::text");
                let answer_at = answer_start..sql.len();
                sql.push_str(" FROM w");
                self.sql = sql;
                Some(Answered {
                    write: write_at,
                    answer: answer_at,
                    object: object_at,
                })
            }
            Dialect::Sqlite => {
                let object = self.object(entity, "", returning, &[]);
                self.sql = format!("{write} RETURNING {object}");
                self.per_row = true;
                None
            }
        }
    }
}

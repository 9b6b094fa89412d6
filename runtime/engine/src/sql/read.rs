//! Reads: lists (optionally guarded by their parent's existence, optionally counted), single
//! rows and counts, each answering its JSON in one statement.

use std::fmt::Write as _;

use super::filter::writes_nothing;
use super::{Alias, Builder, Column, ident};
use crate::db::Dialect;
use crate::model::{Entity, Field};
use crate::query::{Filter, ParentGuard, Select};

impl Builder<'_> {
    /// `SELECT <list JSON>[, <count>]` for a list, optionally guarded by its parent's existence.
    pub(super) fn list(&mut self, select: &Select, count: bool, parent: Option<&ParentGuard>) {
        let model = self.model;
        self.text.push_str("SELECT ");
        let guard = match parent {
            Some(guard) => {
                let parent_entity = &model.entities[guard.entity];
                let key = &parent_entity.fields[guard.key_field];
                let _ = write!(
                    self.text,
                    "CASE WHEN EXISTS (SELECT 1 FROM {} WHERE {} = ",
                    ident(&parent_entity.table),
                    ident(&key.column)
                );
                let at = self.text.position();
                self.text.push_str(") THEN (");
                Some((guard, key, at))
            }
            None => {
                self.text.push_str("(");
                None
            }
        };
        self.aggregate(true, |builder| builder.rows_subquery(select, None));
        self.text.push_str(")");
        if let Some((guard, key, at)) = guard {
            self.text.push_str(" END");
            // The key is bound after the rows' parameters, though written before them.
            let tail = self.text.cut(at);
            self.bind(guard.key.clone(), Some(key));
            if !writes_nothing(&guard.filter) {
                let parent_entity = &model.entities[guard.entity];
                self.text.push_str(" AND ");
                self.filter(parent_entity, Alias::Bare, &guard.filter);
            }
            self.text.rejoin(tail);
        }
        if count {
            self.text.push_str(", ");
            self.count_expr(&model.entities[select.entity], &select.filter);
        }
    }

    /// `SELECT <object> FROM ... WHERE ... LIMIT 1`.
    pub(super) fn one(&mut self, select: &Select) {
        let model = self.model;
        let alias = self.next_alias();
        let entity = &model.entities[select.entity];
        self.text.push_str("SELECT ");
        self.object(entity, alias, &select.fields, &select.relations);
        if self.dialect == Dialect::Postgres {
            self.text.push_str("::text");
        }
        let _ = write!(self.text, " FROM {} {alias}", ident(&entity.table));
        if !writes_nothing(&select.filter) {
            self.text.push_str(" WHERE ");
            self.filter(entity, alias, &select.filter);
        }
        self.text.push_str(" LIMIT 1");
    }

    /// `(SELECT count(*) FROM t WHERE ...)`.
    pub(super) fn count_expr(&mut self, entity: &Entity, filter: &Filter) {
        let alias = self.next_alias();
        let _ = write!(
            self.text,
            "(SELECT count(*) FROM {} {alias}",
            ident(&entity.table)
        );
        if !writes_nothing(filter) {
            self.text.push_str(" WHERE ");
            self.filter(entity, alias, filter);
        }
        self.text.push_str(")");
    }

    /// `SELECT <object> AS j FROM t WHERE ... ORDER BY ... LIMIT ... OFFSET ...`, with an extra
    /// join condition for nested relations; with an order, the page is picked in a sub-select.
    pub(super) fn rows_subquery(&mut self, select: &Select, join: Option<(Column<'_>, &Field)>) {
        let model = self.model;
        let alias = self.next_alias();
        let entity = &model.entities[select.entity];
        self.text.push_str("SELECT ");
        self.object(entity, alias, &select.fields, &select.relations);
        self.text.push_str(" AS j ");
        // Sorted rows are picked first and rendered after: rendered before the sort, every
        // matching row would be turned into JSON, not only the page's.
        let sorted = !select.order.is_empty();
        if sorted {
            self.text.push_str("FROM (SELECT * ");
        }
        let _ = write!(self.text, "FROM {} {alias}", ident(&entity.table));
        let mut conditions = 0;
        if let Some((outer, field)) = join {
            self.condition_start(&mut conditions);
            let _ = write!(self.text, "{alias}.{} = {outer}", ident(&field.column));
        }
        if !writes_nothing(&select.filter) {
            self.condition_start(&mut conditions);
            self.filter(entity, alias, &select.filter);
        }
        if let Some(keyset) = &select.keyset {
            self.condition_start(&mut conditions);
            self.keyset(entity, alias, &select.order, keyset);
        }
        if sorted {
            let reverse = select.keyset.as_ref().is_some_and(|k| k.before);
            self.text.push_str(" ORDER BY ");
            for (n, order) in select.order.iter().enumerate() {
                let descending = order.descending != reverse;
                let _ = write!(
                    self.text,
                    "{}{alias}.{}{}",
                    if n > 0 { ", " } else { "" },
                    ident(&entity.fields[order.field].column),
                    if descending { " DESC" } else { " ASC" }
                );
            }
        }
        // Limit and offset are validated integers, written as literals: SQLite re-prepares a
        // statement whenever a bound LIMIT changes (see bench/NOTES.md).
        if let Some(limit) = select.limit {
            let _ = write!(self.text, " LIMIT {limit}");
        }
        if select.offset > 0 {
            if select.limit.is_none() {
                self.text.push_str(" LIMIT -1");
            }
            let _ = write!(self.text, " OFFSET {}", select.offset);
        }
        if sorted {
            let _ = write!(self.text, ") {alias}");
        }
    }

    /// Starts the next condition of a `WHERE` clause.
    fn condition_start(&mut self, written: &mut usize) {
        self.text
            .push_str(if *written == 0 { " WHERE " } else { " AND " });
        *written += 1;
    }

    /// The JSON array of the rows `rows` writes, `[]` when it has no rows; as text at the top
    /// level, as JSON when nested in another object.
    pub(super) fn aggregate(&mut self, top_level: bool, rows: impl FnOnce(&mut Self)) {
        self.text.push_str(match (self.dialect, top_level) {
            (Dialect::Postgres, true) => "SELECT coalesce(json_agg(s.j), '[]')::text FROM (",
            (Dialect::Postgres, false) => "SELECT coalesce(json_agg(s.j), '[]') FROM (",
            // The row objects are joined as text: `json_group_array` would parse each again.
            (Dialect::Sqlite, true) => {
                "SELECT '[' || coalesce(group_concat(s.j, ','), '') || ']' FROM ("
            }
            (Dialect::Sqlite, false) => {
                "SELECT json('[' || coalesce(group_concat(s.j, ','), '') || ']') FROM ("
            }
        });
        rows(self);
        self.text.push_str(") s");
    }
}

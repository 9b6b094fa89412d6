//! `WHERE` conditions: filter trees and keyset (cursor) bounds.

use std::fmt::Write as _;

use super::{Alias, Builder, Column, ident};
use crate::db::Dialect;
use crate::model::Entity;
use crate::query::{Condition, Filter, Keyset, Op, Operand, Order, RelatedFilter, Value};

/// Whether a filter filters nothing and so writes no condition: an `and` of nothing (or of
/// such `and`s). An `or` always writes one (`1 = 0` when empty).
pub(super) fn writes_nothing(filter: &Filter) -> bool {
    match filter {
        Filter::And(parts) => parts.iter().all(writes_nothing),
        Filter::Or(_) | Filter::Condition(_) | Filter::Related(_) => false,
    }
}

impl Builder<'_> {
    /// Writes the SQL condition of a filter over `alias`; only for a filter that
    /// [`writes_nothing`] denies.
    pub(super) fn filter(&mut self, entity: &Entity, alias: Alias, filter: &Filter) {
        match filter {
            Filter::Condition(condition) => self.condition(entity, alias, condition),
            Filter::Related(related) => self.related(entity, alias, related),
            Filter::And(parts) => {
                let written = || parts.iter().filter(|p| !writes_nothing(p));
                // One condition stands alone; more are parenthesised.
                let alone = written().count() == 1;
                if !alone {
                    self.text.push_str("(");
                }
                for (n, part) in written().enumerate() {
                    if n > 0 {
                        self.text.push_str(" AND ");
                    }
                    self.filter(entity, alias, part);
                }
                if !alone {
                    self.text.push_str(")");
                }
            }
            Filter::Or(parts) if parts.is_empty() => self.text.push_str("1 = 0"),
            Filter::Or(parts) => {
                self.text.push_str("(");
                for (n, part) in parts.iter().enumerate() {
                    if n > 0 {
                        self.text.push_str(" OR ");
                    }
                    if writes_nothing(part) {
                        self.text.push_str("1 = 1");
                    } else {
                        self.filter(entity, alias, part);
                    }
                }
                self.text.push_str(")");
            }
        }
    }

    /// `EXISTS (SELECT 1 FROM <target> tN WHERE tN.<key> = <alias>.<fk> AND <filter>)`.
    fn related(&mut self, entity: &Entity, alias: Alias, related: &RelatedFilter) {
        let model = self.model;
        let relation = &entity.relations[related.relation];
        let target = &model.entities[relation.target];
        let inner = self.next_alias();
        // A bare column inside the sub-select would name the target's column of that name.
        let alias = match alias {
            Alias::Bare => Alias::Named(&entity.table),
            alias => alias,
        };
        let _ = write!(
            self.text,
            "EXISTS (SELECT 1 FROM {} {inner} WHERE {} = {}",
            ident(&target.table),
            Column(inner, &target.fields[relation.target_field].column),
            Column(alias, &entity.fields[relation.local_field].column),
        );
        if !writes_nothing(&related.filter) {
            self.text.push_str(" AND ");
            self.filter(target, inner, &related.filter);
        }
        self.text.push_str(")");
    }

    fn condition(&mut self, entity: &Entity, alias: Alias, condition: &Condition) {
        let field = &entity.fields[condition.field];
        let column = Column(alias, &field.column);
        match (&condition.operand, condition.op) {
            (Operand::Flag(is_null), _) => {
                let not = if *is_null { "" } else { "NOT " };
                let _ = write!(self.text, "{column} IS {not}NULL");
            }
            (Operand::One(Value::Null), Op::Eq) => {
                let _ = write!(self.text, "{column} IS NULL");
            }
            (Operand::One(Value::Null), Op::Neq) => {
                let _ = write!(self.text, "{column} IS NOT NULL");
            }
            (Operand::One(value), Op::Ilike) => match self.dialect {
                Dialect::Postgres => {
                    let _ = write!(self.text, "{column} ILIKE ");
                    self.bind(value.clone(), Some(field));
                }
                Dialect::Sqlite => {
                    let _ = write!(self.text, "lower({column}) LIKE lower(");
                    self.bind(value.clone(), Some(field));
                    self.text.push_str(")");
                }
            },
            (Operand::One(value), op) => {
                let sql_op = match op {
                    Op::Neq => "<>",
                    Op::Gt => ">",
                    Op::Gte => ">=",
                    Op::Lt => "<",
                    Op::Lte => "<=",
                    Op::Like => "LIKE",
                    _ => "=",
                };
                let _ = write!(self.text, "{column} {sql_op} ");
                self.bind(value.clone(), Some(field));
            }
            (Operand::Many(values), op) => {
                let negate = op == Op::Nin;
                if values.is_empty() {
                    self.text.push_str(if negate { "1 = 1" } else { "1 = 0" });
                    return;
                }
                let not = if negate { "NOT " } else { "" };
                let _ = write!(self.text, "{column} {not}IN (");
                for (n, value) in values.iter().enumerate() {
                    if n > 0 {
                        self.text.push_str(", ");
                    }
                    self.bind(value.clone(), Some(field));
                }
                self.text.push_str(")");
            }
        }
    }

    /// Rows strictly after (or before) the keyset position in the given order:
    /// `(a > x) OR (a = x AND b > y) ...`, each comparison following its column's direction.
    pub(super) fn keyset(
        &mut self,
        entity: &Entity,
        alias: Alias,
        order: &[Order],
        keyset: &Keyset,
    ) {
        self.text.push_str("(");
        for (depth, (order_i, value_i)) in order.iter().zip(&keyset.values).enumerate() {
            if depth > 0 {
                self.text.push_str(" OR ");
            }
            self.text.push_str("(");
            for (order_j, value_j) in order.iter().zip(&keyset.values).take(depth) {
                let field = &entity.fields[order_j.field];
                let _ = write!(self.text, "{alias}.{} = ", ident(&field.column));
                self.bind(value_j.clone(), Some(field));
                self.text.push_str(" AND ");
            }
            let field = &entity.fields[order_i.field];
            let greater = order_i.descending == keyset.before;
            let _ = write!(
                self.text,
                "{alias}.{} {} ",
                ident(&field.column),
                if greater { ">" } else { "<" }
            );
            self.bind(value_i.clone(), Some(field));
            self.text.push_str(")");
        }
        self.text.push_str(")");
    }
}

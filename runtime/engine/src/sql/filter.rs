//! `WHERE` conditions: filter trees and keyset (cursor) bounds.

use super::{Builder, Column, ident};
use crate::db::Dialect;
use crate::model::Entity;
use crate::query::{Condition, Filter, Keyset, Op, Operand, Order, Value};

impl Builder<'_> {
    /// The SQL condition of a filter over `alias`, or `None` when it filters nothing.
    pub(super) fn filter(
        &mut self,
        entity: &Entity,
        alias: &str,
        filter: &Filter,
    ) -> Option<String> {
        match filter {
            Filter::Condition(condition) => Some(self.condition(entity, alias, condition)),
            Filter::And(parts) => {
                let rendered: Vec<String> = parts
                    .iter()
                    .filter_map(|p| self.filter(entity, alias, p))
                    .collect();
                match rendered.len() {
                    0 => None,
                    1 => rendered.into_iter().next(),
                    _ => Some(format!("({})", rendered.join(" AND "))),
                }
            }
            Filter::Or(parts) => {
                let rendered: Vec<String> = parts
                    .iter()
                    .map(|p| {
                        self.filter(entity, alias, p)
                            .unwrap_or_else(|| "1 = 1".into())
                    })
                    .collect();
                if rendered.is_empty() {
                    Some("1 = 0".into())
                } else {
                    Some(format!("({})", rendered.join(" OR ")))
                }
            }
        }
    }

    fn condition(&mut self, entity: &Entity, alias: &str, condition: &Condition) -> String {
        let field = &entity.fields[condition.field];
        let column = Column(alias, &field.column);
        match (&condition.operand, condition.op) {
            (Operand::Flag(is_null), _) => {
                format!("{column} IS {}NULL", if *is_null { "" } else { "NOT " })
            }
            (Operand::One(Value::Null), Op::Eq) => format!("{column} IS NULL"),
            (Operand::One(Value::Null), Op::Neq) => format!("{column} IS NOT NULL"),
            (Operand::One(value), Op::Ilike) => {
                let placeholder = self.bind(value.clone(), Some(field));
                match self.dialect {
                    Dialect::Postgres => format!("{column} ILIKE {placeholder}"),
                    Dialect::Sqlite => format!("lower({column}) LIKE lower({placeholder})"),
                }
            }
            (Operand::One(value), op) => {
                let placeholder = self.bind(value.clone(), Some(field));
                let sql_op = match op {
                    Op::Neq => "<>",
                    Op::Gt => ">",
                    Op::Gte => ">=",
                    Op::Lt => "<",
                    Op::Lte => "<=",
                    Op::Like => "LIKE",
                    _ => "=",
                };
                format!("{column} {sql_op} {placeholder}")
            }
            (Operand::Many(values), op) => {
                let negate = op == Op::Nin;
                if values.is_empty() {
                    return if negate {
                        "1 = 1".into()
                    } else {
                        "1 = 0".into()
                    };
                }
                let placeholders: Vec<String> = values
                    .iter()
                    .map(|v| self.bind(v.clone(), Some(field)))
                    .collect();
                format!(
                    "{column} {}IN ({})",
                    if negate { "NOT " } else { "" },
                    placeholders.join(", ")
                )
            }
        }
    }

    /// Rows strictly after (or before) the keyset position in the given order:
    /// `(a > x) OR (a = x AND b > y) ...`, each comparison following its column's direction.
    pub(super) fn keyset(
        &mut self,
        entity: &Entity,
        alias: &str,
        order: &[Order],
        keyset: &Keyset,
    ) -> String {
        let mut alternatives = Vec::new();
        for (depth, (order_i, value_i)) in order.iter().zip(&keyset.values).enumerate() {
            let mut parts = Vec::new();
            for (order_j, value_j) in order.iter().zip(&keyset.values).take(depth) {
                let field = &entity.fields[order_j.field];
                let placeholder = self.bind(value_j.clone(), Some(field));
                parts.push(format!("{alias}.{} = {placeholder}", ident(&field.column)));
            }
            let field = &entity.fields[order_i.field];
            let greater = order_i.descending == keyset.before;
            let placeholder = self.bind(value_i.clone(), Some(field));
            parts.push(format!(
                "{alias}.{} {} {placeholder}",
                ident(&field.column),
                if greater { ">" } else { "<" }
            ));
            alternatives.push(format!("({})", parts.join(" AND ")));
        }
        format!("({})", alternatives.join(" OR "))
    }
}

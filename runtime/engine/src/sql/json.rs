//! Row objects: the JSON object a row renders to, with nested relations as sub-selects.

use super::{Builder, ident};
use crate::catalog::ColumnKind;
use crate::db::{DATETIME_FUNCTION, Dialect};
use crate::model::{Entity, RelationKind};
use crate::query::RelationSelect;

/// PostgreSQL functions take at most 100 arguments: 50 key/value pairs per call.
const PG_PAIRS_PER_CALL: usize = 50;

impl Builder<'_> {
    /// The JSON object of one row of `entity` under `alias` (unqualified columns when `alias`
    /// is empty), with the chosen fields and nested relations.
    pub(super) fn object(
        &mut self,
        entity: &Entity,
        alias: &str,
        fields: &[usize],
        relations: &[RelationSelect],
    ) -> String {
        let prefix = if alias.is_empty() {
            String::new()
        } else {
            format!("{alias}.")
        };
        let mut pairs: Vec<String> = fields
            .iter()
            .map(|&i| {
                let field = &entity.fields[i];
                let column = format!("{prefix}{}", ident(&field.column));
                format!("'{}', {}", field.name, self.scalar(field.kind, &column))
            })
            .collect();
        for nested in relations {
            let sub = self.relation(entity, &prefix, nested);
            pairs.push(format!("'{}', {sub}", nested.name));
        }
        match self.dialect {
            Dialect::Sqlite => format!("json_object({})", pairs.join(", ")),
            Dialect::Postgres if pairs.len() <= PG_PAIRS_PER_CALL => {
                format!("json_build_object({})", pairs.join(", "))
            }
            Dialect::Postgres => {
                let parts: Vec<String> = pairs
                    .chunks(PG_PAIRS_PER_CALL)
                    .map(|chunk| format!("jsonb_build_object({})", chunk.join(", ")))
                    .collect();
                format!("({})::json", parts.join(" || "))
            }
        }
    }

    /// How a column's value enters a JSON object. SQLite stores booleans as 0/1, JSON as text and
    /// date-times as UTC text `YYYY-MM-DD HH:MM:SS`, so those are converted (date-times to
    /// RFC 3339, `2024-01-31T12:00:00Z`, the `date-time` of the API documents: the canonical form
    /// by the runtime's own function, other forms by `strftime`; text that is no date-time passes
    /// unchanged); everything else is rendered natively.
    fn scalar(&self, kind: ColumnKind, column: &str) -> String {
        match (self.dialect, kind) {
            (Dialect::Sqlite, ColumnKind::Timestamp | ColumnKind::TimestampTz) => format!(
                "coalesce({DATETIME_FUNCTION}({column}), strftime('%Y-%m-%dT%H:%M:%SZ', {column}), {column})"
            ),
            (Dialect::Sqlite, ColumnKind::Boolean) => format!(
                "CASE WHEN {column} IS NULL THEN NULL WHEN {column} THEN json('true') ELSE json('false') END"
            ),
            (Dialect::Sqlite, ColumnKind::Json) => format!("json({column})"),
            _ => column.to_string(),
        }
    }

    /// A correlated sub-select for a relation: an object (many-to-one) or an array (one-to-many).
    fn relation(&mut self, entity: &Entity, prefix: &str, nested: &RelationSelect) -> String {
        let relation = &entity.relations[nested.relation];
        let model = self.model;
        let target = &model.entities[relation.target];
        let outer = format!(
            "{prefix}{}",
            ident(&entity.fields[relation.local_field].column)
        );
        let join_field = &target.fields[relation.target_field];
        let sub = match relation.kind {
            RelationKind::ManyToOne => {
                let alias = self.next_alias();
                let object = self.object(
                    target,
                    &alias,
                    &nested.select.fields,
                    &nested.select.relations,
                );
                format!(
                    "(SELECT {object} FROM {} {alias} WHERE {alias}.{} = {outer})",
                    ident(&target.table),
                    ident(&join_field.column)
                )
            }
            RelationKind::OneToMany => {
                let rows = self.rows_subquery(&nested.select, Some((outer, join_field)));
                format!("({})", self.aggregate(&rows, false))
            }
        };
        match self.dialect {
            Dialect::Sqlite => format!("json({sub})"),
            Dialect::Postgres => sub,
        }
    }
}

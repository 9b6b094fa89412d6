//! Row objects: the JSON object a row renders to, with nested relations as sub-selects.

use std::fmt::Write as _;

use super::filter::writes_nothing;
use super::quote::literal;
use super::{Alias, Builder, Column, ident};
use crate::catalog::ColumnKind;
use crate::db::{DATETIME_FUNCTION, Dialect};
use crate::model::{Entity, RelationKind};
use crate::query::RelationSelect;

/// PostgreSQL functions take at most 100 arguments: 50 key/value pairs per call.
const PG_PAIRS_PER_CALL: usize = 50;

impl Builder<'_> {
    /// Writes the JSON object of one row of `entity` under `alias`, with the chosen fields and
    /// nested relations.
    pub(super) fn object(
        &mut self,
        entity: &Entity,
        alias: Alias,
        fields: &[usize],
        relations: &[RelationSelect],
    ) {
        let pairs = fields.len() + relations.len();
        let chunked = self.dialect == Dialect::Postgres && pairs > PG_PAIRS_PER_CALL;
        let call = match self.dialect {
            Dialect::Sqlite => "json_object(",
            Dialect::Postgres if chunked => "jsonb_build_object(",
            Dialect::Postgres => "json_build_object(",
        };
        if chunked {
            self.text.push_str("(");
        }
        self.text.push_str(call);
        for (n, &i) in fields.iter().enumerate() {
            let field = &entity.fields[i];
            self.separate(n, chunked, call);
            let _ = write!(self.text, "{}, ", literal(&field.name));
            self.scalar(field.kind, Column(alias, &field.column));
        }
        for (n, nested) in relations.iter().enumerate() {
            self.separate(fields.len() + n, chunked, call);
            let _ = write!(self.text, "{}, ", literal(&nested.name));
            self.relation(entity, alias, nested);
        }
        self.text.push_str(")");
        if chunked {
            self.text.push_str(")::json");
        }
    }

    /// How a column's value enters a JSON object. SQLite stores booleans as 0/1, JSON as text and
    /// date-times as UTC text `YYYY-MM-DD HH:MM:SS`, so those are converted (date-times to
    /// RFC 3339, `2024-01-31T12:00:00Z`, the `date-time` of the API documents: the canonical form
    /// by the runtime's own function, other forms by `strftime`; text that is no date-time passes
    /// unchanged); everything else is rendered natively.
    fn scalar(&mut self, kind: ColumnKind, column: Column<'_>) {
        let _ = match (self.dialect, kind) {
            (Dialect::Sqlite, ColumnKind::Timestamp | ColumnKind::TimestampTz) => write!(
                self.text,
                "coalesce({DATETIME_FUNCTION}({column}), strftime('%Y-%m-%dT%H:%M:%SZ', {column}), {column})"
            ),
            (Dialect::Sqlite, ColumnKind::Boolean) => write!(
                self.text,
                "CASE WHEN {column} IS NULL THEN NULL WHEN {column} THEN json('true') ELSE json('false') END"
            ),
            (Dialect::Sqlite, ColumnKind::Json) => write!(self.text, "json({column})"),
            _ => write!(self.text, "{column}"),
        };
    }

    /// A correlated sub-select for a relation: an object (many-to-one) or an array (one-to-many).
    fn relation(&mut self, entity: &Entity, alias: Alias, nested: &RelationSelect) {
        let relation = &entity.relations[nested.relation];
        let model = self.model;
        let target = &model.entities[relation.target];
        let outer = Column(alias, &entity.fields[relation.local_field].column);
        let join_field = &target.fields[relation.target_field];
        if self.dialect == Dialect::Sqlite {
            self.text.push_str("json(");
        }
        match relation.kind {
            RelationKind::ManyToOne => {
                let alias = self.next_alias();
                self.text.push_str("(SELECT ");
                self.object(
                    target,
                    alias,
                    &nested.select.fields,
                    &nested.select.relations,
                );
                let _ = write!(
                    self.text,
                    " FROM {} {alias} WHERE {alias}.{} = {outer}",
                    ident(&target.table),
                    ident(&join_field.column)
                );
                // The caller's rule on the related table.
                if !writes_nothing(&nested.select.filter) {
                    self.text.push_str(" AND ");
                    self.filter(target, alias, &nested.select.filter);
                }
                self.text.push_str(")");
            }
            RelationKind::OneToMany => {
                self.text.push_str("(");
                self.aggregate(false, |builder| {
                    builder.rows_subquery(&nested.select, Some((outer, join_field)));
                });
                self.text.push_str(")");
            }
        }
        if self.dialect == Dialect::Sqlite {
            self.text.push_str(")");
        }
    }

    /// Starts the `index`th key/value pair of an object: after a comma, or, when the object is
    /// `chunked`, in a new call every [`PG_PAIRS_PER_CALL`] pairs.
    fn separate(&mut self, index: usize, chunked: bool, call: &str) {
        if index == 0 {
            return;
        }
        if chunked && index.is_multiple_of(PG_PAIRS_PER_CALL) {
            self.text.push_str(") || ");
            self.text.push_str(call);
        } else {
            self.text.push_str(", ");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::catalog::{ColumnKind, Generated};
    use crate::db::Dialect;
    use crate::model::{Relation, RelationKind};
    use crate::query::{Operation, RelationSelect, Select};
    use crate::sql::{build, testing};

    #[test]
    fn json_keys_are_quoted_literals() {
        let columns = [
            ("id", "integer", ColumnKind::Integer, Generated::Identity),
            ("o'clock", "text", ColumnKind::Text, Generated::No),
        ];
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let mut model = testing::model(dialect, "t", &columns);
            model.entities[0].fields[1].name = "o'clock".into();
            model.entities[0].relations.push(Relation {
                name: "parent".into(),
                kind: RelationKind::ManyToOne,
                local_field: 0,
                target: 0,
                target_field: 0,
            });
            // A GraphQL client names a relation's key (its alias).
            let alias = "x', (SELECT secret FROM vault), 'y";
            let select = Select {
                relations: vec![RelationSelect {
                    name: alias.into(),
                    relation: 0,
                    select: Select::all_fields(0, 1),
                }],
                ..Select::all_fields(0, 2)
            };
            let statement = build(&model, dialect, &Operation::One { select });
            let sql = &*statement.sql;
            assert!(sql.contains(r#"'o''clock', t1."o'clock""#), "{sql}");
            assert!(
                sql.contains("'x'', (SELECT secret FROM vault), ''y', "),
                "{sql}"
            );
            assert!(!sql.contains("'x',"), "{sql}");
        }
    }
}

//! Row objects: the JSON object a row renders to, with nested relations as sub-selects.

use std::fmt::Write as _;

use super::{Builder, Column, ident};
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
        let pairs = fields.len() + relations.len();
        let chunked = self.dialect == Dialect::Postgres && pairs > PG_PAIRS_PER_CALL;
        let call = match self.dialect {
            Dialect::Sqlite => "json_object(",
            Dialect::Postgres if chunked => "jsonb_build_object(",
            Dialect::Postgres => "json_build_object(",
        };
        let mut out = String::with_capacity(32 + 48 * pairs);
        if chunked {
            out.push('(');
        }
        out.push_str(call);
        for (n, &i) in fields.iter().enumerate() {
            let field = &entity.fields[i];
            separate(&mut out, n, chunked, call);
            let _ = write!(out, "'{}', ", field.name);
            self.scalar(&mut out, field.kind, Column(alias, &field.column));
        }
        for (n, nested) in relations.iter().enumerate() {
            let sub = self.relation(entity, alias, nested);
            separate(&mut out, fields.len() + n, chunked, call);
            let _ = write!(out, "'{}', {sub}", nested.name);
        }
        out.push(')');
        if chunked {
            out.push_str(")::json");
        }
        out
    }

    /// How a column's value enters a JSON object. SQLite stores booleans as 0/1, JSON as text and
    /// date-times as UTC text `YYYY-MM-DD HH:MM:SS`, so those are converted (date-times to
    /// RFC 3339, `2024-01-31T12:00:00Z`, the `date-time` of the API documents: the canonical form
    /// by the runtime's own function, other forms by `strftime`; text that is no date-time passes
    /// unchanged); everything else is rendered natively.
    fn scalar(&self, out: &mut String, kind: ColumnKind, column: Column<'_>) {
        let _ = match (self.dialect, kind) {
            (Dialect::Sqlite, ColumnKind::Timestamp | ColumnKind::TimestampTz) => write!(
                out,
                "coalesce({DATETIME_FUNCTION}({column}), strftime('%Y-%m-%dT%H:%M:%SZ', {column}), {column})"
            ),
            (Dialect::Sqlite, ColumnKind::Boolean) => write!(
                out,
                "CASE WHEN {column} IS NULL THEN NULL WHEN {column} THEN json('true') ELSE json('false') END"
            ),
            (Dialect::Sqlite, ColumnKind::Json) => write!(out, "json({column})"),
            _ => write!(out, "{column}"),
        };
    }

    /// A correlated sub-select for a relation: an object (many-to-one) or an array (one-to-many).
    fn relation(&mut self, entity: &Entity, alias: &str, nested: &RelationSelect) -> String {
        let relation = &entity.relations[nested.relation];
        let model = self.model;
        let target = &model.entities[relation.target];
        let outer = Column(alias, &entity.fields[relation.local_field].column).to_string();
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

/// Starts the `index`th key/value pair of an object: after a comma, or, when the object is
/// `chunked`, in a new call every [`PG_PAIRS_PER_CALL`] pairs.
fn separate(out: &mut String, index: usize, chunked: bool, call: &str) {
    if index == 0 {
        return;
    }
    if chunked && index.is_multiple_of(PG_PAIRS_PER_CALL) {
        out.push_str(") || ");
        out.push_str(call);
    } else {
        out.push_str(", ");
    }
}

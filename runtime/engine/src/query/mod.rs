//! The neutral operations both adapters (REST, GraphQL, apps' own code) produce and the SQL
//! builder consumes. Fields and entities are indices into an [`crate::model::AppModel`], so an
//! operation can only name what the app can see.

pub mod bounds;
mod coerce;
pub mod cursor;
mod input;
mod value;

pub use coerce::{coerce_json, coerce_text};
pub use input::{RowUse, row_values};
pub use value::Value;

use crate::catalog::ColumnKind;

/// Comparison operators of `where` filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Like,
    Ilike,
    In,
    Nin,
    IsNull,
}

impl Op {
    pub const ALL: [Op; 11] = [
        Op::Eq,
        Op::Neq,
        Op::Gt,
        Op::Gte,
        Op::Lt,
        Op::Lte,
        Op::Like,
        Op::Ilike,
        Op::In,
        Op::Nin,
        Op::IsNull,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Neq => "neq",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Like => "like",
            Op::Ilike => "ilike",
            Op::In => "in",
            Op::Nin => "nin",
            Op::IsNull => "isNull",
        }
    }

    pub fn parse(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }

    /// Whether the operator applies to a column kind: `like`/`ilike` need text, and JSON and
    /// binary values can only be tested for null (the databases cannot compare them).
    pub fn applies_to(self, kind: ColumnKind) -> bool {
        match (self, kind) {
            (Op::IsNull, _) => true,
            (_, ColumnKind::Json | ColumnKind::Bytes) => false,
            (Op::Like | Op::Ilike, kind) => kind.is_textual(),
            _ => true,
        }
    }
}

/// The right-hand side of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    One(Value),
    Many(Vec<Value>),
    /// `isNull=true|false`.
    Flag(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: usize,
    pub op: Op,
    pub operand: Operand,
}

/// A boolean filter tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Condition(Condition),
    /// The row's related row through a many-to-one relation exists and passes the filter
    /// (role rules: line items whose invoice belongs to the caller).
    Related(Box<RelatedFilter>),
}

/// A filter on the row a many-to-one relation points at.
#[derive(Debug, Clone, PartialEq)]
pub struct RelatedFilter {
    /// The relation, an index into the entity's relations.
    pub relation: usize,
    /// The filter over the related entity.
    pub filter: Filter,
}

/// The empty filter: every row.
impl Default for Filter {
    fn default() -> Self {
        Filter::all()
    }
}

impl Filter {
    pub fn all() -> Self {
        Filter::And(Vec::new())
    }

    /// A filter no row passes.
    pub fn none() -> Self {
        Filter::Or(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Filter::And(parts) | Filter::Or(parts) => parts.iter().all(Filter::is_empty),
            Filter::Condition(_) | Filter::Related(_) => false,
        }
    }

    /// Both filters; either one alone when the other filters nothing.
    pub fn and(self, other: Filter) -> Filter {
        match (self, other) {
            (Filter::And(parts), other) if parts.is_empty() => other,
            (this, Filter::And(parts)) if parts.is_empty() => this,
            (this, other) => Filter::And(vec![this, other]),
        }
    }

    pub fn eq(field: usize, value: Value) -> Self {
        Filter::Condition(Condition {
            field,
            op: Op::Eq,
            operand: Operand::One(value),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    pub field: usize,
    pub descending: bool,
}

/// Keyset pagination: rows strictly after (or before) a row with these order-field values.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyset {
    pub values: Vec<Value>,
    pub before: bool,
}

/// A read of one entity: which fields and relations, which rows, in which order.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub entity: usize,
    pub fields: Vec<usize>,
    pub relations: Vec<RelationSelect>,
    pub filter: Filter,
    pub order: Vec<Order>,
    pub limit: Option<u32>,
    pub offset: u32,
    pub keyset: Option<Keyset>,
}

/// A nested read through a relation, rendered under `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct RelationSelect {
    pub name: String,
    pub relation: usize,
    pub select: Select,
}

impl Select {
    /// Every field of an entity, no filter, no order, no limit.
    pub fn all_fields(entity: usize, field_count: usize) -> Self {
        Select {
            entity,
            fields: (0..field_count).collect(),
            relations: Vec::new(),
            filter: Filter::all(),
            order: Vec::new(),
            limit: None,
            offset: 0,
            keyset: None,
        }
    }
}

/// Restricts a list to the children of one parent row, and answers "not found" when the parent
/// does not exist (one-to-many relation routes).
#[derive(Debug, Clone, PartialEq)]
pub struct ParentGuard {
    pub entity: usize,
    pub key_field: usize,
    pub key: Value,
    /// What the parent must also pass (the caller's read rule on it).
    pub filter: Filter,
}

/// Every operation the engine runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// A JSON array of rows; with `count`, also the number of rows the filter matches.
    List {
        select: Select,
        count: bool,
        parent: Option<ParentGuard>,
    },
    /// One JSON object, or nothing.
    One { select: Select },
    /// The number of rows a filter matches.
    Count { entity: usize, filter: Filter },
    /// Inserts rows; each row is (field, value) pairs. Answers the inserted rows.
    Insert {
        entity: usize,
        rows: Vec<Vec<(usize, Value)>>,
        returning: Vec<usize>,
    },
    /// Inserts a row, or updates the given fields of the row with the same key when that row
    /// passes `filter` (otherwise writes and answers nothing).
    Upsert {
        entity: usize,
        key_field: usize,
        values: Vec<(usize, Value)>,
        filter: Filter,
        returning: Vec<usize>,
    },
    /// Sets fields on every row the filter matches. Answers the updated rows.
    Update {
        entity: usize,
        filter: Filter,
        values: Vec<(usize, Value)>,
        returning: Vec<usize>,
    },
    /// Deletes every row the filter matches. Answers the deleted rows.
    Delete {
        entity: usize,
        filter: Filter,
        returning: Vec<usize>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_apply_only_where_the_database_can_compare() {
        assert!(Op::Like.applies_to(ColumnKind::Text));
        assert!(!Op::Like.applies_to(ColumnKind::Integer));
        assert!(!Op::Eq.applies_to(ColumnKind::Json));
        assert!(!Op::In.applies_to(ColumnKind::Bytes));
        assert!(Op::IsNull.applies_to(ColumnKind::Json));
        assert!(Op::Gt.applies_to(ColumnKind::TimestampTz));
    }
}

//! A statement's plan: what the statement does (reads, inserts, or writes otherwise), recorded by
//! the builder beside the text as it writes it, with the parts of that text a combined statement
//! is rendered from: where each parameter's number sits, and for an insert its write, its answer
//! and, for a one-row insert with a generated key, its table, columns, values, key and row
//! object. [`super::combine`] renders from the plan alone; nothing reads SQL text back.

use super::text::{Slot, Span};

/// What a statement does, and the parts of its text that [`super::combine`] renders from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub(super) shape: Shape,
    /// Every parameter's number in the text, in text order (PostgreSQL; SQLite statements never
    /// combine and record none).
    pub(super) slots: Vec<Slot>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Shape {
    Read,
    /// A PostgreSQL insert, `WITH w AS (<write> RETURNING *) SELECT <answer> FROM w`. (SQLite
    /// inserts are plain writes: nothing combines on SQLite.)
    Insert(Insert),
    /// Updates, deletes and upserts: they never combine, as two of them could touch the same row
    /// in one statement.
    Write,
}

/// The parts of a PostgreSQL insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Insert {
    /// `INSERT INTO t ...`, without its `RETURNING`.
    pub write: Span,
    /// The answer over the written rows `w`: `coalesce(json_agg(<object>), '[]')::text`.
    pub answer: Span,
    /// Set when the insert writes one row and leaves a generated key to the database.
    pub row: Option<RowInsert>,
}

/// A one-row insert `INSERT INTO <table> (<columns>) VALUES (<values>)` whose key the database
/// generates: the key numbers rows in the order they are inserted, so the rows of several
/// members can go into one multi-row insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RowInsert {
    /// The table, quoted.
    pub table: Span,
    /// The columns, quoted, separated by commas.
    pub columns: Span,
    /// The values (placeholders with their casts, `DEFAULT`s), separated by commas.
    pub values: Span,
    pub column_count: u32,
    /// The JSON object of the written row `w`, inside the answer.
    pub object: Span,
    /// The generated key column, quoted.
    pub key: Box<str>,
}

/// How concurrent statements of one text run as one statement on PostgreSQL, and how the
/// answers come back (see [`super::combine`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combining {
    /// Reads, as one `UNION ALL` whose rows carry their member's number; members with equal
    /// parameters may run once and share the answer.
    Reads,
    /// Inserts, each member's write in a CTE of its own; the rows carry their member's number.
    Inserts,
    /// One-row inserts with generated keys, as one multi-row insert answering each row's key
    /// beside its answer: the keys rise in member order.
    Rows,
}

impl Plan {
    pub(super) fn new(shape: Shape, slots: Vec<Slot>) -> Self {
        Self { shape, slots }
    }

    /// The statement only reads.
    pub fn reads(&self) -> bool {
        self.shape == Shape::Read
    }

    /// How it combines with concurrent statements of its text on PostgreSQL; `None`: it runs
    /// alone.
    pub fn combining(&self) -> Option<Combining> {
        match &self.shape {
            Shape::Read => Some(Combining::Reads),
            Shape::Insert(Insert { row: Some(_), .. }) => Some(Combining::Rows),
            Shape::Insert(_) => Some(Combining::Inserts),
            Shape::Write => None,
        }
    }

    /// How many parameters one member binds.
    pub(super) fn params(&self) -> u32 {
        u32::try_from(self.slots.len()).unwrap_or(u32::MAX)
    }
}

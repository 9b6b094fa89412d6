//! The catalog: what the live database holds, introspected once at start.
//!
//! Flat and immutable: tables and views with their columns, primary keys, foreign keys and
//! unique constraints. Shared as `Arc<Catalog>`. The migration history table is left out, so no
//! app can ever list it. Catalog SQL lives in `sql/` per dialect.

pub mod introspect;
mod postgres;
mod sqlite;

use crate::db::{Database, Dialect};
use crate::events::capture;
use crate::migrate::HISTORY_TABLE;

/// Every table and view of the database, sorted by name.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub dialect: Dialect,
    pub tables: Vec<Table>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    Table,
    View,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub kind: TableKind,
    pub columns: Vec<Column>,
    /// Column names of the primary key, in key order; empty for views and key-less tables.
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
    pub unique_constraints: Vec<UniqueConstraint>,
}

/// The kind of value a column holds, as far as the API is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    SmallInt,
    Integer,
    BigInt,
    Float,
    Numeric,
    Boolean,
    Text,
    Timestamp,
    TimestampTz,
    Date,
    Time,
    Uuid,
    Json,
    Bytes,
    /// A type the API passes through as text (SQLite columns without a declared type are
    /// numbers or text).
    Other,
}

impl ColumnKind {
    pub fn is_integer(self) -> bool {
        matches!(self, Self::SmallInt | Self::Integer | Self::BigInt)
    }

    pub fn is_textual(self) -> bool {
        matches!(self, Self::Text | Self::Other)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generated {
    /// An ordinary column.
    No,
    /// Filled by the database when omitted (identity, serial, SQLite's rowid alias).
    Identity,
    /// Computed by the database; never written by clients.
    Always,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// The declared type, as the database spells it (used for PostgreSQL parameter casts).
    pub sql_type: String,
    pub kind: ColumnKind,
    pub nullable: bool,
    /// The default expression, as the database stores it.
    pub default: Option<String>,
    pub generated: Generated,
}

impl Column {
    /// Whether an insert may leave this column out.
    pub fn has_default(&self) -> bool {
        self.default.is_some() || self.generated != Generated::No || self.nullable
    }
}

#[derive(Debug, Clone)]
pub struct ForeignKey {
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub referenced_table: String,
    pub referenced_columns: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct UniqueConstraint {
    pub name: String,
    pub columns: Vec<String>,
}

/// Introspection failed.
#[derive(Debug, thiserror::Error)]
#[error("could not read the database catalog: {0}")]
pub struct CatalogError(#[from] sqlx::Error);

impl Catalog {
    /// Reads the live schema (on PostgreSQL, the connection's current schema).
    pub async fn introspect(db: &Database) -> Result<Self, CatalogError> {
        Self::introspect_schema(db, None).await
    }

    /// Reads the live schema; on PostgreSQL, `schema` names another schema than the current
    /// one (SQLite has one schema: it must be `None`).
    pub async fn introspect_schema(
        db: &Database,
        schema: Option<&str>,
    ) -> Result<Self, CatalogError> {
        let mut tables = match db {
            Database::Sqlite(lite) => {
                let mut conn = lite.connect().await?;
                let tables = sqlite::introspect(&mut conn).await?;
                sqlx::Connection::close(conn).await?;
                tables
            }
            Database::Postgres(pg) => postgres::introspect(pg.pool(), schema).await?,
        };
        tables.retain(|table| table.name != HISTORY_TABLE && !capture::is_internal(&table.name));
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self {
            dialect: db.dialect(),
            tables,
        })
    }

    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|table| table.name == name)
    }
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|column| column.name == name)
    }
}

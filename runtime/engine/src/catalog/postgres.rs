//! PostgreSQL introspection over `pg_catalog`, limited to one schema: the connection's current
//! schema, or the one named.

use sqlx::PgPool;

use super::{Column, ColumnKind, ForeignKey, Generated, Table, TableKind, UniqueConstraint};

type ColumnRow = (
    String,
    String,
    String,
    String,
    String,
    bool,
    Option<String>,
    String,
    String,
);
type ConstraintRow = (
    String,
    String,
    String,
    Vec<String>,
    Option<String>,
    Vec<String>,
);

pub(super) async fn introspect(
    pool: &PgPool,
    schema: Option<&str>,
) -> Result<Vec<Table>, sqlx::Error> {
    let columns: Vec<ColumnRow> = sqlx::query_as(include_str!("sql/postgres_columns.sql"))
        .bind(schema)
        .fetch_all(pool)
        .await?;
    let constraints: Vec<ConstraintRow> =
        sqlx::query_as(include_str!("sql/postgres_constraints.sql"))
            .bind(schema)
            .fetch_all(pool)
            .await?;

    let mut tables: Vec<Table> = Vec::new();
    for (table, relkind, name, sql_type, typname, notnull, default, identity, generated) in columns
    {
        if tables.last().is_none_or(|t| t.name != table) {
            tables.push(Table {
                name: table.clone(),
                kind: if relkind == "r" || relkind == "p" {
                    TableKind::Table
                } else {
                    TableKind::View
                },
                columns: Vec::new(),
                primary_key: Vec::new(),
                foreign_keys: Vec::new(),
                unique_constraints: Vec::new(),
            });
        }
        let generated = if !generated.is_empty() {
            Generated::Always
        } else if !identity.is_empty()
            || default
                .as_deref()
                .is_some_and(|d| d.starts_with("nextval("))
        {
            Generated::Identity
        } else {
            Generated::No
        };
        let current = tables.last_mut().expect("pushed above");
        current.columns.push(Column {
            name,
            sql_type,
            kind: kind_of(&typname),
            nullable: !notnull,
            default,
            generated,
        });
    }
    for (name, contype, table, columns, referenced_table, referenced_columns) in constraints {
        let Some(owner) = tables.iter_mut().find(|t| t.name == table) else {
            continue;
        };
        match contype.as_str() {
            "p" => owner.primary_key = columns,
            "u" => owner
                .unique_constraints
                .push(UniqueConstraint { name, columns }),
            "f" => owner.foreign_keys.push(ForeignKey {
                name: Some(name),
                columns,
                referenced_table: referenced_table.unwrap_or_default(),
                referenced_columns,
            }),
            _ => {}
        }
    }
    Ok(tables)
}

fn kind_of(typname: &str) -> ColumnKind {
    match typname {
        "int2" => ColumnKind::SmallInt,
        "int4" => ColumnKind::Integer,
        "int8" => ColumnKind::BigInt,
        "float4" | "float8" => ColumnKind::Float,
        "numeric" => ColumnKind::Numeric,
        "bool" => ColumnKind::Boolean,
        "text" | "varchar" | "bpchar" | "citext" | "name" => ColumnKind::Text,
        "timestamptz" => ColumnKind::TimestampTz,
        "timestamp" => ColumnKind::Timestamp,
        "date" => ColumnKind::Date,
        "time" | "timetz" => ColumnKind::Time,
        "uuid" => ColumnKind::Uuid,
        "json" | "jsonb" => ColumnKind::Json,
        "bytea" => ColumnKind::Bytes,
        _ => ColumnKind::Other,
    }
}

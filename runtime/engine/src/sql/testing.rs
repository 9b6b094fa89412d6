//! Statements for tests: hand-written ones, with their parameters written through [`Text`] so
//! their plans are what the builder would record, and an app model of one table to build real
//! ones from.

use super::plan::{Plan, Shape};
use super::text::Text;
use crate::catalog::{Catalog, Column, ColumnKind, Generated, Table, TableKind};
use crate::db::{Dialect, Statement};
use crate::model::{Access, AppModel, TableGrant};
use crate::query::Value;

/// A read of `template`, each `?` in it a placeholder of the next of `params`.
pub(crate) fn read(dialect: Dialect, template: &str, params: Vec<Value>) -> Statement {
    text(dialect, template).into_read(params)
}

/// A write that runs alone, of `template` as in [`read`]; `per_row` as SQLite's `RETURNING`.
pub(crate) fn write(
    dialect: Dialect,
    template: &str,
    params: Vec<Value>,
    per_row: bool,
) -> Statement {
    let (sql, slots) = text(dialect, template).into_parts();
    Statement {
        sql: sql.into(),
        params,
        per_row,
        plan: Plan::new(Shape::Write, slots),
    }
}

fn text(dialect: Dialect, template: &str) -> Text {
    let mut text = Text::new(dialect);
    for (n, part) in template.split('?').enumerate() {
        if n > 0 {
            text.param(n);
        }
        text.push_str(part);
    }
    text
}

/// A column of a table for [`model`]: its name, SQL type, kind and how it is generated.
pub(crate) type TestColumn<'a> = (&'a str, &'a str, ColumnKind, Generated);

/// The model of an app serving one read-write table, keyed by its first column.
pub(crate) fn model(dialect: Dialect, table: &str, columns: &[TestColumn<'_>]) -> AppModel {
    let catalog = Catalog {
        dialect,
        tables: vec![Table {
            name: table.into(),
            kind: TableKind::Table,
            columns: columns
                .iter()
                .map(|&(name, sql_type, kind, generated)| Column {
                    name: name.into(),
                    sql_type: sql_type.into(),
                    kind,
                    nullable: true,
                    default: None,
                    generated,
                })
                .collect(),
            primary_key: columns.iter().take(1).map(|c| c.0.into()).collect(),
            foreign_keys: Vec::new(),
            unique_constraints: Vec::new(),
        }],
    };
    let grant = TableGrant {
        table: table.into(),
        access: Access::ReadWrite,
    };
    AppModel::build("test", &[grant], &catalog).expect("the table is in the catalog")
}

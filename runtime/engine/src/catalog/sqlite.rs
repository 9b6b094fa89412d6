//! SQLite introspection through the `pragma_*` table-valued functions.

use sqlx::SqliteConnection;

use super::{Column, ColumnKind, ForeignKey, Generated, Table, TableKind, UniqueConstraint};

/// (table, column, declared type, not null, default, primary-key position, hidden).
type ColumnRow = (String, String, String, bool, Option<String>, i64, i64);

pub(super) async fn introspect(conn: &mut SqliteConnection) -> Result<Vec<Table>, sqlx::Error> {
    let objects: Vec<(String, String)> = sqlx::query_as(include_str!("sql/sqlite_objects.sql"))
        .fetch_all(&mut *conn)
        .await?;
    let columns: Vec<ColumnRow> = sqlx::query_as(include_str!("sql/sqlite_columns.sql"))
        .fetch_all(&mut *conn)
        .await?;
    let foreign_keys: Vec<(String, i64, String, String, Option<String>)> =
        sqlx::query_as(include_str!("sql/sqlite_foreign_keys.sql"))
            .fetch_all(&mut *conn)
            .await?;
    let uniques: Vec<(String, String, String)> =
        sqlx::query_as(include_str!("sql/sqlite_unique.sql"))
            .fetch_all(&mut *conn)
            .await?;

    let mut tables = Vec::with_capacity(objects.len());
    for (name, kind) in objects {
        let own_columns: Vec<_> = columns.iter().filter(|c| c.0 == name).collect();
        let mut primary_key: Vec<(i64, String)> = own_columns
            .iter()
            .filter(|c| c.5 > 0)
            .map(|c| (c.5, c.1.clone()))
            .collect();
        primary_key.sort();
        let primary_key: Vec<String> = primary_key.into_iter().map(|(_, n)| n).collect();
        let rowid_alias = primary_key.len() == 1
            && own_columns
                .iter()
                .any(|c| c.1 == primary_key[0] && c.2.eq_ignore_ascii_case("INTEGER"));
        let table_columns = own_columns
            .iter()
            .map(|(_, col, declared, notnull, default, pk, hidden)| {
                let generated = if *hidden == 2 || *hidden == 3 {
                    Generated::Always
                } else if rowid_alias && *pk == 1 {
                    Generated::Identity
                } else {
                    Generated::No
                };
                Column {
                    name: col.clone(),
                    sql_type: declared.clone(),
                    kind: kind_of(declared),
                    nullable: !(*notnull || rowid_alias && *pk == 1),
                    default: default.clone(),
                    generated,
                }
            })
            .collect();
        let mut fks: Vec<ForeignKey> = Vec::new();
        for (_, id, target, from, to) in foreign_keys.iter().filter(|fk| fk.0 == name) {
            let key = format!("{name}_fk_{id}");
            let position = fks.iter().position(|fk| fk.name.as_deref() == Some(&key));
            let fk = match position {
                Some(i) => &mut fks[i],
                None => {
                    fks.push(ForeignKey {
                        name: Some(key),
                        columns: Vec::new(),
                        referenced_table: target.clone(),
                        referenced_columns: Vec::new(),
                    });
                    fks.last_mut().expect("just pushed")
                }
            };
            fk.columns.push(from.clone());
            fk.referenced_columns.push(to.clone().unwrap_or_default());
        }
        let unique_constraints = group_unique(uniques.iter().filter(|u| u.0 == name));
        tables.push(Table {
            kind: if kind == "view" {
                TableKind::View
            } else {
                TableKind::Table
            },
            name,
            columns: table_columns,
            primary_key,
            foreign_keys: fks,
            unique_constraints,
        });
    }
    resolve_implicit_targets(&mut tables);
    Ok(tables)
}

fn group_unique<'a>(
    rows: impl Iterator<Item = &'a (String, String, String)>,
) -> Vec<UniqueConstraint> {
    let mut out: Vec<UniqueConstraint> = Vec::new();
    for (_, index, column) in rows {
        match out.iter_mut().find(|u| &u.name == index) {
            Some(unique) => unique.columns.push(column.clone()),
            None => out.push(UniqueConstraint {
                name: index.clone(),
                columns: vec![column.clone()],
            }),
        }
    }
    out
}

/// A foreign key declared without target columns points at the target's primary key.
fn resolve_implicit_targets(tables: &mut [Table]) {
    let keys: Vec<(String, Vec<String>)> = tables
        .iter()
        .map(|t| (t.name.clone(), t.primary_key.clone()))
        .collect();
    for table in tables.iter_mut() {
        for fk in &mut table.foreign_keys {
            if fk.referenced_columns.iter().any(String::is_empty)
                && let Some((_, pk)) = keys.iter().find(|(name, _)| *name == fk.referenced_table)
            {
                fk.referenced_columns = pk.clone();
            }
        }
    }
}

/// Maps a declared SQLite type to a column kind, following SQLite's affinity rules.
fn kind_of(declared: &str) -> ColumnKind {
    let upper = declared.to_ascii_uppercase();
    let has = |needle: &str| upper.contains(needle);
    if upper.is_empty() {
        ColumnKind::Other
    } else if has("BOOL") {
        ColumnKind::Boolean
    } else if has("INT") {
        ColumnKind::BigInt
    } else if has("DATETIME") || has("TIMESTAMP") {
        ColumnKind::Timestamp
    } else if has("DATE") {
        ColumnKind::Date
    } else if has("TIME") {
        ColumnKind::Time
    } else if has("UUID") {
        ColumnKind::Uuid
    } else if has("JSON") {
        ColumnKind::Json
    } else if has("CHAR") || has("CLOB") || has("TEXT") {
        ColumnKind::Text
    } else if has("BLOB") {
        ColumnKind::Bytes
    } else if has("REAL") || has("FLOA") || has("DOUB") {
        ColumnKind::Float
    } else {
        ColumnKind::Numeric
    }
}

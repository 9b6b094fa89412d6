//! Adopting a database no migration of ours built: its tables grouped by the foreign keys that
//! join them, one proposed app per group, and the tables that get no item routes (no
//! single-column primary key: they are listed and written through their collection routes only).

use std::collections::BTreeSet;

use super::{Catalog, TableKind};

/// What `db introspect` proposes for a catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// One group per set of tables joined by foreign keys, ordered by main table.
    pub groups: Vec<TableGroup>,
    /// Tables without a primary key.
    pub keyless: Vec<String>,
    /// Tables whose primary key has several columns.
    pub composite_key: Vec<String>,
    /// Views: served read-only by any app that lists them, in no group.
    pub views: Vec<String>,
}

/// Tables joined by foreign keys, directly or through each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableGroup {
    /// The group's main table: the one joined to most others.
    pub main: String,
    /// Every table of the group, the main one first, then by name.
    pub tables: Vec<String>,
}

/// Groups the catalog's tables by foreign key. The main table of a group is the one joined to
/// most others of it; on a tie, the one most referenced, then by name.
pub fn propose(catalog: &Catalog) -> Proposal {
    let tables: Vec<&super::Table> = catalog
        .tables
        .iter()
        .filter(|t| t.kind == TableKind::Table)
        .collect();
    let index = |name: &str| tables.iter().position(|t| t.name == name);
    let mut parent: Vec<usize> = (0..tables.len()).collect();
    let mut incoming = vec![0usize; tables.len()];
    let mut outgoing = vec![0usize; tables.len()];
    for (from, table) in tables.iter().enumerate() {
        let targets: BTreeSet<usize> = table
            .foreign_keys
            .iter()
            .filter_map(|fk| index(&fk.referenced_table))
            .filter(|to| *to != from)
            .collect();
        for to in targets {
            incoming[to] += 1;
            outgoing[from] += 1;
            let (a, b) = (root(&mut parent, from), root(&mut parent, to));
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut groups: Vec<TableGroup> = Vec::new();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); tables.len()];
    for i in 0..tables.len() {
        let r = root(&mut parent, i);
        members[r].push(i);
    }
    for group in members.into_iter().filter(|m| !m.is_empty()) {
        let main = *group
            .iter()
            .min_by(|a, b| {
                let degree = |i: usize| incoming[i] + outgoing[i];
                degree(**b)
                    .cmp(&degree(**a))
                    .then(incoming[**b].cmp(&incoming[**a]))
                    .then(tables[**a].name.cmp(&tables[**b].name))
            })
            .expect("a group has a table");
        let mut names: Vec<String> = group
            .iter()
            .filter(|i| **i != main)
            .map(|i| tables[*i].name.clone())
            .collect();
        names.sort();
        names.insert(0, tables[main].name.clone());
        groups.push(TableGroup {
            main: tables[main].name.clone(),
            tables: names,
        });
    }
    groups.sort_by(|a, b| a.main.cmp(&b.main));
    let named = |keep: &dyn Fn(&super::Table) -> bool| -> Vec<String> {
        catalog
            .tables
            .iter()
            .filter(|t| keep(t))
            .map(|t| t.name.clone())
            .collect()
    };
    Proposal {
        groups,
        keyless: named(&|t| t.kind == TableKind::Table && t.primary_key.is_empty()),
        composite_key: named(&|t| t.kind == TableKind::Table && t.primary_key.len() > 1),
        views: named(&|t| t.kind == TableKind::View),
    }
}

fn root(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ForeignKey, Table};
    use crate::db::Dialect;

    fn table(name: &str, key: &[&str], references: &[&str]) -> Table {
        Table {
            name: name.into(),
            kind: TableKind::Table,
            columns: Vec::new(),
            primary_key: key.iter().map(|k| (*k).to_string()).collect(),
            foreign_keys: references
                .iter()
                .map(|target| ForeignKey {
                    name: None,
                    columns: vec![format!("{target}_id")],
                    referenced_table: (*target).to_string(),
                    referenced_columns: vec!["id".into()],
                })
                .collect(),
            unique_constraints: Vec::new(),
        }
    }

    #[test]
    fn groups_by_foreign_key_around_the_most_referenced_table() {
        let catalog = Catalog {
            dialect: Dialect::Sqlite,
            tables: vec![
                table("audit_log", &[], &[]),
                table("authors", &["id"], &[]),
                table("books", &["id"], &["authors", "books"]),
                table("line_items", &["order_id", "n"], &["orders", "products"]),
                table("orders", &["id"], &["customers"]),
                table("customers", &["id"], &[]),
                table("products", &["id"], &[]),
                table("reviews", &["id"], &["books", "authors"]),
            ],
        };
        let proposal = propose(&catalog);
        let groups: Vec<(&str, Vec<&str>)> = proposal
            .groups
            .iter()
            .map(|g| {
                (
                    g.main.as_str(),
                    g.tables.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            groups,
            [
                ("audit_log", vec!["audit_log"]),
                ("authors", vec!["authors", "books", "reviews"]),
                (
                    "orders",
                    vec!["orders", "customers", "line_items", "products"]
                ),
            ]
        );
        assert_eq!(proposal.keyless, ["audit_log"]);
        assert_eq!(proposal.composite_key, ["line_items"]);
    }
}

//! The app model: one app's allowlist applied to the catalog.
//!
//! An [`AppModel`] holds only the tables the app lists, with API names, access modes and the
//! relations between *visible* tables. A foreign key to a table the app cannot see stays a plain
//! scalar field. The composed API is an app model too, over the union of every app's grants.

mod inflect;
pub mod naming;
pub mod policy;
pub mod rules;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, ColumnKind, Generated, TableKind};

/// What an app may do with a table; `read` or `read-write` in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Reads only: list, get, relations.
    Read,
    /// Reads and writes.
    ReadWrite,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::ReadWrite => "read-write",
        }
    }
}

/// One allowlist entry: a table and what the app may do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableGrant {
    pub table: String,
    pub access: Access,
}

/// A listed table is missing from the database.
#[derive(Debug, thiserror::Error)]
#[error(
    "app `{app}` lists table `{table}`, which does not exist in the database (apply the migrations, or fix the app's allowlist)"
)]
pub struct ModelError {
    pub app: String,
    pub table: String,
}

/// The API one app serves.
#[derive(Debug, Clone)]
pub struct AppModel {
    pub name: String,
    pub entities: Vec<Entity>,
    /// The role rules of the apps it serves.
    pub policy: policy::Policy,
}

#[derive(Debug, Clone)]
pub struct Entity {
    pub table: String,
    pub kind: TableKind,
    /// camelCase singular: `lineItem`.
    pub name: String,
    /// camelCase plural, the REST path segment: `lineItems`.
    pub plural: String,
    /// PascalCase singular: `LineItem`.
    pub type_name: String,
    pub access: Access,
    pub fields: Vec<Field>,
    /// The single-column primary key, when there is one; item routes need it.
    pub primary_key: Option<usize>,
    pub relations: Vec<Relation>,
    /// Named unique and foreign-key constraints, with the fields they cover.
    pub constraints: Vec<Constraint>,
    lookup: HashMap<String, usize>,
}

#[derive(Debug, Clone)]
pub struct Constraint {
    pub name: String,
    pub fields: Vec<usize>,
    pub foreign_key: bool,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub column: String,
    /// camelCase API name.
    pub name: String,
    pub kind: ColumnKind,
    /// The declared SQL type.
    pub sql_type: String,
    pub nullable: bool,
    pub default: Option<String>,
    pub generated: Generated,
}

impl Field {
    /// Whether an insert must name this field.
    pub fn required_on_insert(&self) -> bool {
        !self.nullable && self.default.is_none() && self.generated == Generated::No
    }

    /// Whether clients may write this field.
    pub fn writable(&self) -> bool {
        self.generated != Generated::Always
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    /// This entity holds the foreign key: `invoice.customer`.
    ManyToOne,
    /// Another entity holds a foreign key to this one: `customer.invoices`.
    OneToMany,
}

#[derive(Debug, Clone)]
pub struct Relation {
    pub name: String,
    pub kind: RelationKind,
    /// The field of this entity the join uses (the foreign key, or the referenced key).
    pub local_field: usize,
    /// The entity on the other side (index into [`AppModel::entities`]).
    pub target: usize,
    /// The field of the target entity the join uses.
    pub target_field: usize,
}

impl AppModel {
    /// Applies an allowlist to the catalog. A grant listed twice keeps the widest access.
    pub fn build(app: &str, grants: &[TableGrant], catalog: &Catalog) -> Result<Self, ModelError> {
        let mut merged: Vec<TableGrant> = Vec::new();
        for grant in grants {
            match merged.iter_mut().find(|g| g.table == grant.table) {
                Some(existing) => existing.access = existing.access.max(grant.access),
                None => merged.push(grant.clone()),
            }
        }
        let mut entities = Vec::with_capacity(merged.len());
        for grant in &merged {
            let table = catalog.table(&grant.table).ok_or_else(|| ModelError {
                app: app.to_string(),
                table: grant.table.clone(),
            })?;
            let fields: Vec<Field> = table
                .columns
                .iter()
                .map(|c| Field {
                    column: c.name.clone(),
                    name: naming::field_name(&c.name),
                    kind: c.kind,
                    sql_type: c.sql_type.clone(),
                    nullable: c.nullable,
                    default: c.default.clone(),
                    generated: c.generated,
                })
                .collect();
            let mut lookup = HashMap::new();
            for (i, field) in fields.iter().enumerate() {
                lookup.insert(field.name.clone(), i);
                lookup.insert(field.column.clone(), i);
            }
            let primary_key = match table.primary_key.as_slice() {
                [single] => fields.iter().position(|f| &f.column == single),
                _ => None,
            };
            let named = table
                .unique_constraints
                .iter()
                .map(|u| (Some(&u.name), &u.columns, false))
                .chain(
                    table
                        .foreign_keys
                        .iter()
                        .map(|f| (f.name.as_ref(), &f.columns, true)),
                );
            let constraints = named
                .filter_map(|(name, columns, foreign_key)| {
                    let fields = columns
                        .iter()
                        .map(|c| lookup.get(c).copied())
                        .collect::<Option<Vec<_>>>()?;
                    Some(Constraint {
                        name: name?.clone(),
                        fields,
                        foreign_key,
                    })
                })
                .collect();
            let name = naming::entity_name(&table.name);
            // Views are served read-only whatever the grant says.
            let access = if table.kind == TableKind::View {
                Access::Read
            } else {
                grant.access
            };
            entities.push(Entity {
                table: table.name.clone(),
                kind: table.kind,
                plural: naming::plural(&name),
                type_name: naming::type_name(&name),
                name,
                access,
                fields,
                primary_key,
                relations: Vec::new(),
                constraints,
                lookup,
            });
        }
        link_relations(&mut entities, catalog);
        Ok(Self {
            name: app.to_string(),
            entities,
            policy: policy::Policy::default(),
        })
    }

    pub fn entity_index(&self, table: &str) -> Option<usize> {
        self.entities.iter().position(|e| e.table == table)
    }

    pub fn entity(&self, table: &str) -> Option<&Entity> {
        self.entities.iter().find(|e| e.table == table)
    }
}

impl Entity {
    /// Finds a field by its API name or its column name.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.lookup.get(name).copied()
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.field_index(name).map(|i| &self.fields[i])
    }

    pub fn is_writable(&self) -> bool {
        self.access == Access::ReadWrite
    }

    pub fn relation(&self, name: &str) -> Option<&Relation> {
        self.relations.iter().find(|r| r.name == name)
    }

    /// The names of every field, for error messages.
    pub fn field_names(&self) -> String {
        self.fields
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Adds a relation for every single-column foreign key between two visible tables.
fn link_relations(entities: &mut [Entity], catalog: &Catalog) {
    let mut found: Vec<(usize, Relation)> = Vec::new();
    for (source, entity) in entities.iter().enumerate() {
        let Some(table) = catalog.table(&entity.table) else {
            continue;
        };
        for fk in &table.foreign_keys {
            let ([column], [referenced]) =
                (fk.columns.as_slice(), fk.referenced_columns.as_slice())
            else {
                continue;
            };
            let Some(target) = entities.iter().position(|e| e.table == fk.referenced_table) else {
                continue;
            };
            let (Some(local), Some(remote)) = (
                entity.field_index(column),
                entities[target].field_index(referenced),
            ) else {
                continue;
            };
            found.push((
                source,
                Relation {
                    name: naming::many_to_one_name(column, &entities[target].name),
                    kind: RelationKind::ManyToOne,
                    local_field: local,
                    target,
                    target_field: remote,
                },
            ));
            found.push((
                target,
                Relation {
                    name: entity.plural.clone(),
                    kind: RelationKind::OneToMany,
                    local_field: remote,
                    target: source,
                    target_field: local,
                },
            ));
        }
    }
    for (owner, mut relation) in found {
        let entity = &entities[owner];
        let clashes = entity.relations.iter().any(|r| r.name == relation.name)
            || entity.field_index(&relation.name).is_some();
        if clashes {
            // Two foreign keys from one table to the same target, or a field of that name:
            // qualify by the foreign-key field, e.g. `invoicesByBillingCustomerId`.
            let fk_field = match relation.kind {
                RelationKind::OneToMany => {
                    &entities[relation.target].fields[relation.target_field].name
                }
                RelationKind::ManyToOne => &entity.fields[relation.local_field].name,
            };
            relation.name = format!("{}By{}", relation.name, naming::type_name(fk_field));
        }
        entities[owner].relations.push(relation);
    }
}

impl AppModel {
    /// The API field names a named constraint covers, when it belongs to a visible table.
    pub fn constraint_fields(&self, constraint: &str) -> Option<Vec<String>> {
        self.entities.iter().find_map(|entity| {
            let found = entity.constraints.iter().find(|c| c.name == constraint)?;
            Some(
                found
                    .fields
                    .iter()
                    .map(|&i| entity.fields[i].name.clone())
                    .collect(),
            )
        })
    }

    /// The API field name of a visible table's column.
    pub fn column_field(&self, table: &str, column: &str) -> Option<String> {
        self.entity(table)?.field(column).map(|f| f.name.clone())
    }
}

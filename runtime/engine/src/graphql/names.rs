//! GraphQL naming, following Platformatic DB: `getCustomerById`, `customers`, `countCustomers`,
//! `saveCustomer`, `insertCustomers`, `updateCustomers`, `deleteCustomers`; per-table input types
//! `CustomerWhere`, `CustomerOrderBy`, `CustomerField`, `CustomerInput`.

use heck::ToUpperCamelCase;

use crate::catalog::ColumnKind;
use crate::model::{Entity, Field, RelationKind};

/// Keys of nested relations in the row JSON, kept apart from column keys.
pub const RELATION_PREFIX: &str = "@";

pub fn get_by_id(entity: &Entity) -> String {
    format!("get{}ById", entity.type_name)
}

pub fn list(entity: &Entity) -> String {
    entity.plural.clone()
}

pub fn page(entity: &Entity) -> String {
    format!("{}Page", entity.plural)
}

pub fn count(entity: &Entity) -> String {
    format!("count{}", entity.plural.to_upper_camel_case())
}

pub fn save(entity: &Entity) -> String {
    format!("save{}", entity.type_name)
}

pub fn insert(entity: &Entity) -> String {
    format!("insert{}", entity.plural.to_upper_camel_case())
}

pub fn update(entity: &Entity) -> String {
    format!("update{}", entity.plural.to_upper_camel_case())
}

pub fn delete(entity: &Entity) -> String {
    format!("delete{}", entity.plural.to_upper_camel_case())
}

pub fn saved(entity: &Entity) -> String {
    format!("{}Saved", entity.name)
}

pub fn deleted(entity: &Entity) -> String {
    format!("{}Deleted", entity.name)
}

pub fn where_type(entity: &Entity) -> String {
    format!("{}Where", entity.type_name)
}

pub fn order_type(entity: &Entity) -> String {
    format!("{}OrderBy", entity.type_name)
}

pub fn field_enum(entity: &Entity) -> String {
    format!("{}Field", entity.type_name)
}

pub fn input_type(entity: &Entity) -> String {
    format!("{}Input", entity.type_name)
}

pub fn page_type(entity: &Entity) -> String {
    format!("{}Page", entity.type_name)
}

pub fn filter_type(scalar: &str) -> String {
    format!("{scalar}Filter")
}

/// Whether a field is a key: the primary key, or a foreign key to a table the app can see (one
/// to a hidden table stays a plain scalar).
pub fn is_key(entity: &Entity, index: usize) -> bool {
    entity.primary_key == Some(index)
        || entity
            .relations
            .iter()
            .any(|r| r.kind == RelationKind::ManyToOne && r.local_field == index)
}

/// The GraphQL scalar of a field.
pub fn scalar(entity: &Entity, index: usize) -> &'static str {
    let field: &Field = &entity.fields[index];
    if is_key(entity, index) {
        return "ID";
    }
    match field.kind {
        ColumnKind::SmallInt | ColumnKind::Integer | ColumnKind::BigInt => "Int",
        ColumnKind::Float => "Float",
        ColumnKind::Numeric => "Decimal",
        ColumnKind::Boolean => "Boolean",
        ColumnKind::Text | ColumnKind::Other | ColumnKind::Bytes => "String",
        ColumnKind::Timestamp | ColumnKind::TimestampTz => "DateTime",
        ColumnKind::Date => "Date",
        ColumnKind::Time => "Time",
        ColumnKind::Uuid => "UUID",
        ColumnKind::Json => "JSON",
    }
}

/// Custom scalars and what they carry.
pub const CUSTOM_SCALARS: [(&str, &str); 6] = [
    (
        "DateTime",
        "An ISO-8601 date-time, e.g. 2024-01-31T12:00:00Z",
    ),
    ("Date", "An ISO-8601 date, e.g. 2024-01-31"),
    ("Time", "A time of day, e.g. 12:00:00"),
    ("UUID", "A UUID"),
    ("Decimal", "An exact decimal number"),
    ("JSON", "Any JSON value"),
];

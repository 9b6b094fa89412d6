//! JSON Schemas of the document: a column's value, an entity's row, its insert and update bodies,
//! and the one error body.
//!
//! A column kind maps to a JSON Schema type and format (integers with int32/int64 and their
//! range, numerics as numbers or decimal strings, date-time, date, uuid, JSON as any value);
//! a nullable column is `["<type>", "null"]`. Rows answer every field unless `fields` selects
//! some, so row schemas require nothing; insert bodies require exactly the NOT NULL columns
//! without a default.

use serde_json::json;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema,
    SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{RefOr, schema::Ref};

use crate::catalog::ColumnKind;
use crate::error::ErrorCode;
use crate::model::{Entity, Field};

/// Component name of the shared error body.
pub const ERROR: &str = "Error";

/// `^[-+]?` digits with an optional fraction: what a numeric column accepts as text.
const DECIMAL_PATTERN: &str = r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$";
/// `HH:MM[:SS[.fraction]]`, as time columns take and answer it.
const TIME_PATTERN: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9](:([0-5][0-9]|60)(\.[0-9]+)?)?$";

/// Where a value schema is used: the JSON of a row or body, or the text of a query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    Json,
    Query,
}

/// Component names of an entity's schemas.
pub fn row_name(entity: &Entity) -> String {
    entity.type_name.clone()
}

pub fn input_name(entity: &Entity) -> String {
    format!("{}Input", entity.type_name)
}

pub fn patch_name(entity: &Entity) -> String {
    format!("{}Patch", entity.type_name)
}

pub fn reference(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

/// The schema of one value of `field`, never null.
pub fn value(field: &Field, carrier: Carrier) -> ObjectBuilder {
    let typed = |ty: Type| ObjectBuilder::new().schema_type(ty);
    let format = |known: KnownFormat| Some(SchemaFormat::KnownFormat(known));
    match field.kind {
        ColumnKind::SmallInt => typed(Type::Integer)
            .format(format(KnownFormat::Int32))
            .minimum(Some(i16::MIN))
            .maximum(Some(i16::MAX)),
        ColumnKind::Integer => typed(Type::Integer)
            .format(format(KnownFormat::Int32))
            .minimum(Some(i32::MIN))
            .maximum(Some(i32::MAX)),
        ColumnKind::BigInt => typed(Type::Integer)
            .format(format(KnownFormat::Int64))
            .minimum(Some(i64::MIN))
            .maximum(Some(i64::MAX)),
        ColumnKind::Float => typed(Type::Number).format(format(KnownFormat::Double)),
        ColumnKind::Numeric => match carrier {
            Carrier::Json => ObjectBuilder::new()
                .schema_type(SchemaType::Array(vec![Type::Number, Type::String]))
                .pattern(Some(DECIMAL_PATTERN))
                .description(Some("a decimal number, as a JSON number or a string")),
            Carrier::Query => typed(Type::String).pattern(Some(DECIMAL_PATTERN)),
        },
        ColumnKind::Boolean => typed(Type::Boolean),
        ColumnKind::Timestamp | ColumnKind::TimestampTz => {
            typed(Type::String).format(format(KnownFormat::DateTime))
        }
        ColumnKind::Date => typed(Type::String).format(format(KnownFormat::Date)),
        ColumnKind::Time => typed(Type::String).pattern(Some(TIME_PATTERN)),
        ColumnKind::Uuid => typed(Type::String).format(Some(SchemaFormat::Custom("uuid".into()))),
        ColumnKind::Json => match carrier {
            Carrier::Json => ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .description(Some("any JSON value")),
            Carrier::Query => typed(Type::String).description(Some("JSON text")),
        },
        ColumnKind::Text | ColumnKind::Bytes => typed(Type::String),
        // SQLite columns without a declared type hold numbers or text.
        ColumnKind::Other => match carrier {
            Carrier::Json => ObjectBuilder::new()
                .schema_type(SchemaType::Array(vec![Type::Number, Type::String])),
            Carrier::Query => typed(Type::String),
        },
    }
}

/// The JSON schema of `field` in a row or body: its value, or null when the column is nullable.
pub fn field(field: &Field) -> Schema {
    let schema = value(field, Carrier::Json);
    let schema = if field.nullable && field.kind != ColumnKind::Json {
        let schema = schema.build();
        let types = match &schema.schema_type {
            SchemaType::Type(ty) => vec![ty.clone(), Type::Null],
            SchemaType::Array(types) => types.iter().cloned().chain([Type::Null]).collect(),
            SchemaType::AnyValue => Vec::new(),
        };
        let mut schema = schema;
        schema.schema_type = SchemaType::Array(types);
        schema
    } else {
        schema.build()
    };
    Schema::Object(schema)
}

/// A row as the API answers it.
pub fn row(entity: &Entity) -> Schema {
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(format!(
            "A row of `{}`. Every field is present unless the request's `fields` selects some.",
            entity.table
        )));
    for f in &entity.fields {
        object = object.property(&f.name, field(f));
    }
    Schema::Object(object.build())
}

/// The body of an insert (and of an upsert): required exactly where the column is NOT NULL
/// without a default; columns the database computes are left out.
pub fn input(entity: &Entity) -> Schema {
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(format!(
            "A new row of `{}`. Fields may also be given by their column name.",
            entity.table
        )))
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    for f in entity.fields.iter().filter(|f| f.writable()) {
        object = object.property(&f.name, field(f));
        if f.required_on_insert() {
            object = object.required(&f.name);
        }
    }
    Schema::Object(object.build())
}

/// The body of an update: any writable fields, at least one.
pub fn patch(entity: &Entity) -> Schema {
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(format!(
            "The fields of `{}` to change; at least one.",
            entity.table
        )))
        .min_properties(Some(1))
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    for f in entity.fields.iter().filter(|f| f.writable()) {
        object = object.property(&f.name, field(f));
    }
    Schema::Object(object.build())
}

/// An array of rows (or of bodies) of the named component.
pub fn array_of(name: &str, min_items: Option<usize>) -> Schema {
    Schema::Array(
        ArrayBuilder::new()
            .items(reference(name))
            .min_items(min_items)
            .build(),
    )
}

/// One object of the named component, or a non-empty array of them.
pub fn one_or_many(name: &str) -> Schema {
    Schema::OneOf(
        OneOfBuilder::new()
            .item(reference(name))
            .item(array_of(name, Some(1)))
            .build(),
    )
}

/// The one error body of every route.
pub fn error() -> Schema {
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let string = || ObjectBuilder::new().schema_type(Type::String);
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("Every error, on every route, has this body."))
            .property(
                "statusCode",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
                    .minimum(Some(400))
                    .maximum(Some(599)),
            )
            .property(
                "code",
                string()
                    .enum_values(Some(codes))
                    .description(Some("stable, machine-readable")),
            )
            .property(
                "error",
                string().description(Some("the status's reason phrase")),
            )
            .property(
                "message",
                string().description(Some("what went wrong, naming the field or parameter")),
            )
            .required("statusCode")
            .required("code")
            .required("error")
            .required("message")
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
            .examples([json!({
                "statusCode": 400,
                "code": "UNKNOWN_FIELD",
                "error": "Bad Request",
                "message": "`customers` has no field `nmae` (fields: id, name, ...)"
            })])
            .build(),
    )
}

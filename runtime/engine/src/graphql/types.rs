//! The schema's types, one small builder per artefact: an object type per table (columns and
//! relations), its `Where`, `OrderBy`, field enum, `Input` and page types, and the scalar filter
//! inputs. Object fields resolve from the row JSON their root field fetched in one statement.

use std::collections::BTreeSet;

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, Scalar,
    TypeRef,
};

use super::names::{self, RELATION_PREFIX};
use crate::model::{AppModel, Entity, RelationKind};

/// Every type the schema registers.
pub struct Types {
    pub objects: Vec<Object>,
    pub inputs: Vec<InputObject>,
    pub enums: Vec<Enum>,
    pub scalars: Vec<Scalar>,
}

pub fn build(model: &AppModel) -> Types {
    let mut types = Types {
        objects: Vec::new(),
        inputs: Vec::new(),
        enums: vec![Enum::new("OrderDirection").item("ASC").item("DESC")],
        scalars: Vec::new(),
    };
    let mut used: BTreeSet<&'static str> = BTreeSet::new();
    for entity in &model.entities {
        for index in 0..entity.fields.len() {
            used.insert(names::scalar(entity, index));
        }
        types.objects.push(object(model, entity));
        types.objects.push(page(entity));
        types.inputs.push(where_input(entity));
        types.inputs.push(order_input(entity));
        types.enums.push(field_enum(entity));
        if entity.is_writable() {
            types.inputs.push(row_input(entity));
        }
    }
    types.objects.push(Object::new("Count").field(scalar_field(
        "total",
        TypeRef::named_nn(TypeRef::INT),
        false,
    )));
    for scalar in &used {
        types.inputs.push(filter_input(scalar));
        if let Some((name, description)) = names::CUSTOM_SCALARS.iter().find(|(n, _)| n == scalar) {
            types
                .scalars
                .push(Scalar::new(*name).description(*description));
        }
    }
    types
}

/// The list arguments of a one-to-many relation or a root list.
pub fn list_arguments(field: Field, entity: &Entity) -> Field {
    field
        .argument(InputValue::new(
            "where",
            TypeRef::named(names::where_type(entity)),
        ))
        .argument(InputValue::new(
            "orderBy",
            TypeRef::named_nn_list(names::order_type(entity)),
        ))
        .argument(InputValue::new("limit", TypeRef::named(TypeRef::INT)))
        .argument(InputValue::new("offset", TypeRef::named(TypeRef::INT)))
}

fn object(model: &AppModel, entity: &Entity) -> Object {
    let mut object =
        Object::new(&entity.type_name).description(format!("A row of `{}`", entity.table));
    for (index, field) in entity.fields.iter().enumerate() {
        let scalar = names::scalar(entity, index);
        let ty = if field.nullable {
            TypeRef::named(scalar)
        } else {
            TypeRef::named_nn(scalar)
        };
        object = object.field(scalar_field(&field.name, ty, scalar == "ID"));
    }
    for relation in &entity.relations {
        let target = &model.entities[relation.target];
        object = object.field(match relation.kind {
            RelationKind::ManyToOne => {
                // Role rules can hide the related row from a caller.
                let nullable =
                    entity.fields[relation.local_field].nullable || !model.policy.is_empty();
                let ty = if nullable {
                    TypeRef::named(&target.type_name)
                } else {
                    TypeRef::named_nn(&target.type_name)
                };
                Field::new(&relation.name, ty, nested_object)
            }
            RelationKind::OneToMany => list_arguments(
                Field::new(
                    &relation.name,
                    TypeRef::named_nn_list_nn(&target.type_name),
                    nested_list,
                ),
                target,
            ),
        });
    }
    object
}

fn page(entity: &Entity) -> Object {
    Object::new(names::page_type(entity))
        .description("A page of rows with the cursors of its first and last row")
        .field(Field::new(
            "items",
            TypeRef::named_nn_list_nn(&entity.type_name),
            nested_list,
        ))
        .field(scalar_field(
            "startAfter",
            TypeRef::named(TypeRef::STRING),
            false,
        ))
        .field(scalar_field(
            "endBefore",
            TypeRef::named(TypeRef::STRING),
            false,
        ))
}

/// The row JSON a resolver's parent carries.
fn parent<'a>(ctx: &ResolverContext<'a>) -> async_graphql::Result<&'a serde_json::Value> {
    ctx.parent_value.try_downcast_ref::<serde_json::Value>()
}

/// The JSON key a relation's data sits under: its response key, so aliases of one relation
/// with different arguments stay apart.
pub fn relation_key(ctx: &ResolverContext<'_>) -> String {
    let field = ctx.ctx.field();
    format!("{RELATION_PREFIX}{}", field.alias().unwrap_or(field.name()))
}

/// A column (or `total`, `startAfter`, ...) read from the parent row. IDs travel as strings.
fn scalar_field(name: &str, ty: TypeRef, id: bool) -> Field {
    let key = name.to_string();
    Field::new(name, ty, move |ctx| {
        let key = key.clone();
        FieldFuture::new(async move {
            let value = match parent(&ctx)?.get(&key) {
                None | Some(serde_json::Value::Null) => return Ok(None),
                Some(serde_json::Value::Number(n)) if id => {
                    async_graphql::Value::String(n.to_string())
                }
                Some(other) => async_graphql::Value::from_json(other.clone())?,
            };
            Ok(Some(FieldValue::value(value)))
        })
    })
}

fn nested_object(ctx: ResolverContext<'_>) -> FieldFuture<'_> {
    FieldFuture::new(async move {
        let key = relation_key(&ctx);
        Ok(match parent(&ctx)?.get(&key) {
            None | Some(serde_json::Value::Null) => None,
            Some(object) => Some(FieldValue::borrowed_any(object)),
        })
    })
}

fn nested_list(ctx: ResolverContext<'_>) -> FieldFuture<'_> {
    FieldFuture::new(async move {
        let key = if ctx.ctx.field().name() == "items" {
            "items".to_string()
        } else {
            relation_key(&ctx)
        };
        let rows = parent(&ctx)?.get(&key).and_then(|v| v.as_array());
        let items = rows.map(|rows| {
            rows.iter()
                .map(|row| FieldValue::borrowed_any(row))
                .collect::<Vec<_>>()
        });
        Ok(Some(FieldValue::list(items.unwrap_or_default())))
    })
}

fn where_input(entity: &Entity) -> InputObject {
    let name = names::where_type(entity);
    let mut input = InputObject::new(&name)
        .description(format!("Conditions on `{}`; all must hold", entity.table));
    for (index, field) in entity.fields.iter().enumerate() {
        input = input.field(InputValue::new(
            &field.name,
            TypeRef::named(names::filter_type(names::scalar(entity, index))),
        ));
    }
    input
        .field(
            InputValue::new("or", TypeRef::named_nn_list(&name))
                .description("At least one must hold"),
        )
        .field(
            InputValue::new("and", TypeRef::named_nn_list(&name))
                .description("Every one must hold"),
        )
}

fn order_input(entity: &Entity) -> InputObject {
    InputObject::new(names::order_type(entity))
        .field(InputValue::new(
            "field",
            TypeRef::named_nn(names::field_enum(entity)),
        ))
        .field(InputValue::new(
            "direction",
            TypeRef::named("OrderDirection"),
        ))
}

fn field_enum(entity: &Entity) -> Enum {
    entity
        .fields
        .iter()
        .fold(Enum::new(names::field_enum(entity)), |e, field| {
            e.item(&field.name)
        })
}

fn row_input(entity: &Entity) -> InputObject {
    let mut input = InputObject::new(names::input_type(entity))
        .description(format!("Field values of a `{}` row", entity.table));
    for (index, field) in entity.fields.iter().enumerate() {
        if field.writable() {
            input = input.field(InputValue::new(
                &field.name,
                TypeRef::named(names::scalar(entity, index)),
            ));
        }
    }
    input
}

fn filter_input(scalar: &str) -> InputObject {
    let mut input = InputObject::new(names::filter_type(scalar))
        .description(format!("Conditions on a {scalar} field"));
    if scalar == "JSON" {
        // JSON values cannot be compared by the databases, only tested for null.
        return input.field(InputValue::new("isNull", TypeRef::named(TypeRef::BOOLEAN)));
    }
    for op in ["eq", "neq", "gt", "gte", "lt", "lte"] {
        input = input.field(InputValue::new(op, TypeRef::named(scalar)));
    }
    if scalar == TypeRef::STRING {
        input = input
            .field(InputValue::new("like", TypeRef::named(scalar)))
            .field(InputValue::new("ilike", TypeRef::named(scalar)));
    }
    input
        .field(InputValue::new("in", TypeRef::named_nn_list(scalar)))
        .field(InputValue::new("nin", TypeRef::named_nn_list(scalar)))
        .field(InputValue::new("isNull", TypeRef::named(TypeRef::BOOLEAN)))
}

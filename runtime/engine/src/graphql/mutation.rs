//! Root mutation fields of read-write tables: `save<Type>`, `insert<Plural>`,
//! `update<Plural>` and `delete<Plural>`. Each is one transaction: one statement, plus a read of
//! the written rows when the selection asks for relations.

use async_graphql::dynamic::{Field, InputValue, ResolverContext, TypeRef};

use super::args::{self, ListArgs};
use super::names;
use super::query::{api, arguments, parse, resolve};
use super::selection;
use crate::api::ApiContext;
use crate::error::{ApiError, ErrorCode};
use crate::model::Entity;
use crate::query::{Filter, Operand, Operation, RowUse, Value, row_values};

pub fn fields(entity: &Entity, index: usize) -> Vec<Field> {
    let input = names::input_type(entity);
    let where_type = names::where_type(entity);
    let rows = TypeRef::named_nn_list_nn(&entity.type_name);
    vec![
        Field::new(
            names::save(entity),
            TypeRef::named(&entity.type_name),
            move |ctx| resolve(ctx, move |ctx| save(ctx, index)),
        )
        .description("Inserts a row, or updates the named fields of the row with the input's key")
        .argument(InputValue::new("input", TypeRef::named_nn(&input))),
        Field::new(names::insert(entity), rows.clone(), move |ctx| {
            resolve(ctx, move |ctx| insert(ctx, index))
        })
        .description("Inserts every input row in one statement")
        .argument(InputValue::new("inputs", TypeRef::named_nn_list_nn(&input))),
        Field::new(names::update(entity), rows.clone(), move |ctx| {
            resolve(ctx, move |ctx| update(ctx, index))
        })
        .description(
            "Sets the input's fields on every row the filter matches; a filter is required",
        )
        .argument(InputValue::new("where", TypeRef::named_nn(&where_type)))
        .argument(InputValue::new("input", TypeRef::named_nn(&input))),
        Field::new(names::delete(entity), rows, move |ctx| {
            resolve(ctx, move |ctx| delete(ctx, index))
        })
        .description("Deletes every row the filter matches and answers them; a filter is required")
        .argument(InputValue::new("where", TypeRef::named_nn(&where_type))),
    ]
}

fn required<'a>(
    arguments: &'a [(async_graphql::Name, async_graphql::Value)],
    name: &str,
) -> Result<&'a async_graphql::Value, ApiError> {
    args::named(arguments, name)
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidValue, format!("`{name}` is required")))
}

fn required_filter(
    entity: &Entity,
    arguments: &[(async_graphql::Name, async_graphql::Value)],
) -> Result<Filter, ApiError> {
    let filter = args::filter(entity, required(arguments, "where")?)?;
    if filter.is_empty() {
        return Err(ApiError::new(
            ErrorCode::FilterRequired,
            format!(
                "changing many `{}` rows needs a non-empty `where`",
                entity.plural
            ),
        ));
    }
    Ok(filter)
}

async fn save(
    ctx: ResolverContext<'_>,
    index: usize,
) -> Result<Option<serde_json::Value>, ApiError> {
    let api = api(&ctx)?;
    let entity = &api.model().entities[index];
    let arguments = arguments(&ctx)?;
    let row = args::row(entity, required(&arguments, "input")?)?;
    let preset = api.preset_fields(index);
    let insert = RowUse::Insert { preset: &preset };
    let key = entity
        .primary_key
        .filter(|&k| row.contains_key(&entity.fields[k].name));
    let operation = match key {
        None => Operation::Insert {
            entity: index,
            rows: vec![row_values(entity, &row, insert)?],
            returning: api.readable_fields(index),
        },
        Some(key) => match row_values(entity, &row, insert) {
            Ok(values) => Operation::Upsert {
                entity: index,
                key_field: key,
                values,
                filter: Filter::all(),
                returning: api.readable_fields(index),
            },
            Err(_) => {
                let values = row_values(entity, &row, RowUse::Update)?;
                let id = values
                    .iter()
                    .find(|(f, _)| *f == key)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Value::Null);
                Operation::Update {
                    entity: index,
                    filter: Filter::eq(key, id),
                    values,
                    returning: api.readable_fields(index),
                }
            }
        },
    };
    let rows = write(&ctx, api, index, operation).await?;
    Ok(rows.as_array().and_then(|r| r.first()).cloned())
}

async fn insert(
    ctx: ResolverContext<'_>,
    index: usize,
) -> Result<Option<serde_json::Value>, ApiError> {
    let api = api(&ctx)?;
    let entity = &api.model().entities[index];
    let arguments = arguments(&ctx)?;
    let async_graphql::Value::List(inputs) = required(&arguments, "inputs")? else {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "`inputs` must be a list",
        ));
    };
    if inputs.is_empty() {
        return Ok(Some(serde_json::json!([])));
    }
    let preset = api.preset_fields(index);
    let rows = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            args::row(entity, input)
                .and_then(|row| row_values(entity, &row, RowUse::Insert { preset: &preset }))
                .map_err(|e| ApiError::new(e.code, format!("inputs[{i}]: {}", e.message)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let operation = Operation::Insert {
        entity: index,
        rows,
        returning: api.readable_fields(index),
    };
    write(&ctx, api, index, operation).await.map(Some)
}

async fn update(
    ctx: ResolverContext<'_>,
    index: usize,
) -> Result<Option<serde_json::Value>, ApiError> {
    let api = api(&ctx)?;
    let entity = &api.model().entities[index];
    let arguments = arguments(&ctx)?;
    let filter = required_filter(entity, &arguments)?;
    let row = args::row(entity, required(&arguments, "input")?)?;
    let operation = Operation::Update {
        entity: index,
        filter,
        values: row_values(entity, &row, RowUse::Update)?,
        returning: api.readable_fields(index),
    };
    write(&ctx, api, index, operation).await.map(Some)
}

async fn delete(
    ctx: ResolverContext<'_>,
    index: usize,
) -> Result<Option<serde_json::Value>, ApiError> {
    let api = api(&ctx)?;
    let entity = &api.model().entities[index];
    let arguments = arguments(&ctx)?;
    let operation = Operation::Delete {
        entity: index,
        filter: required_filter(entity, &arguments)?,
        returning: api.readable_fields(index),
    };
    write(&ctx, api, index, operation).await.map(Some)
}

/// Runs a write and answers the written rows as the selection wants them: straight from the
/// write when it asks only for columns; otherwise, in one transaction, with a read of the rows
/// and their relations (before a delete, after any other write).
async fn write(
    ctx: &ResolverContext<'_>,
    api: &ApiContext,
    index: usize,
    operation: Operation,
) -> Result<serde_json::Value, ApiError> {
    let model = api.model();
    let entity = &model.entities[index];
    let mut read = selection::select(
        model,
        index,
        ctx.ctx.field().selection_set(),
        &ListArgs::default(),
        api.limits(),
    )?;
    if read.relations.is_empty() {
        let json = api.rows(&operation).await?;
        return parse(&json);
    }
    let key = entity.primary_key.ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidQuery,
            format!(
                "`{}` has no primary key: its written rows cannot be read back with relations",
                entity.plural
            ),
        )
    })?;
    let mut tx = api.begin().await?;
    let rows = if let Operation::Delete { filter, .. } = &operation {
        read.filter = filter.clone();
        let list = Operation::List {
            select: read,
            count: false,
            parent: None,
        };
        let rows = api.rows_in(&mut tx, &list).await?;
        api.run_in(&mut tx, &operation).await?;
        parse(&rows)?
    } else {
        let written = api.rows_in(&mut tx, &operation).await?;
        let keys = crate::api::written_keys(entity, key, &written)?;
        read.filter = Filter::Condition(crate::query::Condition {
            field: key,
            op: crate::query::Op::In,
            operand: Operand::Many(keys),
        });
        let list = Operation::List {
            select: read,
            count: false,
            parent: None,
        };
        parse(&api.rows_in(&mut tx, &list).await?)?
    };
    api.commit(tx).await?;
    Ok(rows)
}

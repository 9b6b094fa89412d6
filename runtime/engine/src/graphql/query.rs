//! Root query fields per table: `get<Type>ById`, `<plural>`, `<plural>Page` and
//! `count<Plural>`. Each compiles its whole selection, nested relations included, into one
//! statement.

use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputValue, ResolverContext, TypeRef,
};

use super::args::{self, ListArgs};
use super::errors::to_graphql;
use super::names;
use super::selection;
use super::types::list_arguments;
use crate::api::ApiContext;
use crate::error::{ApiError, ErrorCode};
use crate::model::Entity;
use crate::query::{Filter, Operation, cursor};

pub fn fields(entity: &Entity, index: usize) -> Vec<Field> {
    let mut fields = Vec::new();
    if let Some(key) = entity.primary_key {
        fields.push(
            Field::new(
                names::get_by_id(entity),
                TypeRef::named(&entity.type_name),
                move |ctx| resolve(ctx, move |ctx| get_by_id(ctx, index, key)),
            )
            .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID))),
        );
    }
    fields.push(list_arguments(
        Field::new(
            names::list(entity),
            TypeRef::named_nn_list_nn(&entity.type_name),
            move |ctx| resolve(ctx, move |ctx| list(ctx, index)),
        ),
        entity,
    ));
    fields.push(
        Field::new(
            names::page(entity),
            TypeRef::named_nn(names::page_type(entity)),
            move |ctx| resolve(ctx, move |ctx| page(ctx, index)),
        )
        .argument(InputValue::new(
            "where",
            TypeRef::named(names::where_type(entity)),
        ))
        .argument(InputValue::new(
            "orderBy",
            TypeRef::named_nn_list(names::order_type(entity)),
        ))
        .argument(InputValue::new("limit", TypeRef::named(TypeRef::INT)))
        .argument(InputValue::new(
            "startAfter",
            TypeRef::named(TypeRef::STRING),
        ))
        .argument(InputValue::new(
            "endBefore",
            TypeRef::named(TypeRef::STRING),
        )),
    );
    fields.push(
        Field::new(
            names::count(entity),
            TypeRef::named_nn("Count"),
            move |ctx| resolve(ctx, move |ctx| count(ctx, index)),
        )
        .argument(InputValue::new(
            "where",
            TypeRef::named(names::where_type(entity)),
        )),
    );
    fields
}

/// Runs a root resolver that answers row JSON, mapping engine errors to coded GraphQL errors.
pub fn resolve<'a, F, Fut>(ctx: ResolverContext<'a>, run: F) -> FieldFuture<'a>
where
    F: FnOnce(ResolverContext<'a>) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Option<serde_json::Value>, ApiError>> + Send + 'a,
{
    FieldFuture::new(async move {
        match run(ctx).await {
            Ok(Some(serde_json::Value::Array(rows))) => Ok(Some(FieldValue::list(
                rows.into_iter().map(FieldValue::owned_any),
            ))),
            Ok(Some(json)) => Ok(Some(FieldValue::owned_any(json))),
            Ok(None) => Ok(None),
            Err(error) => Err(to_graphql(error)),
        }
    })
}

pub fn api<'a>(ctx: &ResolverContext<'a>) -> Result<&'a ApiContext, ApiError> {
    ctx.data::<ApiContext>()
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.message))
}

pub fn arguments(
    ctx: &ResolverContext<'_>,
) -> Result<Vec<(async_graphql::Name, async_graphql::Value)>, ApiError> {
    ctx.ctx
        .field()
        .arguments()
        .map_err(|e| ApiError::new(ErrorCode::InvalidValue, e.message))
}

pub fn parse(json: &str) -> Result<serde_json::Value, ApiError> {
    serde_json::from_str(json).map_err(|e| ApiError::internal(&e))
}

async fn get_by_id(
    ctx: ResolverContext<'_>,
    index: usize,
    key: usize,
) -> Result<Option<serde_json::Value>, ApiError> {
    let api = api(&ctx)?;
    let model = api.model();
    let entity = &model.entities[index];
    let arguments = arguments(&ctx)?;
    let id = args::named(&arguments, "id")
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidValue, "`id` is required"))?;
    let id = args::value(entity, key, id)?;
    let mut select = selection::select(
        model,
        index,
        ctx.ctx.field().selection_set(),
        &ListArgs::default(),
        api.limits(),
    )?;
    select.filter = Filter::eq(key, id);
    select.order.clear();
    let row = api.run(&Operation::One { select }).await?;
    row.map(|r| parse(&r.json)).transpose()
}

async fn list(
    ctx: ResolverContext<'_>,
    index: usize,
) -> Result<Option<serde_json::Value>, ApiError> {
    let api = api(&ctx)?;
    let model = api.model();
    let list = args::list_args(&model.entities[index], &arguments(&ctx)?, api.limits())?;
    let mut select = selection::select(
        model,
        index,
        ctx.ctx.field().selection_set(),
        &list,
        api.limits(),
    )?;
    select.limit = Some(list.limit.unwrap_or(api.limits().default_limit));
    let operation = Operation::List {
        select,
        count: false,
        parent: None,
    };
    let row = api.run(&operation).await?;
    row.map(|r| parse(&r.json)).transpose()
}

async fn page(
    ctx: ResolverContext<'_>,
    index: usize,
) -> Result<Option<serde_json::Value>, ApiError> {
    let api = api(&ctx)?;
    let model = api.model();
    let entity = &model.entities[index];
    let list = args::list_args(entity, &arguments(&ctx)?, api.limits())?;
    let field = ctx.ctx.field();
    let items: Vec<_> = field
        .selection_set()
        .filter(|f| f.name() == "items")
        .collect();
    let children: Vec<_> = items.iter().flat_map(|f| f.selection_set()).collect();
    let mut select = selection::select(model, index, children.into_iter(), &list, api.limits())?;
    cursor::check_order(entity, &select.order)?;
    for order in select.order.clone() {
        if !select.fields.contains(&order.field) {
            select.fields.push(order.field);
        }
    }
    select.keyset = args::keyset(entity, &select.order, &list)?;
    select.limit = Some(list.limit.unwrap_or(api.limits().default_limit));
    let order = select.order.clone();
    let backwards = select.keyset.as_ref().is_some_and(|k| k.before);
    let operation = Operation::List {
        select,
        count: false,
        parent: None,
    };
    let json = api.rows(&operation).await?;
    let page = cursor::page(&json, entity, &order, backwards)?;
    Ok(Some(serde_json::json!({
        "items": parse(&page.body)?,
        "startAfter": page.start_after,
        "endBefore": page.end_before,
    })))
}

async fn count(
    ctx: ResolverContext<'_>,
    index: usize,
) -> Result<Option<serde_json::Value>, ApiError> {
    let api = api(&ctx)?;
    let entity = &api.model().entities[index];
    let arguments = arguments(&ctx)?;
    let filter = match args::named(&arguments, "where") {
        Some(value) => args::filter(entity, value)?,
        None => Filter::all(),
    };
    let row = api
        .run(&Operation::Count {
            entity: index,
            filter,
        })
        .await?;
    let total = row.map(|r| parse(&r.json)).transpose()?.unwrap_or_default();
    Ok(Some(serde_json::json!({ "total": total })))
}

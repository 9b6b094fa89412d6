//! The generated REST handlers: each turns a request into one operation and the operation's
//! JSON into the response.

use actix_web::http::header;
use actix_web::web::Payload;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::Value as Json;

use super::body;
use super::params::{self, Accepts, CursorStart, Params};
use super::precondition::{self, Guard};
use crate::api::ApiContext;
use crate::error::{ApiError, ErrorCode};
use crate::model::{Entity, RelationKind};
use crate::query::{
    Filter, Operation, Order, ParentGuard, RelationSelect, RowUse, Select, Value, coerce_text,
    cursor, row_values,
};

type Reply = Result<HttpResponse, ApiError>;

fn json_response(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(body)
}

fn entity(ctx: &ApiContext, index: usize) -> &Entity {
    &ctx.model().entities[index]
}

/// The key in the path, checked against the primary key's type.
fn path_key(req: &HttpRequest, entity: &Entity) -> Result<(usize, Value), ApiError> {
    let key = entity
        .primary_key
        .expect("item routes exist only for keyed tables");
    let raw = req.match_info().get("id").unwrap_or_default();
    Ok((key, coerce_text(&entity.fields[key], raw)?))
}

/// The row of an item route in the product's words: `product with key 2`.
fn row_name(entity: &Entity, req: &HttpRequest) -> String {
    let id = req.match_info().get("id").unwrap_or_default();
    format!("{} with key {id}", entity.name)
}

fn not_found(entity: &Entity, req: &HttpRequest) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("{} not found", row_name(entity, req)),
    )
}

/// The read of `GET /<plural>/{id}`: the row with the key, with `fields` or else every field the
/// caller may read.
fn item_select(
    ctx: &ApiContext,
    index: usize,
    key: usize,
    id: Value,
    fields: Option<Vec<usize>>,
) -> Select {
    let mut select = Select::all_fields(index, 0);
    select.fields = fields.unwrap_or_else(|| ctx.readable_fields(index));
    select.filter = Filter::eq(key, id);
    select
}

/// The request's `If-Match` on the row of an item write, expecting the row as the caller's
/// `GET` reads it; `None` without the header.
fn guard(
    req: &HttpRequest,
    ctx: &ApiContext,
    index: usize,
    key: usize,
    id: &Value,
) -> Result<Option<Guard>, ApiError> {
    let Some(condition) = precondition::if_match(req)? else {
        return Ok(None);
    };
    Ok(Some(Guard {
        condition,
        row: item_select(ctx, index, key, id.clone(), None),
        name: row_name(entity(ctx, index), req),
    }))
}

/// The one object of a written-rows array, or `None` when nothing was written.
fn single(json: &str) -> Option<String> {
    let inner = json.trim().strip_prefix('[')?.strip_suffix(']')?.trim();
    (!inner.is_empty()).then(|| inner.to_string())
}

/// The select of a list: the requested page, ordered deterministically (the primary key breaks
/// ties), with keyset bounds in cursor mode.
fn list_select(
    ctx: &ApiContext,
    index: usize,
    params: &Params,
) -> Result<(Select, Vec<Order>), ApiError> {
    let entity = entity(ctx, index);
    let mut order = params.order.clone();
    if let Some(key) = entity.primary_key
        && !order.iter().any(|o| o.field == key)
    {
        order.push(Order {
            field: key,
            descending: false,
        });
    }
    let mut fields = params
        .fields
        .clone()
        .unwrap_or_else(|| ctx.readable_fields(index));
    let mut keyset = None;
    if params.cursor {
        cursor::check_order(entity, &order)?;
        for o in &order {
            if !fields.contains(&o.field) {
                fields.push(o.field);
            }
        }
        keyset = match &params.start {
            Some(CursorStart::After(c)) => Some(cursor::decode(c, entity, &order, false)?),
            Some(CursorStart::Before(c)) => Some(cursor::decode(c, entity, &order, true)?),
            None => None,
        };
    }
    let select = Select {
        entity: index,
        fields,
        relations: Vec::new(),
        filter: params.filter.clone(),
        order: order.clone(),
        limit: Some(params.limit),
        offset: params.offset,
        keyset,
    };
    Ok((select, order))
}

async fn respond_list(
    ctx: &ApiContext,
    index: usize,
    params: Params,
    extra: Option<Filter>,
    parent: Option<ParentGuard>,
    req: &HttpRequest,
) -> Reply {
    let entity = entity(ctx, index);
    let (mut select, order) = list_select(ctx, index, &params)?;
    if let Some(extra) = extra {
        select.filter = Filter::And(vec![extra, select.filter]);
    }
    let backwards = select.keyset.as_ref().is_some_and(|k| k.before);
    let parent_entity = parent.as_ref().map(|p| &ctx.model().entities[p.entity]);
    let operation = Operation::List {
        select,
        count: params.total_count,
        parent,
    };
    let Some(row) = ctx.run(&operation).await? else {
        let parent_entity = parent_entity.unwrap_or(entity);
        return Err(not_found(parent_entity, req));
    };
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CONTENT_TYPE, "application/json"));
    if let Some(count) = row.count {
        response.insert_header(("X-Total-Count", count.to_string()));
    }
    if !params.cursor {
        return Ok(response.body(row.json));
    }
    let page = cursor::page(&row.json, entity, &order, backwards)?;
    if let Some(c) = page.start_after {
        response.insert_header(("X-Start-After", c));
    }
    if let Some(c) = page.end_before {
        response.insert_header(("X-End-Before", c));
    }
    Ok(response.body(page.body))
}

/// `GET /<plural>`
pub async fn list(req: HttpRequest, ctx: ApiContext, index: usize) -> Reply {
    let params = params::parse(
        req.query_string(),
        entity(&ctx, index),
        Accepts::List,
        ctx.limits(),
    )?;
    respond_list(&ctx, index, params, None, None, &req).await
}

/// `GET /<plural>/{id}`: the row, with its `ETag` unless `fields` picks some of its fields;
/// 304 when `If-None-Match` names that tag (or is `*`).
pub async fn get(req: HttpRequest, ctx: ApiContext, index: usize) -> Reply {
    let entity = entity(&ctx, index);
    let params = params::parse(req.query_string(), entity, Accepts::One, ctx.limits())?;
    let (key, id) = path_key(&req, entity)?;
    let if_none_match = precondition::if_none_match(&req)?;
    let whole_row = params.fields.is_none();
    let select = item_select(&ctx, index, key, id, params.fields);
    match ctx.run(&Operation::One { select }).await? {
        Some(row) => Ok(precondition::read_reply(
            row.json,
            whole_row,
            if_none_match.as_ref(),
        )),
        None => Err(not_found(entity, &req)),
    }
}

/// `POST /<plural>`: one object, or an array inserted in one statement.
pub async fn create(req: HttpRequest, payload: Payload, ctx: ApiContext, index: usize) -> Reply {
    let entity = entity(&ctx, index);
    params::parse(req.query_string(), entity, Accepts::Nothing, ctx.limits())?;
    let json = body::read_json(&req, payload, &ctx).await?;
    let preset = ctx.preset_fields(index);
    let insert = RowUse::Insert { preset: &preset };
    let (rows, many) = match &json {
        Json::Array(items) if items.is_empty() => {
            return Err(ApiError::new(
                ErrorCode::InvalidBody,
                "the array is empty; send at least one object",
            ));
        }
        Json::Array(items) => {
            let rows = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let object = body::object(item).map_err(|e| at_row(e, i))?;
                    row_values(entity, object, insert).map_err(|e| at_row(e, i))
                })
                .collect::<Result<Vec<_>, _>>()?;
            (rows, true)
        }
        other => (
            vec![row_values(entity, body::object(other)?, insert)?],
            false,
        ),
    };
    let operation = Operation::Insert {
        entity: index,
        rows,
        returning: ctx.readable_fields(index),
    };
    let json = ctx.rows(&operation).await?;
    let created = actix_web::http::StatusCode::CREATED;
    if many {
        return Ok(json_response(created, json));
    }
    let object = single(&json).ok_or_else(|| {
        ApiError::internal(&ApiError::new(
            ErrorCode::Internal,
            "insert answered no row",
        ))
    })?;
    let mut response = HttpResponse::build(created);
    response.insert_header((header::CONTENT_TYPE, "application/json"));
    if let Some(location) = location(entity, &object) {
        response.insert_header((header::LOCATION, location));
    }
    Ok(response.body(object))
}

fn at_row(error: ApiError, row: usize) -> ApiError {
    ApiError::new(error.code, format!("row {row}: {}", error.message))
}

/// `/<plural>/<key>` of a created row.
fn location(entity: &Entity, object: &str) -> Option<String> {
    let key = &entity.fields[entity.primary_key?].name;
    let row: serde_json::Map<String, Json> = serde_json::from_str(object).ok()?;
    let id = match row.get(key)? {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(format!("/{}/{id}", entity.plural))
}

fn key_in_body_matches(
    entity: &Entity,
    values: &[(usize, Value)],
    key: usize,
    id: &Value,
) -> Result<(), ApiError> {
    match values.iter().find(|(i, _)| *i == key) {
        Some((_, value)) if value != id => Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!(
                "the body's `{}` differs from the key in the path",
                entity.fields[key].name
            ),
        )),
        _ => Ok(()),
    }
}

/// `PUT /<plural>/{id}`: inserts the row, or updates the fields the body names; with `If-Match`,
/// only an existing row of that version. Answers the row with its `ETag`.
pub async fn upsert(req: HttpRequest, payload: Payload, ctx: ApiContext, index: usize) -> Reply {
    let entity = entity(&ctx, index);
    params::parse(req.query_string(), entity, Accepts::Nothing, ctx.limits())?;
    let (key, id) = path_key(&req, entity)?;
    let guard = guard(&req, &ctx, index, key, &id)?;
    let json = body::read_json(&req, payload, &ctx).await?;
    let preset = ctx.preset_fields(index);
    let mut values = row_values(
        entity,
        body::object(&json)?,
        RowUse::Insert { preset: &preset },
    )?;
    key_in_body_matches(entity, &values, key, &id)?;
    if !values.iter().any(|(i, _)| *i == key) {
        values.insert(0, (key, id));
    }
    let operation = Operation::Upsert {
        entity: index,
        key_field: key,
        values,
        filter: Filter::all(),
        returning: ctx.readable_fields(index),
    };
    let json = precondition::write(&ctx, guard, &operation).await?;
    let object = single(&json).ok_or_else(|| not_found(entity, &req))?;
    Ok(precondition::written_reply(object))
}

/// `PATCH /<plural>/{id}`: updates the fields the body names; with `If-Match`, only in the row
/// of that version. Answers the row with its `ETag`.
pub async fn patch(req: HttpRequest, payload: Payload, ctx: ApiContext, index: usize) -> Reply {
    let entity = entity(&ctx, index);
    params::parse(req.query_string(), entity, Accepts::Nothing, ctx.limits())?;
    let (key, id) = path_key(&req, entity)?;
    let guard = guard(&req, &ctx, index, key, &id)?;
    let json = body::read_json(&req, payload, &ctx).await?;
    let values = row_values(entity, body::object(&json)?, RowUse::Update)?;
    key_in_body_matches(entity, &values, key, &id)?;
    let operation = Operation::Update {
        entity: index,
        filter: Filter::eq(key, id),
        values,
        returning: ctx.readable_fields(index),
    };
    let json = precondition::write(&ctx, guard, &operation).await?;
    let object = single(&json).ok_or_else(|| not_found(entity, &req))?;
    Ok(precondition::written_reply(object))
}

/// `DELETE /<plural>/{id}`: answers the deleted row; with `If-Match`, deletes only the row of
/// that version.
pub async fn delete(req: HttpRequest, ctx: ApiContext, index: usize) -> Reply {
    let entity = entity(&ctx, index);
    params::parse(req.query_string(), entity, Accepts::Nothing, ctx.limits())?;
    let (key, id) = path_key(&req, entity)?;
    let guard = guard(&req, &ctx, index, key, &id)?;
    let operation = Operation::Delete {
        entity: index,
        filter: Filter::eq(key, id),
        returning: ctx.readable_fields(index),
    };
    let json = precondition::write(&ctx, guard, &operation).await?;
    let object = single(&json).ok_or_else(|| not_found(entity, &req))?;
    Ok(json_response(actix_web::http::StatusCode::OK, object))
}

fn required_filter(
    req: &HttpRequest,
    ctx: &ApiContext,
    entity: &Entity,
    verb: &str,
) -> Result<Filter, ApiError> {
    let params = params::parse(req.query_string(), entity, Accepts::Filter, ctx.limits())?;
    if params.filter.is_empty() {
        return Err(ApiError::new(
            ErrorCode::FilterRequired,
            format!(
                "{verb} on /{} needs at least one where.<field>.<op> filter",
                entity.plural
            ),
        ));
    }
    Ok(params.filter)
}

/// `PUT /<plural>?where...`: sets the body's fields on every matching row.
pub async fn bulk_update(
    req: HttpRequest,
    payload: Payload,
    ctx: ApiContext,
    index: usize,
) -> Reply {
    let entity = entity(&ctx, index);
    let filter = required_filter(&req, &ctx, entity, "a bulk update")?;
    let json = body::read_json(&req, payload, &ctx).await?;
    let values = row_values(entity, body::object(&json)?, RowUse::Update)?;
    let operation = Operation::Update {
        entity: index,
        filter,
        values,
        returning: ctx.readable_fields(index),
    };
    let json = ctx.rows(&operation).await?;
    Ok(json_response(actix_web::http::StatusCode::OK, json))
}

/// `DELETE /<plural>?where...`: deletes every matching row and answers them.
pub async fn bulk_delete(req: HttpRequest, ctx: ApiContext, index: usize) -> Reply {
    let entity = entity(&ctx, index);
    let filter = required_filter(&req, &ctx, entity, "a bulk delete")?;
    let operation = Operation::Delete {
        entity: index,
        filter,
        returning: ctx.readable_fields(index),
    };
    let json = ctx.rows(&operation).await?;
    Ok(json_response(actix_web::http::StatusCode::OK, json))
}

/// `GET /<plural>/{id}/<relation>`: the related object (many-to-one) or a list of the related
/// rows (one-to-many, with the list parameters).
pub async fn related(req: HttpRequest, ctx: ApiContext, index: usize, relation: usize) -> Reply {
    let source = entity(&ctx, index);
    let (key, id) = path_key(&req, source)?;
    let link = &source.relations[relation];
    let target = entity(&ctx, link.target);
    match link.kind {
        RelationKind::OneToMany => {
            let params = params::parse(req.query_string(), target, Accepts::List, ctx.limits())?;
            let parent = ParentGuard {
                entity: index,
                key_field: key,
                key: id.clone(),
                filter: Filter::all(),
            };
            let by_parent = Filter::eq(link.target_field, id);
            respond_list(
                &ctx,
                link.target,
                params,
                Some(by_parent),
                Some(parent),
                &req,
            )
            .await
        }
        RelationKind::ManyToOne => {
            let params = params::parse(req.query_string(), target, Accepts::One, ctx.limits())?;
            let mut nested = Select::all_fields(link.target, 0);
            nested.fields = params
                .fields
                .unwrap_or_else(|| ctx.readable_fields(link.target));
            let mut select = Select::all_fields(index, 0);
            select.filter = Filter::eq(key, id);
            select.relations = vec![RelationSelect {
                name: "related".into(),
                relation,
                select: nested,
            }];
            let row = ctx
                .run(&Operation::One { select })
                .await?
                .ok_or_else(|| not_found(source, &req))?;
            let mut wrapper: serde_json::Map<String, Json> =
                serde_json::from_str(&row.json).map_err(|e| ApiError::internal(&e))?;
            match wrapper.remove("related") {
                Some(object @ Json::Object(_)) => Ok(json_response(
                    actix_web::http::StatusCode::OK,
                    object.to_string(),
                )),
                _ => Err(ApiError::new(
                    ErrorCode::NotFound,
                    format!(
                        "{} with key {} has no {}",
                        source.name,
                        req.match_info().get("id").unwrap_or_default(),
                        link.name
                    ),
                )),
            }
        }
    }
}

//! Turns GraphQL arguments (already checked against the schema's types) into the neutral query
//! parts: filters, order, paging, cursors and row values, with the REST adapter's value checks.

use async_graphql::{Name, Value as Gql};

use crate::config::LimitsConfig;
use crate::error::{ApiError, ErrorCode};
use crate::model::Entity;
use crate::query::{Condition, Filter, Keyset, Op, Operand, Order, Value, coerce_json, cursor};

/// List arguments: `where`, `orderBy`, `limit`, `offset`, and the page cursors.
#[derive(Debug, Default)]
pub struct ListArgs {
    pub filter: Option<Filter>,
    pub order: Vec<Order>,
    pub limit: Option<u32>,
    pub offset: u32,
    pub start_after: Option<String>,
    pub end_before: Option<String>,
}

fn invalid(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidValue, message)
}

pub fn list_args(
    entity: &Entity,
    arguments: &[(Name, Gql)],
    limits: &LimitsConfig,
) -> Result<ListArgs, ApiError> {
    let mut args = ListArgs::default();
    for (name, value) in arguments {
        if matches!(value, Gql::Null) {
            continue;
        }
        match name.as_str() {
            "where" => args.filter = Some(filter(entity, value)?),
            "orderBy" => args.order = order(entity, value)?,
            "limit" => {
                let limit = whole(value, "limit")?;
                if limit > limits.max_limit {
                    return Err(ApiError::new(
                        ErrorCode::LimitTooLarge,
                        format!("`limit` is {limit}, the maximum is {}", limits.max_limit),
                    ));
                }
                args.limit = Some(limit);
            }
            "offset" => args.offset = whole(value, "offset")?,
            "startAfter" => args.start_after = Some(string(value, "startAfter")?),
            "endBefore" => args.end_before = Some(string(value, "endBefore")?),
            _ => {}
        }
    }
    Ok(args)
}

fn whole(value: &Gql, name: &str) -> Result<u32, ApiError> {
    match value {
        Gql::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        _ => None,
    }
    .ok_or_else(|| invalid(format!("`{name}` must be a whole number, got {value}")))
}

fn string(value: &Gql, name: &str) -> Result<String, ApiError> {
    match value {
        Gql::String(s) => Ok(s.clone()),
        other => Err(invalid(format!("`{name}` must be a string, got {other}"))),
    }
}

/// A `Where` input object: field conditions ANDed, with `or` and `and` lists.
pub fn filter(entity: &Entity, value: &Gql) -> Result<Filter, ApiError> {
    let Gql::Object(fields) = value else {
        return Err(invalid(format!("`where` must be an object, got {value}")));
    };
    let mut parts = Vec::new();
    for (key, condition) in fields {
        match (key.as_str(), condition) {
            (_, Gql::Null) => {}
            ("or" | "and", Gql::List(items)) => {
                let nested = items
                    .iter()
                    .map(|item| filter(entity, item))
                    .collect::<Result<Vec<_>, _>>()?;
                parts.push(if key == "or" {
                    Filter::Or(nested)
                } else {
                    Filter::And(nested)
                });
            }
            (name, ops) => parts.extend(conditions(entity, name, ops)?),
        }
    }
    Ok(Filter::And(parts))
}

fn conditions(entity: &Entity, name: &str, ops: &Gql) -> Result<Vec<Filter>, ApiError> {
    let field = entity.field_index(name).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnknownField,
            format!("`{}` has no field `{name}`", entity.plural),
        )
    })?;
    let Gql::Object(ops) = ops else {
        return Err(invalid(format!(
            "the condition on `{name}` must be an object of operators"
        )));
    };
    let mut out = Vec::new();
    for (op_name, operand) in ops {
        if matches!(operand, Gql::Null) {
            continue;
        }
        let op = Op::parse(op_name.as_str()).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownOperator,
                format!("unknown operator `{op_name}` on `{name}`"),
            )
        })?;
        if !op.applies_to(entity.fields[field].kind) {
            return Err(ApiError::new(
                ErrorCode::UnknownOperator,
                format!("operator `{op_name}` does not apply to `{name}`"),
            ));
        }
        let operand = match (op, operand) {
            (Op::IsNull, Gql::Boolean(flag)) => Operand::Flag(*flag),
            (Op::In | Op::Nin, Gql::List(items)) => Operand::Many(
                items
                    .iter()
                    .map(|item| value(entity, field, item))
                    .collect::<Result<_, _>>()?,
            ),
            (Op::Like | Op::Ilike, Gql::String(pattern)) => {
                Operand::One(Value::Text(pattern.clone()))
            }
            (_, single) => Operand::One(value(entity, field, single)?),
        };
        out.push(Filter::Condition(Condition { field, op, operand }));
    }
    Ok(out)
}

/// One value for a field; IDs may arrive as strings.
pub fn value(entity: &Entity, field: usize, value: &Gql) -> Result<Value, ApiError> {
    coerce_json(&entity.fields[field], &to_json(entity, field, value)?)
}

/// GraphQL input to JSON for a field: an ID given as a string becomes a number for integer keys.
pub fn to_json(entity: &Entity, field: usize, value: &Gql) -> Result<serde_json::Value, ApiError> {
    let definition = &entity.fields[field];
    if let (Gql::String(text), true) = (value, definition.kind.is_integer()) {
        return text
            .parse::<i64>()
            .map(serde_json::Value::from)
            .map_err(|_| {
                invalid(format!(
                    "invalid value for field `{}`: expected an integer id, got {text:?}",
                    definition.name
                ))
            });
    }
    value.clone().into_json().map_err(|e| {
        invalid(format!(
            "invalid value for field `{}`: {e}",
            definition.name
        ))
    })
}

fn order(entity: &Entity, value: &Gql) -> Result<Vec<Order>, ApiError> {
    let items = match value {
        Gql::List(items) => items.as_slice(),
        single => std::slice::from_ref(single),
    };
    items
        .iter()
        .map(|item| {
            let Gql::Object(map) = item else {
                return Err(invalid(format!(
                    "`orderBy` items must be objects, got {item}"
                )));
            };
            let field = match map.get("field") {
                Some(Gql::Enum(name)) => entity.field_index(name.as_str()),
                _ => None,
            }
            .ok_or_else(|| invalid("`orderBy` needs a field".to_string()))?;
            let descending =
                matches!(map.get("direction"), Some(Gql::Enum(d)) if d.as_str() == "DESC");
            Ok(Order { field, descending })
        })
        .collect()
}

/// A row input object as a JSON map for [`crate::query::row_values`].
pub fn row(
    entity: &Entity,
    value: &Gql,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let Gql::Object(fields) = value else {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("an input must be an object, got {value}"),
        ));
    };
    let mut map = serde_json::Map::new();
    for (key, item) in fields {
        let json = match entity.field_index(key.as_str()) {
            Some(field) if !matches!(item, Gql::Null) => to_json(entity, field, item)?,
            _ => item.clone().into_json().unwrap_or(serde_json::Value::Null),
        };
        map.insert(key.to_string(), json);
    }
    Ok(map)
}

/// The keyset of a page request, when it names a cursor.
pub fn keyset(
    entity: &Entity,
    order: &[Order],
    args: &ListArgs,
) -> Result<Option<Keyset>, ApiError> {
    match (&args.start_after, &args.end_before) {
        (Some(_), Some(_)) => Err(invalid(
            "give either `startAfter` or `endBefore`, not both".into(),
        )),
        (Some(c), None) => cursor::decode(c, entity, order, false).map(Some),
        (None, Some(c)) => cursor::decode(c, entity, order, true).map(Some),
        (None, None) => Ok(None),
    }
}

/// A named argument, unless absent or null.
pub fn named<'a>(arguments: &'a [(Name, Gql)], name: &str) -> Option<&'a Gql> {
    arguments
        .iter()
        .find(|(n, v)| n.as_str() == name && !matches!(v, Gql::Null))
        .map(|(_, v)| v)
}

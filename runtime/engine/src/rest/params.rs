//! The REST query-string grammar, parsed strictly: anything unknown is a 400 that names it.
//!
//! ```text
//! query     = param *("&" param)
//! param     = "limit=" uint                      rows per page (default and maximum in config)
//!           | "offset=" uint                     rows to skip
//!           | "fields=" field *("," field)       which fields each row carries
//!           | "totalCount=" bool                 adds X-Total-Count: rows the filter matches
//!           | "cursor=" bool                     adds X-Start-After / X-End-Before cursors
//!           | "startAfter=" cursor               the page after a row (from X-Start-After)
//!           | "endBefore=" cursor                the page before a row (from X-End-Before)
//!           | "where." field "." op "=" value    a condition; conditions are ANDed
//!           | "where.or=(" cond *("|" cond) ")"  one group of ORed conditions
//!           | "orderby." field "=" ("asc" | "desc")   repeatable, in priority order
//! cond      = field "." op "=" value
//! op        = eq | neq | gt | gte | lt | lte | like | ilike | in | nin | isNull
//! ```
//!
//! `in`/`nin` take comma-separated values; `isNull` takes `true` or `false`. Fields are the
//! camelCase API names (snake_case column names are accepted too). Values are checked against
//! the column type. Examples:
//! `/customers?where.name.like=Ada%25&orderby.createdAt=desc&limit=20`,
//! `/invoices?where.or=(status.eq=paid|status.eq=void)&totalCount=true`.

use crate::config::LimitsConfig;
use crate::error::{ApiError, ErrorCode};
use crate::model::Entity;
use crate::query::{Condition, Filter, Op, Operand, Order, coerce_text};

/// Which parameters a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepts {
    /// Lists: everything.
    List,
    /// Single rows and relation objects: `fields` only.
    One,
    /// Bulk update and delete: `where.*` only.
    Filter,
    /// Creates and item writes: nothing.
    Nothing,
}

/// Where a list page starts.
#[derive(Debug, Clone, PartialEq)]
pub enum CursorStart {
    After(String),
    Before(String),
}

/// A parsed query string.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub filter: Filter,
    pub order: Vec<Order>,
    pub limit: u32,
    pub offset: u32,
    pub fields: Option<Vec<usize>>,
    pub total_count: bool,
    pub cursor: bool,
    pub start: Option<CursorStart>,
}

/// Parses a raw query string for a route of `entity`.
pub fn parse(
    query: &str,
    entity: &Entity,
    accepts: Accepts,
    limits: &LimitsConfig,
) -> Result<Params, ApiError> {
    let mut params = Params {
        filter: Filter::all(),
        order: Vec::new(),
        limit: limits.default_limit,
        offset: 0,
        fields: None,
        total_count: false,
        cursor: false,
        start: None,
    };
    let mut conditions = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut cursor_asked = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let accepted = match key.as_ref() {
            "fields" => matches!(accepts, Accepts::List | Accepts::One),
            k if k.starts_with("where.") => matches!(accepts, Accepts::List | Accepts::Filter),
            _ => accepts == Accepts::List,
        };
        if !accepted {
            return Err(unknown_parameter(&key, accepts));
        }
        let repeatable = key.starts_with("where.") && key != "where.or";
        if !repeatable {
            if seen.iter().any(|k| *k == key) {
                return Err(invalid(format!("query parameter `{key}` is given twice")));
            }
            seen.push(key.to_string());
        }
        match key.as_ref() {
            "limit" => {
                let limit: u32 = value.parse().map_err(|_| {
                    invalid(format!("`limit` must be a whole number, got {value:?}"))
                })?;
                if limit > limits.max_limit {
                    return Err(ApiError::new(
                        ErrorCode::LimitTooLarge,
                        format!("`limit` is {limit}, the maximum is {}", limits.max_limit),
                    ));
                }
                params.limit = limit;
            }
            "offset" => {
                params.offset = value.parse().map_err(|_| {
                    invalid(format!("`offset` must be a whole number, got {value:?}"))
                })?;
            }
            "fields" => params.fields = Some(fields(entity, &value)?),
            "totalCount" => params.total_count = boolean("totalCount", &value)?,
            "cursor" => cursor_asked = Some(boolean("cursor", &value)?),
            "startAfter" | "endBefore" => {
                if params.start.is_some() {
                    return Err(invalid("give either `startAfter` or `endBefore`, not both"));
                }
                params.cursor = true;
                params.start = Some(if key == "startAfter" {
                    CursorStart::After(value.into_owned())
                } else {
                    CursorStart::Before(value.into_owned())
                });
            }
            "where.or" => conditions.push(or_group(entity, &value)?),
            k if k.starts_with("where.") => {
                conditions.push(Filter::Condition(condition(
                    entity,
                    &k["where.".len()..],
                    &value,
                )?));
            }
            k if k.starts_with("orderby.") => {
                let field = field_index(entity, &k["orderby.".len()..])?;
                let descending = match value.as_ref() {
                    "asc" => false,
                    "desc" => true,
                    other => {
                        return Err(invalid(format!("`{k}` must be asc or desc, got {other:?}")));
                    }
                };
                params.order.push(Order { field, descending });
            }
            _ => return Err(unknown_parameter(&key, accepts)),
        }
    }
    if cursor_asked == Some(false) && params.start.is_some() {
        return Err(invalid(
            "`cursor=false` contradicts `startAfter`/`endBefore`, which page by cursor",
        ));
    }
    params.cursor |= cursor_asked == Some(true);
    if params.start.is_some() && params.offset > 0 {
        return Err(invalid(
            "`offset` cannot be combined with `startAfter` or `endBefore`",
        ));
    }
    params.filter = Filter::And(conditions);
    Ok(params)
}

fn unknown_parameter(key: &str, accepts: Accepts) -> ApiError {
    let known = match accepts {
        Accepts::List => {
            "limit, offset, fields, totalCount, cursor, startAfter, endBefore, where.<field>.<op>, where.or, orderby.<field>"
        }
        Accepts::One => "fields",
        Accepts::Filter => "where.<field>.<op>, where.or",
        Accepts::Nothing => "none",
    };
    ApiError::new(
        ErrorCode::UnknownParameter,
        format!("unknown query parameter `{key}` (this route accepts: {known})"),
    )
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidValue, message)
}

fn boolean(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(invalid(format!(
            "`{name}` must be true or false, got {other:?}"
        ))),
    }
}

/// Finds a field by API or column name, or a 400 listing the fields there are.
pub fn field_index(entity: &Entity, name: &str) -> Result<usize, ApiError> {
    entity.field_index(name).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnknownField,
            format!(
                "`{}` has no field `{name}` (fields: {})",
                entity.plural,
                entity.field_names()
            ),
        )
    })
}

/// `fields=a,b`: each field once, so a row never carries more columns than the table has.
fn fields(entity: &Entity, raw: &str) -> Result<Vec<usize>, ApiError> {
    let mut fields = Vec::new();
    for name in raw.split(',').map(str::trim) {
        let field = field_index(entity, name)?;
        if fields.contains(&field) {
            return Err(invalid(format!("`fields` names `{name}` twice")));
        }
        fields.push(field);
    }
    Ok(fields)
}

/// `field.op` with its raw value.
fn condition(entity: &Entity, path: &str, raw: &str) -> Result<Condition, ApiError> {
    let (name, op_name) = path.rsplit_once('.').ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnknownOperator,
            format!("`where.{path}` names no operator: use where.<field>.<op>"),
        )
    })?;
    let field = field_index(entity, name)?;
    let op = Op::parse(op_name).ok_or_else(|| {
        let ops: Vec<&str> = Op::ALL.iter().map(|o| o.name()).collect();
        ApiError::new(
            ErrorCode::UnknownOperator,
            format!(
                "unknown operator `{op_name}` on `{name}` (operators: {})",
                ops.join(", ")
            ),
        )
    })?;
    let definition = &entity.fields[field];
    if !op.applies_to(definition.kind) {
        return Err(ApiError::new(
            ErrorCode::UnknownOperator,
            format!("operator `{op_name}` does not apply to field `{name}`"),
        ));
    }
    let operand = match op {
        Op::IsNull => Operand::Flag(boolean(&format!("where.{path}"), raw)?),
        Op::In | Op::Nin => Operand::Many(
            raw.split(',')
                .map(|item| coerce_text(definition, item))
                .collect::<Result<_, _>>()?,
        ),
        Op::Like | Op::Ilike => Operand::One(crate::query::Value::Text(raw.to_string())),
        _ => Operand::One(coerce_text(definition, raw)?),
    };
    Ok(Condition { field, op, operand })
}

/// `(a.eq=1|b.in=2,3)`.
fn or_group(entity: &Entity, raw: &str) -> Result<Filter, ApiError> {
    let inner = raw
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            invalid(format!(
                "`where.or` must look like (field.op=value|field.op=value), got {raw:?}"
            ))
        })?;
    let mut alternatives = Vec::new();
    for part in inner.split('|') {
        let (path, value) = part.split_once('=').ok_or_else(|| {
            invalid(format!(
                "`where.or` condition {part:?} must look like field.op=value"
            ))
        })?;
        alternatives.push(Filter::Condition(condition(entity, path, value)?));
    }
    Ok(Filter::Or(alternatives))
}

//! Path and query parameters of the generated routes, following the grammar of
//! [`crate::rest::params`]: `where.<field>.<op>`, `where.or`, `orderby.<field>`, `fields`,
//! `limit`, `offset`, `totalCount`, `cursor`, `startAfter`, `endBefore`; and the conditional
//! request headers of the item routes, `If-Match` and `If-None-Match`.

use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

use super::schema::{self, Carrier};
use crate::catalog::ColumnKind;
use crate::config::LimitsConfig;
use crate::model::{Entity, Field};
use crate::query::Op;

/// `base64url` without padding: the cursors of `X-Start-After` and `X-End-Before`.
const CURSOR_PATTERN: &str = "^[A-Za-z0-9_-]+$";
/// One entity tag of `If-Match` or `If-None-Match`: quoted, optionally weak (`W/`).
const ENTITY_TAG: &str = r#"(W/)?"[!#-~\u0080-\u00ff]*""#;

fn query(name: impl Into<String>, description: impl Into<String>, schema: Schema) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// A comma-separated list (`fields=a,b`, `where.id.in=1,2`), described as the text it is: a
/// string whose pattern spells out the items (none when any text is an item).
fn comma_list(
    name: impl Into<String>,
    description: impl Into<String>,
    item: Option<&str>,
) -> Parameter {
    let pattern = item.map(|item| format!("^({item})(,({item}))*$"));
    query(
        name,
        description,
        Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(pattern)
                .build(),
        ),
    )
}

/// The `{id}` of an item route: the primary key, checked against its type.
pub fn path_key(entity: &Entity, name: &str) -> Option<Parameter> {
    let key = &entity.fields[entity.primary_key?];
    Some(
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .description(Some(format!("the `{}` of the {}", key.name, entity.name)))
            .schema(Some(schema::value(key, Carrier::Query)))
            .build(),
    )
}

/// `If-None-Match` of an item `GET`.
pub fn if_none_match() -> Parameter {
    condition_header(
        "If-None-Match",
        "answer 304 Not Modified, with no body, while the row's `ETag` is one of these tags \
         (compared weakly: `W/` is ignored), or for `*` while the row exists",
    )
}

/// `If-Match` of an item `PUT`, `PATCH` or `DELETE`.
pub fn if_match() -> Parameter {
    condition_header(
        "If-Match",
        "write only while the row exists and its `ETag` is one of these tags (compared \
         strongly: a weak `W/` tag never matches), or for `*` while it exists; otherwise 412 \
         `PRECONDITION_FAILED` and nothing is written",
    )
}

/// A conditional request header: `*` or a comma-separated list of entity tags, empty list
/// elements allowed (RFC 9110 §5.6.1), as [`crate::rest`] parses it.
fn condition_header(name: &str, description: &str) -> Parameter {
    let ows = r"[ \t]*";
    let pattern = format!(
        r"^{ows}(\*|({ows},)*{ows}{ENTITY_TAG}({ows},({ows},)*{ows}{ENTITY_TAG})*({ows},)*){ows}$"
    );
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern))
                .build(),
        )))
        .build()
}

/// `fields`: which fields each row carries.
pub fn fields(entity: &Entity) -> Parameter {
    let names: Vec<String> = entity
        .fields
        .iter()
        .map(|f| regex_escape(&f.name))
        .collect();
    comma_list(
        "fields",
        format!(
            "which fields each row carries, comma-separated, each once (default: all): {}",
            entity.field_names()
        ),
        Some(&names.join("|")),
    )
}

/// Every `where.<field>.<op>` condition and the `where.or` group.
pub fn filters(entity: &Entity) -> Vec<Parameter> {
    let mut parameters = Vec::new();
    for field in &entity.fields {
        for op in Op::ALL {
            if let Some(parameter) = condition(field, op) {
                parameters.push(parameter);
            }
        }
    }
    parameters.push(or_group(entity));
    parameters
}

fn condition(field: &Field, op: Op) -> Option<Parameter> {
    let name = format!("where.{}.{}", field.name, op.name());
    let value = || Schema::Object(schema::value(field, Carrier::Query).build());
    let parameter = match op {
        Op::Eq => query(name, format!("`{}` equals", field.name), value()),
        Op::Neq => query(name, format!("`{}` differs from", field.name), value()),
        Op::Gt => query(name, format!("`{}` is greater than", field.name), value()),
        Op::Gte => query(name, format!("`{}` is at least", field.name), value()),
        Op::Lt => query(name, format!("`{}` is less than", field.name), value()),
        Op::Lte => query(name, format!("`{}` is at most", field.name), value()),
        _ if !op.applies_to(field.kind) => return None,
        Op::Like => query(
            name,
            format!(
                "`{}` matches the pattern (`%` any run, `_` one character; case-sensitive)",
                field.name
            ),
            string(),
        ),
        Op::Ilike => query(
            name,
            format!(
                "`{}` matches the pattern (`%` any run, `_` one character; case-insensitive)",
                field.name
            ),
            string(),
        ),
        Op::In | Op::Nin => {
            let verb = if op == Op::In {
                "is one of"
            } else {
                "is none of"
            };
            let item = (!field.kind.is_textual()).then(|| value_pattern(field));
            comma_list(
                name,
                format!("`{}` {verb} these values, comma-separated", field.name),
                item.as_deref(),
            )
        }
        Op::IsNull => query(
            name,
            format!("`{}` is null (true) or is not (false)", field.name),
            boolean(),
        ),
    };
    Some(parameter)
}

/// `where.or=(a.eq=1|b.in=2,3)`: one group of ORed conditions. The pattern spells out every
/// field with the operators it takes and the text its values may be.
fn or_group(entity: &Entity) -> Parameter {
    let conditions: Vec<String> = entity
        .fields
        .iter()
        .flat_map(|field| {
            let value = value_pattern(field);
            Op::ALL
                .into_iter()
                .filter(|op| op.applies_to(field.kind))
                .map(move |op| {
                    let operand = match op {
                        Op::IsNull => "(true|false)".to_string(),
                        Op::In | Op::Nin if field.kind.is_textual() => "[^|,]*(,[^|,]*)*".into(),
                        Op::In | Op::Nin => format!("{value}(,{value})*"),
                        Op::Like | Op::Ilike => "[^|]*".into(),
                        _ => value.clone(),
                    };
                    format!(r"{}\.{}={operand}", regex_escape(&field.name), op.name())
                })
        })
        .collect();
    let condition = format!("({})", conditions.join("|"));
    let pattern = format!(r"^\({condition}(\|{condition})*\)$");
    query(
        "where.or",
        "one group of ORed conditions: `(field.op=value|field.op=value)`, with the operators and \
         value rules of `where.<field>.<op>`",
        Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern))
                .build(),
        ),
    )
}

/// What the text of one value of `field` may be inside `where.or` (unanchored).
fn value_pattern(field: &Field) -> String {
    const DATE: &str = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])";
    const CLOCK: &str = "([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]+)?)?";
    match field.kind {
        // Digits short enough to stay in the column's range.
        ColumnKind::SmallInt => "[-+]?[0-9]{1,4}".into(),
        ColumnKind::Integer => "[-+]?[0-9]{1,9}".into(),
        ColumnKind::BigInt => "[-+]?[0-9]{1,18}".into(),
        ColumnKind::Float => "[-+]?[0-9]{1,15}(\\.[0-9]{1,15})?".into(),
        ColumnKind::Numeric => "[-+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)".into(),
        ColumnKind::Boolean => "(true|false)".into(),
        ColumnKind::Timestamp | ColumnKind::TimestampTz => {
            format!("{DATE}([T ]{CLOCK}(Z|[+-][0-9]{{2}}:[0-9]{{2}})?)?")
        }
        ColumnKind::Date => DATE.into(),
        ColumnKind::Time => CLOCK.into(),
        ColumnKind::Uuid => {
            "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}".into()
        }
        ColumnKind::Text | ColumnKind::Other | ColumnKind::Bytes | ColumnKind::Json => {
            "[^|]*".into()
        }
    }
}

/// The parameters of a list: filters, order, paging, fields, count and cursors.
pub fn list(entity: &Entity, limits: &LimitsConfig) -> Vec<Parameter> {
    let mut parameters = filters(entity);
    for field in &entity.fields {
        parameters.push(query(
            format!("orderby.{}", field.name),
            format!(
                "order by `{}`; several orderby parameters apply in the order given, and the \
                 primary key breaks ties",
                field.name
            ),
            Schema::Object(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["asc", "desc"]))
                    .build(),
            ),
        ));
    }
    parameters.push(fields(entity));
    parameters.push(query(
        "limit",
        format!(
            "rows per page (default {}, at most {})",
            limits.default_limit, limits.max_limit
        ),
        Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(0))
                .maximum(Some(limits.max_limit))
                .default(Some(limits.default_limit.into()))
                .build(),
        ),
    ));
    parameters.push(query(
        "offset",
        "rows to skip; not with `startAfter` or `endBefore`",
        Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(0))
                .maximum(Some(u32::MAX))
                .default(Some(0.into()))
                .build(),
        ),
    ));
    parameters.push(query(
        "totalCount",
        "adds `X-Total-Count`: the rows the filter matches",
        boolean(),
    ));
    parameters.push(query(
        "cursor",
        "keyset pagination: adds `X-Start-After` and `X-End-Before`; orders by fields that \
         cannot be null",
        boolean(),
    ));
    parameters.push(query(
        "startAfter",
        "the page after the row of this cursor (from `X-Start-After`, same orderby); not with \
         `endBefore`",
        cursor(),
    ));
    parameters.push(query(
        "endBefore",
        "the page before the row of this cursor (from `X-End-Before`, same orderby); not with \
         `startAfter`",
        cursor(),
    ));
    parameters
}

fn string() -> Schema {
    Schema::Object(ObjectBuilder::new().schema_type(Type::String).build())
}

fn boolean() -> Schema {
    Schema::Object(ObjectBuilder::new().schema_type(Type::Boolean).build())
}

fn cursor() -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(CURSOR_PATTERN))
            .build(),
    )
}

/// `text` matching itself in a regular expression.
fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escape = r"\.+*?()|[]{}^$".contains(c);
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

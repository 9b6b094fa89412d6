//! `GET /changes`: the change feed of the listener's tables, as a JSON page or a stream of
//! Server-Sent Events, with its `Change` and `ChangePage` schemas.

use serde_json::json;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{ContentBuilder, ResponseBuilder};

use super::responses::{self, json};
use super::routes::Route;
use super::schema;
use crate::events::feed::{MAX_LIMIT, PATH};
use crate::model::AppModel;

/// Component names of the feed's schemas.
pub const CHANGE: &str = "Change";
pub const CHANGE_PAGE: &str = "ChangePage";

/// The tag the feed's operation goes under.
pub const TAG: &str = "changes";

/// The feed's operation.
pub fn route() -> Route {
    let parameter = |name: &str, place: ParameterIn, description: &str, schema: Schema| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(place)
            .description(Some(description))
            .schema(Some(schema))
            .build()
    };
    let id = || from(json!({"type": "integer", "format": "int64", "minimum": 0}));
    let mut operation = OperationBuilder::new()
        .tag(TAG)
        .operation_id(Some("getChanges"))
        .summary(Some("The committed changes of this port's tables, in order"))
        .description(Some(
            "Every committed insert, update and delete, after `after` (or `Last-Event-ID`), by \
             increasing `id`; a page's `last` is the `after` of the next. With `Accept: \
             text/event-stream` the answer is a stream of Server-Sent Events (`id:` the change \
             id, `event:` the op, `data:` the change) that never ends, with a comment every \
             `events.heartbeat_secs` while idle. Each reader sees the rows and fields its read \
             rule admits.",
        ))
        .parameter(parameter(
            "after",
            ParameterIn::Query,
            "the last change id seen; 0 (the default) starts at the oldest kept",
            id(),
        ))
        .parameter(parameter(
            "limit",
            ParameterIn::Query,
            "the most changes one page answers (default 100)",
            from(json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100})),
        ))
        .parameter(parameter(
            "tables",
            ParameterIn::Query,
            "only these tables, by their path names, comma-separated",
            from(json!({"type": "string"})),
        ))
        .parameter(parameter(
            "Last-Event-ID",
            ParameterIn::Header,
            "the stream's resumption point, as EventSource sends it on reconnecting; wins over `after`",
            id(),
        ))
        .response(
            "200",
            ResponseBuilder::new()
                .description("a page of changes, or the stream of them")
                .content("application/json", json(schema::reference(CHANGE_PAGE)))
                .content(
                    "text/event-stream",
                    ContentBuilder::new()
                        .schema(Some(from(json!({"type": "string"}))))
                        .build(),
                )
                .build(),
        );
    for status in [400, 404, 410, 503] {
        if let Some(response) = responses::error(status) {
            operation = operation.response(status.to_string(), response);
        }
    }
    Route {
        path: PATH.to_string(),
        method: HttpMethod::Get,
        operation: operation.build(),
    }
}

/// The `Change` and `ChangePage` schemas of a listener, naming its tables.
pub fn schemas(model: &AppModel) -> [(&'static str, Schema); 2] {
    let tables: Vec<&str> = model.entities.iter().map(|e| e.plural.as_str()).collect();
    let change = from(json!({
        "type": "object",
        "description": "One committed change of a row.",
        "required": ["id", "table", "op", "key", "row", "at"],
        "properties": {
            "id": {"type": "integer", "format": "int64", "minimum": 1},
            "table": {"type": "string", "enum": tables},
            "op": {"type": "string", "enum": ["insert", "update", "delete"]},
            "key": {"type": "object", "description": "the row's primary key, by field name"},
            "row": {
                "type": ["object", "null"],
                "description": "the row after the change, as the item route answers it; null for a delete"
            },
            "before": {"type": "object", "description": "a delete's row before it"},
            "at": {"type": "string", "format": "date-time", "description": "when it was committed"}
        }
    }));
    let page = from(json!({
        "type": "object",
        "required": ["changes", "last"],
        "properties": {
            "changes": {"type": "array", "items": {"$ref": format!("#/components/schemas/{CHANGE}")}},
            "last": {
                "type": "integer", "format": "int64", "minimum": 0,
                "description": "the `after` of the next page"
            }
        },
        "additionalProperties": false
    }));
    [(CHANGE, change), (CHANGE_PAGE, page)]
}

fn from(value: serde_json::Value) -> Schema {
    serde_json::from_value(value).expect("a valid schema literal")
}

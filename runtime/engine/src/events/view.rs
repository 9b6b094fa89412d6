//! What one reader of the feed sees: the tables of its port (never another app's, not even by
//! name), those it asked for, the rows its read rule admits, and only the fields it may read;
//! each change rendered with the API's names, as the REST paths and bodies name them.

use serde_json::{Map, Value as Json, json};

use super::admit::{admits, is_local};
use super::log::{Change, ChangeOp};
use crate::api::ApiContext;
use crate::error::{ApiError, ErrorCode};
use crate::model::Entity;
use crate::query::Filter;

/// A reader's view of the log, built once per request or subscription.
#[derive(Debug, Clone)]
pub struct View {
    ctx: ApiContext,
    /// Per entity of the port's model: how the reader may see it, when it may and asked to.
    entities: Vec<Option<Readable>>,
}

#[derive(Debug, Clone)]
struct Readable {
    fields: Vec<usize>,
    /// The read rule's filter (every row for an unrestricted caller).
    filter: Filter,
}

impl View {
    /// The view of a port for its caller; `tables` names the API tables to follow (the REST
    /// path names, comma-separated), all of the port's by default. A name the port does not
    /// serve is a 400 naming it and listing what it serves.
    pub fn new(ctx: &ApiContext, tables: Option<&str>) -> Result<Self, ApiError> {
        let model = ctx.model();
        let mut wanted = vec![tables.is_none(); model.entities.len()];
        for name in tables.into_iter().flat_map(|t| t.split(',')) {
            let name = name.trim();
            match model.entities.iter().position(|e| e.plural == name) {
                Some(index) => wanted[index] = true,
                None => {
                    let served: Vec<&str> =
                        model.entities.iter().map(|e| e.plural.as_str()).collect();
                    return Err(ApiError::new(
                        ErrorCode::InvalidValue,
                        format!(
                            "`tables`: no table `{name}` here (this port serves: {})",
                            served.join(", ")
                        ),
                    ));
                }
            }
        }
        let entities = wanted
            .iter()
            .enumerate()
            .map(|(index, &wanted)| {
                if !wanted {
                    return None;
                }
                let (filter, fields) = ctx.read_rule(index)?;
                (!fields.is_empty()).then_some(Readable { fields, filter })
            })
            .collect();
        Ok(Self {
            ctx: ctx.clone(),
            entities,
        })
    }

    /// The entity a change is of, when the reader follows it.
    pub fn entity_of(&self, change: &Change) -> Option<usize> {
        let index = self.ctx.model().entity_index(&change.table)?;
        self.entities[index].as_ref().map(|_| index)
    }

    /// Whether the reader sees the change, also passing `extra` (a subscription's `where`);
    /// answers the entity it is of.
    pub async fn admits(&self, change: &Change, extra: Option<&Filter>) -> Option<usize> {
        let entity = self.entity_of(change)?;
        let readable = self.entities[entity].as_ref()?;
        for filter in [Some(&readable.filter), extra].into_iter().flatten() {
            if !filter.is_empty() && !admits(&self.ctx, entity, filter, &change.row).await {
                return None;
            }
        }
        Some(entity)
    }

    /// Whether every filter of the view is decided on the row alone.
    pub fn is_local(&self) -> bool {
        self.entities
            .iter()
            .flatten()
            .all(|readable| is_local(&readable.filter))
    }

    /// The change as the feed answers it, when the reader sees it.
    pub async fn render(&self, change: &Change) -> Option<Json> {
        let entity = self.admits(change, None).await?;
        Some(self.document(change, entity))
    }

    /// The feed's JSON of a change the reader sees.
    pub fn document(&self, change: &Change, entity: usize) -> Json {
        let definition = &self.ctx.model().entities[entity];
        let fields = &self.entities[entity]
            .as_ref()
            .map_or(&[][..], |r| &r.fields);
        let image = Json::Object(fields_of(definition, fields, &change.row));
        // The key: the primary key's field, or the whole row of a table without a single-column
        // key.
        let key = match definition.primary_key {
            Some(key) if fields.contains(&key) => {
                Json::Object(fields_of(definition, &[key], &change.row))
            }
            Some(_) => Json::Object(Map::new()),
            None => image.clone(),
        };
        let (row, before) = match change.op {
            ChangeOp::Delete => (Json::Null, Some(image)),
            ChangeOp::Insert | ChangeOp::Update => (image, None),
        };
        let mut document = json!({
            "id": change.id,
            "table": definition.plural,
            "op": change.op.as_str(),
            "key": key,
            "row": row,
        });
        if let (Some(before), Json::Object(object)) = (before, &mut document) {
            object.insert("before".into(), before);
        }
        if let Json::Object(object) = &mut document {
            object.insert("at".into(), Json::String(change.at.clone()));
        }
        document
    }

    /// A change's row with the API's field names, for GraphQL subscriptions.
    pub fn row(&self, change: &Change, entity: usize) -> Option<Map<String, Json>> {
        let definition = &self.ctx.model().entities[entity];
        let fields = &self.entities[entity].as_ref()?.fields;
        Some(fields_of(definition, fields, &change.row))
    }
}

/// The readable fields present in a log image (keyed by column), keyed by API field name.
fn fields_of(entity: &Entity, fields: &[usize], image: &Map<String, Json>) -> Map<String, Json> {
    fields
        .iter()
        .filter_map(|&f| {
            let field = &entity.fields[f];
            image
                .get(&field.column)
                .map(|value| (field.name.clone(), value.clone()))
        })
        .collect()
}

//! Turns a field's selection set into a [`Select`]: the columns it asks for and, recursively,
//! its relations with their own arguments. Fragments are flattened by async-graphql.

use async_graphql::SelectionField;

use super::args::{self, ListArgs};
use super::names::RELATION_PREFIX;
use crate::config::LimitsConfig;
use crate::error::{ApiError, ErrorCode};
use crate::model::{AppModel, RelationKind};
use crate::query::{Filter, Order, RelationSelect, Select};

fn argument_error(error: async_graphql::ServerError) -> ApiError {
    ApiError::new(ErrorCode::InvalidValue, error.message)
}

/// The select of `entity` for a selection set, with list arguments applied.
pub fn select<'s>(
    model: &AppModel,
    entity: usize,
    selection: impl Iterator<Item = SelectionField<'s>>,
    list: &ListArgs,
    limits: &LimitsConfig,
) -> Result<Select, ApiError> {
    let definition = &model.entities[entity];
    let mut out = Select::all_fields(entity, 0);
    for child in selection {
        let name = child.name();
        if let Some(field) = definition.fields.iter().position(|f| f.name == name) {
            if !out.fields.contains(&field) {
                out.fields.push(field);
            }
            continue;
        }
        let Some(relation_index) = definition.relations.iter().position(|r| r.name == name) else {
            continue;
        };
        let relation = &definition.relations[relation_index];
        let arguments = child.arguments().map_err(argument_error)?;
        let nested_args = match relation.kind {
            RelationKind::OneToMany => {
                args::list_args(&model.entities[relation.target], &arguments, limits)?
            }
            RelationKind::ManyToOne => ListArgs::default(),
        };
        let mut nested = select(
            model,
            relation.target,
            child.selection_set(),
            &nested_args,
            limits,
        )?;
        if relation.kind == RelationKind::OneToMany && nested.limit.is_none() {
            nested.limit = Some(limits.default_limit);
        }
        out.relations.push(RelationSelect {
            name: format!("{RELATION_PREFIX}{}", child.alias().unwrap_or(name)),
            relation: relation_index,
            select: nested,
        });
    }
    out.filter = list.filter.clone().unwrap_or_else(Filter::all);
    out.order = ordered(model, entity, &list.order);
    out.limit = list.limit;
    out.offset = list.offset;
    Ok(out)
}

/// The requested order with the primary key as the tie-breaker, so pages are deterministic.
pub fn ordered(model: &AppModel, entity: usize, order: &[Order]) -> Vec<Order> {
    let mut order = order.to_vec();
    if let Some(key) = model.entities[entity].primary_key
        && !order.iter().any(|o| o.field == key)
    {
        order.push(Order {
            field: key,
            descending: false,
        });
    }
    order
}

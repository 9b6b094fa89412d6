//! Subscriptions per table, Platformatic's names: `<entity>Saved` (inserts and updates) and
//! `<entity>Deleted`, each with a `where` filter, served from the change log. `after` (a change
//! id) replays what the client missed while away; without it the stream starts at the newest
//! change. Each event carries its change id in the response's `extensions.changeId`
//! ([`super::ws`]), the `after` of a reconnect. A saved row whose selection names relations is
//! read again with them (one statement, under the caller's rules); otherwise the event is the
//! row as the change wrote it, with the fields the caller may read.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use async_graphql::dynamic::{
    FieldValue, InputValue, ResolverContext, SubscriptionField, SubscriptionFieldFuture, TypeRef,
};
use futures_util::Stream;
use serde_json::Value as Json;

use super::args::{self, ListArgs};
use super::errors::to_graphql;
use super::query::{api, arguments, parse};
use super::{names, selection};
use crate::api::ApiContext;
use crate::auth::Identity;
use crate::error::{ApiError, ErrorCode};
use crate::events::{Change, ChangeOp, Subscription, View};
use crate::model::Entity;
use crate::query::{Filter, Operation, Select, coerce_json};

/// Where the WebSocket layer finds the id of the change an event came from.
#[derive(Debug, Clone, Default)]
pub struct LastChange(pub Arc<AtomicI64>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Saved,
    Deleted,
}

impl Kind {
    fn takes(self, op: ChangeOp) -> bool {
        match self {
            Kind::Saved => op != ChangeOp::Delete,
            Kind::Deleted => op == ChangeOp::Delete,
        }
    }
}

/// The subscription fields of one entity.
pub fn fields(entity: &Entity, index: usize) -> Vec<SubscriptionField> {
    [
        (names::saved(entity), Kind::Saved),
        (names::deleted(entity), Kind::Deleted),
    ]
    .into_iter()
    .map(|(name, kind)| {
        SubscriptionField::new(name, TypeRef::named_nn(&entity.type_name), move |ctx| {
            SubscriptionFieldFuture::new(async move {
                follow(ctx, index, kind).await.map_err(to_graphql)
            })
        })
        .argument(InputValue::new(
            "where",
            TypeRef::named(names::where_type(entity)),
        ))
        .argument(InputValue::new("after", TypeRef::named(TypeRef::ID)))
    })
    .collect()
}

/// Everything one subscription needs between events.
struct Follow {
    api: ApiContext,
    view: View,
    subscription: Subscription,
    kind: Kind,
    filter: Filter,
    /// The selection, when it names relations (the row is then read again).
    reread: Option<Select>,
    last: Option<LastChange>,
}

async fn follow<'a>(
    ctx: ResolverContext<'a>,
    index: usize,
    kind: Kind,
) -> Result<impl Stream<Item = async_graphql::Result<FieldValue<'a>>> + 'a, ApiError> {
    let api = api(&ctx)?.clone();
    let hub = api.events().cloned().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            "change events are off (events.enabled)",
        )
    })?;
    if matches!(api.caller().identity(), Identity::Nobody) {
        return Err(api.caller().refusal("subscribe"));
    }
    let model = api.model();
    let entity = &model.entities[index];
    let arguments = arguments(&ctx)?;
    let filter = match args::named(&arguments, "where") {
        Some(value) if !matches!(value, async_graphql::Value::Null) => args::filter(entity, value)?,
        _ => Filter::all(),
    };
    let select = selection::select(
        model,
        index,
        ctx.ctx.field().selection_set(),
        &ListArgs::default(),
        api.limits(),
    )?;
    // Refused as a query of the same row, selection and filter would be: a table or field
    // the caller may not read, or may not filter by.
    let mut checked = select.clone();
    checked.filter = filter.clone();
    api.permits(&Operation::One { select: checked })?;
    let bounds = hub.bounds().await.map_err(|e| ApiError::internal(&e))?;
    let after = match args::named(&arguments, "after") {
        Some(async_graphql::Value::String(id)) => {
            let after = id
                .parse::<i64>()
                .ok()
                .filter(|id| *id >= 0)
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidValue,
                        format!("`after` must be a change id, not `{id}`"),
                    )
                })?;
            if bounds.expired(after) {
                return Err(ApiError::new(
                    ErrorCode::ChangesExpired,
                    format!("changes after {after} are no longer kept: query the rows again"),
                ));
            }
            after
        }
        // From now: every change committed before the subscription is behind it.
        _ => {
            hub.settle().await;
            hub.bounds()
                .await
                .map_err(|e| ApiError::internal(&e))?
                .newest
                .unwrap_or(0)
        }
    };
    let state = Follow {
        view: View::new(&api, Some(&entity.plural))?,
        subscription: hub.subscribe(after),
        kind,
        filter,
        reread: (kind == Kind::Saved && !select.relations.is_empty()).then_some(select),
        last: ctx.data_opt::<LastChange>().cloned(),
        api,
    };
    Ok(futures_util::stream::unfold(
        state,
        |mut state| async move {
            let event = state.next().await?;
            Some((event.map(FieldValue::owned_any).map_err(to_graphql), state))
        },
    ))
}

impl Follow {
    /// The next event: `None` once the stream ends.
    async fn next(&mut self) -> Option<Result<Json, ApiError>> {
        loop {
            let change = match self.subscription.next().await {
                Ok(Some(change)) => change,
                Ok(None) => return None,
                Err(error) => return Some(Err(ApiError::internal(&error))),
            };
            if !self.kind.takes(change.op) {
                continue;
            }
            let Some(entity) = self.view.admits(&change, Some(&self.filter)).await else {
                continue;
            };
            let row = match self.reread(&change, entity).await {
                Ok(Some(row)) => row,
                Ok(None) => match self.view.row(&change, entity) {
                    Some(row) => Json::Object(row),
                    None => continue,
                },
                Err(error) => return Some(Err(error)),
            };
            if let Some(last) = &self.last {
                last.0.store(change.id, Ordering::Relaxed);
            }
            return Some(Ok(row));
        }
    }

    /// The saved row read again with the relations the selection names; `None` when the
    /// selection has none, or the row is gone.
    async fn reread(&self, change: &Change, entity: usize) -> Result<Option<Json>, ApiError> {
        let Some(select) = &self.reread else {
            return Ok(None);
        };
        let definition = &self.api.model().entities[entity];
        let Some(key) = definition.primary_key else {
            return Ok(None);
        };
        let Some(id) = change.row.get(&definition.fields[key].column) else {
            return Ok(None);
        };
        let mut select = select.clone();
        select.filter = Filter::eq(key, coerce_json(&definition.fields[key], id)?);
        select.order.clear();
        let row = self.api.run(&Operation::One { select }).await?;
        row.map(|r| parse(&r.json)).transpose()
    }
}

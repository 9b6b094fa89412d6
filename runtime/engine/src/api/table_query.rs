//! A small typed query builder over one visible table, for apps' own code: the same operations,
//! value checks, role rules and SQL builder as the generated API, answered as deserialised rows.

use serde::de::DeserializeOwned;

use super::ApiContext;
use crate::db::Transaction;
use crate::error::{ApiError, ErrorCode};
use crate::model::Entity;
use crate::query::{
    Condition, Filter, Op, Operand, Operation, Order, RelationSelect, Select, Value, coerce_json,
};

/// Filters, order and limit over one table; finish with a read or a write.
#[derive(Debug, Clone)]
pub struct TableQuery<'c> {
    context: &'c ApiContext,
    entity: usize,
    conditions: Vec<Filter>,
    order: Vec<Order>,
    limit: Option<u32>,
    relations: Vec<RelationSelect>,
    error: Option<ApiError>,
}

impl<'c> TableQuery<'c> {
    pub(super) fn new(context: &'c ApiContext, entity: usize) -> Self {
        Self {
            context,
            entity,
            conditions: Vec::new(),
            order: Vec::new(),
            limit: None,
            relations: Vec::new(),
            error: None,
        }
    }

    fn entity(&self) -> &'c Entity {
        &self.context.model().entities[self.entity]
    }

    fn field(&mut self, name: &str) -> Option<usize> {
        let found = self.entity().field_index(name);
        if found.is_none() && self.error.is_none() {
            self.error = Some(ApiError::new(
                ErrorCode::UnknownField,
                format!("`{}` has no field `{name}`", self.entity().plural),
            ));
        }
        found
    }

    fn value(&mut self, field: usize, value: serde_json::Value) -> Value {
        match coerce_json(&self.entity().fields[field], &value) {
            Ok(v) => v,
            Err(e) => {
                self.error.get_or_insert(e);
                Value::Null
            }
        }
    }

    /// Keeps rows where `field op value` holds (`value` is JSON, checked against the column).
    pub fn filter(mut self, field: &str, op: Op, value: serde_json::Value) -> Self {
        if let Some(index) = self.field(field) {
            let operand = match (op, value) {
                (Op::IsNull, serde_json::Value::Bool(flag)) => Operand::Flag(flag),
                (Op::In | Op::Nin, serde_json::Value::Array(items)) => {
                    Operand::Many(items.into_iter().map(|v| self.value(index, v)).collect())
                }
                (_, value) => Operand::One(self.value(index, value)),
            };
            self.conditions.push(Filter::Condition(Condition {
                field: index,
                op,
                operand,
            }));
        }
        self
    }

    pub fn order_by(mut self, field: &str, descending: bool) -> Self {
        if let Some(index) = self.field(field) {
            self.order.push(Order {
                field: index,
                descending,
            });
        }
        self
    }

    /// Embeds a relation (every field of the related rows) under the relation's name.
    pub fn include(mut self, relation: &str) -> Self {
        let entity = self.entity();
        match entity.relations.iter().position(|r| r.name == relation) {
            Some(index) => {
                let target = entity.relations[index].target;
                let mut select = Select::all_fields(target, 0);
                select.fields = self.context.readable_fields(target);
                self.relations.push(RelationSelect {
                    name: relation.to_string(),
                    relation: index,
                    select,
                });
            }
            None => {
                self.error.get_or_insert(ApiError::new(
                    ErrorCode::UnknownField,
                    format!("`{}` has no relation `{relation}`", entity.plural),
                ));
            }
        }
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    fn checked(&self) -> Result<(), ApiError> {
        self.error.clone().map_or(Ok(()), Err)
    }

    fn select(&self) -> Select {
        let mut select = Select::all_fields(self.entity, 0);
        select.fields = self.context.readable_fields(self.entity);
        select.filter = Filter::And(self.conditions.clone());
        select.order = self.order.clone();
        select.limit = self.limit;
        select.relations = self.relations.clone();
        select
    }

    fn list_operation(&self) -> Operation {
        Operation::List {
            select: self.select(),
            count: false,
            parent: None,
        }
    }

    /// Every matching row.
    pub async fn fetch_all<T: DeserializeOwned>(&self) -> Result<Vec<T>, ApiError> {
        self.checked()?;
        let row = self.context.run(&self.list_operation()).await?;
        decode(row.map(|r| r.json))
    }

    /// Every matching row, inside a transaction.
    pub async fn fetch_all_in<T: DeserializeOwned>(
        &self,
        tx: &mut Transaction,
    ) -> Result<Vec<T>, ApiError> {
        self.checked()?;
        let row = self.context.run_in(tx, &self.list_operation()).await?;
        decode(row.map(|r| r.json))
    }

    /// The first matching row, if any.
    pub async fn fetch_optional<T: DeserializeOwned>(&self) -> Result<Option<T>, ApiError> {
        self.checked()?;
        let operation = Operation::One {
            select: self.select(),
        };
        let row = self.context.run(&operation).await?;
        row.map(|r| parse(&r.json)).transpose()
    }

    /// Sets fields (a JSON object) on every matching row, inside a transaction; answers the
    /// updated rows. Refused without a filter.
    pub async fn update_in<T: DeserializeOwned>(
        mut self,
        tx: &mut Transaction,
        values: serde_json::Value,
    ) -> Result<Vec<T>, ApiError> {
        let serde_json::Value::Object(map) = values else {
            return Err(ApiError::new(
                ErrorCode::InvalidBody,
                "update values must be a JSON object",
            ));
        };
        let mut pairs = Vec::new();
        for (name, value) in map {
            if let Some(index) = self.field(&name) {
                let value = self.value(index, value);
                pairs.push((index, value));
            }
        }
        self.checked()?;
        if self.conditions.is_empty() {
            return Err(ApiError::new(
                ErrorCode::FilterRequired,
                "an update needs a filter",
            ));
        }
        let operation = Operation::Update {
            entity: self.entity,
            filter: Filter::And(self.conditions.clone()),
            values: pairs,
            returning: self.context.readable_fields(self.entity),
        };
        let row = self.context.run_in(tx, &operation).await?;
        decode(row.map(|r| r.json))
    }
}

fn parse<T: DeserializeOwned>(json: &str) -> Result<T, ApiError> {
    serde_json::from_str(json).map_err(|e| ApiError::internal(&e))
}

fn decode<T: DeserializeOwned>(json: Option<String>) -> Result<Vec<T>, ApiError> {
    json.map_or_else(|| Ok(Vec::new()), |j| parse(&j))
}

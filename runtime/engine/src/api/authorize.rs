//! The caller's role rules applied to an operation before it is built into SQL: the rule's row
//! filter ANDed into every read, relation, count and write; fields it may not see or write
//! refused; presets written over the input; read limits clamped. The SQL builder renders the
//! result like any client filter, so a request stays one statement. A write whose rule has a
//! check answers it too, for [`super::ApiContext`] to verify on the written rows.

use std::borrow::Cow;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::model::AppModel;
use crate::model::policy::{FieldSet, Grants};
use crate::query::{Filter, Operation, Select, Value};

/// An operation as the caller may run it.
pub(super) struct Authorized<'o> {
    pub operation: Cow<'o, Operation>,
    /// What every written row must pass: checked on the written rows before commit.
    pub check: Option<Filter>,
}

/// Applies the caller's rules to an operation; unrestricted callers run it as it is.
pub(super) fn authorize<'o>(
    model: &AppModel,
    caller: &Caller,
    operation: &'o Operation,
) -> Result<Authorized<'o>, ApiError> {
    if caller.is_unrestricted() {
        return Ok(Authorized {
            operation: Cow::Borrowed(operation),
            check: None,
        });
    }
    let rules = Rules { model, caller };
    let mut operation = operation.clone();
    let check = rules.apply(&mut operation)?;
    if check.is_some() {
        answer_keys(model, &mut operation);
    }
    Ok(Authorized {
        operation: Cow::Owned(operation),
        check,
    })
}

/// Makes a write answer its rows' keys, which its check is verified by.
fn answer_keys(model: &AppModel, operation: &mut Operation) {
    if let Operation::Insert {
        entity, returning, ..
    }
    | Operation::Upsert {
        entity, returning, ..
    }
    | Operation::Update {
        entity, returning, ..
    } = operation
        && let Some(key) = model.entities[*entity].primary_key
        && !returning.contains(&key)
    {
        returning.insert(0, key);
    }
}

/// The fields of an entity the caller may read: every field for an unrestricted caller.
pub(super) fn readable_fields(model: &AppModel, caller: &Caller, entity: usize) -> Vec<usize> {
    let count = model.entities[entity].fields.len();
    if caller.is_unrestricted() {
        return (0..count).collect();
    }
    let rules = Rules { model, caller };
    match rules
        .grants(entity)
        .as_deref()
        .and_then(|g| g.read.as_ref())
    {
        Some(read) => (0..count).filter(|&f| read.fields.contains(f)).collect(),
        None => Vec::new(),
    }
}

/// The filter of the caller's read rule on an entity: every row for an unrestricted caller,
/// `None` when it may not read the entity.
pub(super) fn read_filter(model: &AppModel, caller: &Caller, entity: usize) -> Option<Filter> {
    if caller.is_unrestricted() {
        return Some(Filter::all());
    }
    let rules = Rules { model, caller };
    rules.read_filter(entity).ok()
}

/// The fields the caller's insert rule sets itself, which its input may leave out.
pub(super) fn preset_fields(model: &AppModel, caller: &Caller, entity: usize) -> Vec<usize> {
    if caller.is_unrestricted() {
        return Vec::new();
    }
    let rules = Rules { model, caller };
    rules
        .grants(entity)
        .as_deref()
        .and_then(|g| g.insert.as_ref())
        .map(|insert| insert.set.iter().map(|(field, _)| *field).collect())
        .unwrap_or_default()
}

struct Rules<'a> {
    model: &'a AppModel,
    caller: &'a Caller,
}

impl Rules<'_> {
    /// The caller's grants on an entity: its one role's, or every role's widened.
    fn grants(&self, entity: usize) -> Option<Cow<'_, Grants>> {
        let policy = &self.model.policy;
        let mut found = self
            .caller
            .roles()
            .iter()
            .filter_map(|role| policy.grants(entity, role));
        let first = found.next()?;
        let mut widened = Cow::Borrowed(first);
        for more in found {
            // Presets that disagree cannot both apply: the first role's stand.
            if let Ok(wider) = widened.widen(more) {
                widened = Cow::Owned(wider);
            }
        }
        Some(widened)
    }

    fn table(&self, entity: usize) -> &str {
        &self.model.entities[entity].table
    }

    fn refuse(&self, verb: &str, entity: usize) -> ApiError {
        self.caller
            .refusal(&format!("{verb} `{}`", self.table(entity)))
    }

    fn bind(&self, filter: &crate::model::policy::RuleFilter, entity: usize) -> Filter {
        filter.bind(self.model, entity, self.caller.claims())
    }

    fn field_refused(&self, entity: usize, field: usize, verb: &str) -> ApiError {
        let definition = &self.model.entities[entity];
        ApiError::new(
            ErrorCode::FieldForbidden,
            format!(
                "{} may not {verb} field `{}` of `{}`",
                self.caller.describe(),
                definition.fields[field].name,
                definition.table
            ),
        )
    }

    /// Applies the rules in place; answers the check written rows must pass.
    fn apply(&self, operation: &mut Operation) -> Result<Option<Filter>, ApiError> {
        match operation {
            Operation::List { select, parent, .. } => {
                if let Some(guard) = parent {
                    // The parent must be visible too, or its existence would show.
                    guard.filter = self.read_filter(guard.entity)?;
                }
                self.select(select, true)?;
                Ok(None)
            }
            Operation::One { select } => {
                self.select(select, true)?;
                Ok(None)
            }
            Operation::Count { entity, filter } => {
                let grant = self.read_grant(*entity)?;
                self.filter_fields(*entity, filter, &grant.fields)?;
                let rule = self.bind(&grant.filter, *entity);
                *filter = std::mem::take(filter).and(rule);
                Ok(None)
            }
            Operation::Insert { entity, rows, .. } => {
                let entity = *entity;
                let grants = self.grants(entity);
                let grant = grants
                    .as_deref()
                    .and_then(|g| g.insert.as_ref())
                    .ok_or_else(|| self.refuse("insert into", entity))?;
                for row in rows.iter_mut() {
                    self.written_fields(entity, row, &grant.fields)?;
                    self.preset(entity, row, &grant.set)?;
                }
                Ok(self.check(entity, &grant.check))
            }
            Operation::Update {
                entity,
                filter,
                values,
                ..
            } => {
                let entity = *entity;
                let grants = self.grants(entity);
                let grant = grants
                    .as_deref()
                    .and_then(|g| g.update.as_ref())
                    .ok_or_else(|| self.refuse("update", entity))?;
                self.client_filter(entity, filter)?;
                self.written_fields(entity, values, &grant.fields)?;
                self.preset(entity, values, &grant.set)?;
                let rule = self.bind(&grant.filter, entity);
                *filter = std::mem::take(filter).and(rule);
                Ok(self.check(entity, &grant.check))
            }
            Operation::Upsert {
                entity,
                key_field,
                values,
                filter,
                ..
            } => {
                let entity = *entity;
                let grants = self.grants(entity);
                let grants = grants.as_deref();
                let insert = grants
                    .and_then(|g| g.insert.as_ref())
                    .ok_or_else(|| self.refuse("insert into", entity))?;
                let update = grants
                    .and_then(|g| g.update.as_ref())
                    .ok_or_else(|| self.refuse("update", entity))?;
                self.written_fields(entity, values, &insert.fields)?;
                // The key names the row; an update never changes it.
                let key = *key_field;
                let updated: Vec<_> = values.iter().filter(|(f, _)| *f != key).cloned().collect();
                self.written_fields(entity, &updated, &update.fields)?;
                self.preset(entity, values, &insert.set)?;
                self.preset(entity, values, &update.set)?;
                let rule = self.bind(&update.filter, entity);
                *filter = std::mem::take(filter).and(rule);
                let check = self
                    .check(entity, &insert.check)
                    .into_iter()
                    .chain(self.check(entity, &update.check))
                    .reduce(Filter::and);
                Ok(check)
            }
            Operation::Delete { entity, filter, .. } => {
                let entity = *entity;
                let grants = self.grants(entity);
                let rule = grants
                    .as_deref()
                    .and_then(|g| g.delete.as_ref())
                    .ok_or_else(|| self.refuse("delete from", entity))?;
                self.client_filter(entity, filter)?;
                let rule = self.bind(rule, entity);
                *filter = std::mem::take(filter).and(rule);
                Ok(None)
            }
        }
    }

    fn read_grant(&self, entity: usize) -> Result<crate::model::policy::ReadGrant, ApiError> {
        self.grants(entity)
            .and_then(|g| g.read.clone())
            .ok_or_else(|| self.refuse("read", entity))
    }

    /// The rows of an entity the caller may see, as a filter.
    fn read_filter(&self, entity: usize) -> Result<Filter, ApiError> {
        let grant = self.read_grant(entity)?;
        Ok(self.bind(&grant.filter, entity))
    }

    /// A read: the rule's filter, fields and limit; relations to tables the caller may not
    /// read answer nothing (null, or an empty list).
    fn select(&self, select: &mut Select, root: bool) -> Result<(), ApiError> {
        let entity = select.entity;
        let grants = self.grants(entity);
        let Some(grant) = grants.as_deref().and_then(|g| g.read.as_ref()) else {
            if root {
                return Err(self.refuse("read", entity));
            }
            select.filter = Filter::none();
            select.relations.clear();
            return Ok(());
        };
        if let Some(&field) = select.fields.iter().find(|&&f| !grant.fields.contains(f)) {
            return Err(self.field_refused(entity, field, "read"));
        }
        if let Some(order) = select
            .order
            .iter()
            .find(|o| !grant.fields.contains(o.field))
        {
            return Err(self.field_refused(entity, order.field, "order by"));
        }
        self.filter_fields(entity, &select.filter, &grant.fields)?;
        let rule = self.bind(&grant.filter, entity);
        select.filter = std::mem::take(&mut select.filter).and(rule);
        if let Some(ceiling) = grant.limit {
            select.limit = Some(select.limit.map_or(ceiling, |l| l.min(ceiling)));
        }
        for relation in &mut select.relations {
            self.select(&mut relation.select, false)?;
        }
        Ok(())
    }

    /// A client's filter of a write may test only fields the caller can read (and the key).
    fn client_filter(&self, entity: usize, filter: &Filter) -> Result<(), ApiError> {
        let grants = self.grants(entity);
        let fields = grants
            .as_deref()
            .and_then(|g| g.read.as_ref())
            .map_or(FieldSet::Only(Vec::new()), |r| r.fields.clone());
        self.filter_fields(entity, filter, &fields)
    }

    fn filter_fields(
        &self,
        entity: usize,
        filter: &Filter,
        visible: &FieldSet,
    ) -> Result<(), ApiError> {
        let key = self.model.entities[entity].primary_key;
        let mut pending = vec![filter];
        while let Some(filter) = pending.pop() {
            match filter {
                Filter::And(parts) | Filter::Or(parts) => pending.extend(parts),
                Filter::Condition(condition) => {
                    if Some(condition.field) != key && !visible.contains(condition.field) {
                        return Err(self.field_refused(entity, condition.field, "filter by"));
                    }
                }
                // Only rules write related filters.
                Filter::Related(_) => {}
            }
        }
        Ok(())
    }

    fn written_fields(
        &self,
        entity: usize,
        values: &[(usize, Value)],
        allowed: &FieldSet,
    ) -> Result<(), ApiError> {
        match values.iter().find(|(f, _)| !allowed.contains(*f)) {
            Some((field, _)) => Err(self.field_refused(entity, *field, "write")),
            None => Ok(()),
        }
    }

    /// Writes the rule's presets over the input.
    fn preset(
        &self,
        entity: usize,
        values: &mut Vec<(usize, Value)>,
        set: &[(usize, crate::model::policy::RuleValue)],
    ) -> Result<(), ApiError> {
        let definition = &self.model.entities[entity];
        for (field, preset) in set {
            let value = preset
                .bind(definition, *field, self.caller.claims())
                .ok_or_else(|| {
                    self.caller.refusal(&format!(
                        "write `{}`: its rule sets `{}` from a claim the caller does not carry",
                        definition.table, definition.fields[*field].name
                    ))
                })?;
            match values.iter_mut().find(|(f, _)| f == field) {
                Some((_, existing)) => *existing = value,
                None => values.push((*field, value)),
            }
        }
        Ok(())
    }

    fn check(&self, entity: usize, check: &crate::model::policy::RuleFilter) -> Option<Filter> {
        (!check.is_all()).then(|| self.bind(check, entity))
    }
}

//! Role rules compiled against one app model: per entity and role, what each operation may do,
//! with fields as indices and filters as templates whose claim values are filled in per request
//! ([`RuleFilter::bind`]). A rule naming a field or relation the model does not have is a
//! start-up error naming the app, table and role.
//!
//! Grants of one role from several apps (the composed API) or of several roles of one caller
//! combine with [`Grants::widen`]: a row is visible when any grant's filter admits it, a field
//! when any grant shows it.

use std::collections::BTreeMap;

use super::rules::{RoleRules, RuleExpr, Rules};
use super::{AppModel, Entity, RelationKind};
use crate::query::{Condition, Filter, Op, Operand, RelatedFilter, Value, coerce_json};

/// Every entity's grants per role; indexed like [`AppModel::entities`].
#[derive(Debug, Clone, Default)]
pub struct Policy {
    tables: Vec<BTreeMap<String, Grants>>,
}

/// What one role may do with one table; `None` denies the operation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grants {
    pub read: Option<ReadGrant>,
    pub insert: Option<WriteGrant>,
    pub update: Option<WriteGrant>,
    /// The rows it may delete.
    pub delete: Option<RuleFilter>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReadGrant {
    pub filter: RuleFilter,
    pub fields: FieldSet,
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WriteGrant {
    /// The rows it may change (updates; inserts have none).
    pub filter: RuleFilter,
    /// What every written row must pass.
    pub check: RuleFilter,
    /// Fields set from claims or literals, overriding the input.
    pub set: Vec<(usize, RuleValue)>,
    /// The fields the input may carry.
    pub fields: FieldSet,
}

/// Which fields of an entity a grant covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSet {
    All,
    Only(Vec<bool>),
}

impl FieldSet {
    pub fn contains(&self, field: usize) -> bool {
        match self {
            Self::All => true,
            Self::Only(mask) => mask.get(field).copied().unwrap_or(false),
        }
    }

    fn union(&self, other: &FieldSet) -> FieldSet {
        match (self, other) {
            (Self::Only(a), Self::Only(b)) => {
                Self::Only(a.iter().zip(b).map(|(x, y)| *x || *y).collect())
            }
            _ => Self::All,
        }
    }
}

/// A filter whose values may come from the caller's claims.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleFilter {
    And(Vec<RuleFilter>),
    Or(Vec<RuleFilter>),
    Condition {
        field: usize,
        op: Op,
        operand: RuleOperand,
    },
    /// Through a many-to-one relation of the entity.
    Related {
        relation: usize,
        filter: Box<RuleFilter>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleOperand {
    One(RuleValue),
    Many(Vec<RuleValue>),
    /// `in`/`nin` against a claim holding an array.
    ManyFromClaim(String),
    Flag(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleValue {
    Literal(Value),
    /// A dot-separated path into the claims.
    Claim(String),
}

impl RuleFilter {
    /// Whether it admits every row.
    pub fn is_all(&self) -> bool {
        matches!(self, RuleFilter::And(parts) if parts.is_empty())
    }

    /// The filter with the caller's claims filled in. A condition on a claim the caller does
    /// not carry (or whose value does not fit the field) admits no row.
    pub fn bind(&self, model: &AppModel, entity: usize, claims: &Claims) -> Filter {
        let definition = &model.entities[entity];
        match self {
            RuleFilter::And(parts) => Filter::And(
                parts
                    .iter()
                    .map(|p| p.bind(model, entity, claims))
                    .collect(),
            ),
            RuleFilter::Or(parts) => Filter::Or(
                parts
                    .iter()
                    .map(|p| p.bind(model, entity, claims))
                    .collect(),
            ),
            RuleFilter::Related { relation, filter } => {
                let target = definition.relations[*relation].target;
                Filter::Related(Box::new(RelatedFilter {
                    relation: *relation,
                    filter: filter.bind(model, target, claims),
                }))
            }
            RuleFilter::Condition { field, op, operand } => {
                let bound = (|| {
                    let value = |v: &RuleValue| v.bind(definition, *field, claims);
                    Some(match operand {
                        RuleOperand::Flag(flag) => Operand::Flag(*flag),
                        RuleOperand::One(v) => Operand::One(value(v)?),
                        RuleOperand::Many(values) => {
                            Operand::Many(values.iter().map(value).collect::<Option<_>>()?)
                        }
                        RuleOperand::ManyFromClaim(path) => {
                            let items = claim(claims, path)?.as_array()?;
                            Operand::Many(
                                items
                                    .iter()
                                    .map(|v| coerce_json(&definition.fields[*field], v).ok())
                                    .collect::<Option<_>>()?,
                            )
                        }
                    })
                })();
                match bound {
                    Some(operand) => Filter::Condition(Condition {
                        field: *field,
                        op: *op,
                        operand,
                    }),
                    None => Filter::none(),
                }
            }
        }
    }

    fn or(&self, other: &RuleFilter) -> RuleFilter {
        if self.is_all() || other.is_all() {
            return RuleFilter::And(Vec::new());
        }
        RuleFilter::Or(vec![self.clone(), other.clone()])
    }
}

/// A token's claims.
pub type Claims = serde_json::Map<String, serde_json::Value>;

/// The claim at a dot-separated path; a key that itself holds dots is found whole first.
pub fn claim<'c>(claims: &'c Claims, path: &str) -> Option<&'c serde_json::Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

impl RuleValue {
    /// The value for a field; `None` when a claim is missing or does not fit the field.
    pub fn bind(&self, entity: &Entity, field: usize, claims: &Claims) -> Option<Value> {
        match self {
            RuleValue::Literal(value) => Some(value.clone()),
            RuleValue::Claim(path) => coerce_json(&entity.fields[field], claim(claims, path)?).ok(),
        }
    }
}

impl Grants {
    /// What either grant allows.
    pub fn widen(&self, other: &Grants) -> Result<Grants, String> {
        Ok(Grants {
            read: match (&self.read, &other.read) {
                (Some(a), Some(b)) => Some(ReadGrant {
                    filter: a.filter.or(&b.filter),
                    fields: a.fields.union(&b.fields),
                    limit: a.limit.zip(b.limit).map(|(x, y)| x.max(y)),
                }),
                (a, b) => a.clone().or_else(|| b.clone()),
            },
            insert: widen_write(&self.insert, &other.insert)?,
            update: widen_write(&self.update, &other.update)?,
            delete: match (&self.delete, &other.delete) {
                (Some(a), Some(b)) => Some(a.or(b)),
                (a, b) => a.clone().or_else(|| b.clone()),
            },
        })
    }
}

fn widen_write(
    a: &Option<WriteGrant>,
    b: &Option<WriteGrant>,
) -> Result<Option<WriteGrant>, String> {
    let (Some(a), Some(b)) = (a, b) else {
        return Ok(a.clone().or_else(|| b.clone()));
    };
    let mut set = a.set.clone();
    for (field, value) in &b.set {
        match set.iter().find(|(f, _)| f == field) {
            Some((_, existing)) if existing != value => {
                return Err(format!(
                    "two rules preset field #{field} to different values; give them one preset"
                ));
            }
            Some(_) => {}
            None => set.push((*field, value.clone())),
        }
    }
    Ok(Some(WriteGrant {
        filter: a.filter.or(&b.filter),
        check: a.check.or(&b.check),
        set,
        fields: a.fields.union(&b.fields),
    }))
}

impl Policy {
    /// The grants of a role on an entity; `None` when the role may do nothing with it.
    pub fn grants(&self, entity: usize, role: &str) -> Option<&Grants> {
        self.tables.get(entity)?.get(role)
    }

    /// Whether any rule is declared.
    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(BTreeMap::is_empty)
    }

    /// Adds an app's rules, compiled against the model, widening any grant already there.
    pub fn add(&mut self, model: &AppModel, rules: &Rules) -> Result<(), String> {
        self.tables.resize_with(model.entities.len(), BTreeMap::new);
        for (table, roles) in rules {
            let Some(entity) = model.entity_index(table) else {
                return Err(format!(
                    "rules for table `{table}`, which the app does not list"
                ));
            };
            for (role, declared) in roles {
                let compiled = compile(model, entity, declared)
                    .map_err(|e| format!("rules for `{table}`, role `{role}`: {e}"))?;
                let slot = &mut self.tables[entity];
                let widened = match slot.get(role) {
                    Some(existing) => existing
                        .widen(&compiled)
                        .map_err(|e| format!("rules for `{table}`, role `{role}`: {e}"))?,
                    None => compiled,
                };
                slot.insert(role.clone(), widened);
            }
        }
        Ok(())
    }
}

fn compile(model: &AppModel, entity: usize, declared: &RoleRules) -> Result<Grants, String> {
    let definition = &model.entities[entity];
    let writable = definition.is_writable();
    let writing =
        declared.insert.is_some() || declared.update.is_some() || declared.delete.is_some();
    if writing && !writable {
        return Err(format!(
            "`{}` is read-only in this app: only a read rule applies",
            definition.table
        ));
    }
    let keyed_check = |check: &RuleExpr| -> Result<(), String> {
        if !check.is_empty() && definition.primary_key.is_none() {
            return Err("a check needs a table with a single-column primary key".into());
        }
        Ok(())
    };
    Ok(Grants {
        read: declared
            .read
            .as_ref()
            .map(|r| {
                Ok::<_, String>(ReadGrant {
                    filter: filter(model, entity, &r.filter)?,
                    fields: fields(definition, r.columns.as_deref(), true)?,
                    limit: r.limit,
                })
            })
            .transpose()?,
        insert: declared
            .insert
            .as_ref()
            .map(|r| {
                keyed_check(&r.check)?;
                Ok::<_, String>(WriteGrant {
                    filter: RuleFilter::And(Vec::new()),
                    check: filter(model, entity, &r.check)?,
                    set: presets(definition, &r.set)?,
                    fields: fields(definition, r.columns.as_deref(), false)?,
                })
            })
            .transpose()?,
        update: declared
            .update
            .as_ref()
            .map(|r| {
                keyed_check(&r.check)?;
                Ok::<_, String>(WriteGrant {
                    filter: filter(model, entity, &r.filter)?,
                    check: filter(model, entity, &r.check)?,
                    set: presets(definition, &r.set)?,
                    fields: fields(definition, r.columns.as_deref(), false)?,
                })
            })
            .transpose()?,
        delete: declared
            .delete
            .as_ref()
            .map(|r| filter(model, entity, &r.filter))
            .transpose()?,
    })
}

fn field_index(entity: &Entity, name: &str) -> Result<usize, String> {
    entity.field_index(name).ok_or_else(|| {
        format!(
            "`{}` has no field `{name}` (fields: {})",
            entity.table,
            entity.field_names()
        )
    })
}

/// The fields a rule names; a read always shows the primary key.
fn fields(entity: &Entity, names: Option<&[String]>, read: bool) -> Result<FieldSet, String> {
    let Some(names) = names else {
        return Ok(FieldSet::All);
    };
    let mut mask = vec![false; entity.fields.len()];
    for name in names {
        mask[field_index(entity, name)?] = true;
    }
    if read && let Some(key) = entity.primary_key {
        mask[key] = true;
    }
    Ok(FieldSet::Only(mask))
}

fn presets(
    entity: &Entity,
    set: &BTreeMap<String, serde_json::Value>,
) -> Result<Vec<(usize, RuleValue)>, String> {
    set.iter()
        .map(|(name, value)| {
            let field = field_index(entity, name)?;
            Ok((field, value_of(entity, field, value)?))
        })
        .collect()
}

fn value_of(entity: &Entity, field: usize, value: &serde_json::Value) -> Result<RuleValue, String> {
    if let Some(path) = value.as_str().and_then(|s| s.strip_prefix("claim:")) {
        if path.is_empty() {
            return Err("`claim:` must name a claim".into());
        }
        return Ok(RuleValue::Claim(path.to_string()));
    }
    coerce_json(&entity.fields[field], value)
        .map(RuleValue::Literal)
        .map_err(|e| e.message)
}

/// Compiles a declared filter object (keys ANDed).
fn filter(model: &AppModel, entity: usize, expr: &RuleExpr) -> Result<RuleFilter, String> {
    let definition = &model.entities[entity];
    let mut parts = Vec::new();
    for (key, value) in expr {
        match key.as_str() {
            "and" | "or" => {
                let items = value
                    .as_array()
                    .ok_or_else(|| format!("`{key}` takes a list of filters"))?;
                let nested = items
                    .iter()
                    .map(|item| {
                        let object = item
                            .as_object()
                            .ok_or_else(|| format!("`{key}` takes a list of filter objects"))?;
                        filter(model, entity, object)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                parts.push(if key == "and" {
                    RuleFilter::And(nested)
                } else {
                    RuleFilter::Or(nested)
                });
            }
            _ => {
                let object = value
                    .as_object()
                    .ok_or_else(|| format!("`{key}` takes an object of operators or a filter"))?;
                if let Some(field) = definition.field_index(key) {
                    for (op, operand) in object {
                        parts.push(condition(definition, field, op, operand)?);
                    }
                } else if let Some(relation) = definition
                    .relations
                    .iter()
                    .position(|r| r.name == *key && r.kind == RelationKind::ManyToOne)
                {
                    let target = definition.relations[relation].target;
                    parts.push(RuleFilter::Related {
                        relation,
                        filter: Box::new(filter(model, target, object)?),
                    });
                } else {
                    return Err(format!(
                        "`{key}` is neither a field of `{}` nor a many-to-one relation it has \
                         in this app",
                        definition.table
                    ));
                }
            }
        }
    }
    Ok(match parts.len() {
        1 => parts.remove(0),
        _ => RuleFilter::And(parts),
    })
}

fn condition(
    entity: &Entity,
    field: usize,
    op: &str,
    operand: &serde_json::Value,
) -> Result<RuleFilter, String> {
    let name = &entity.fields[field].name;
    let op = Op::parse(op).ok_or_else(|| {
        format!("`{op}` is not an operator (eq neq gt gte lt lte like ilike in nin isNull)")
    })?;
    if !op.applies_to(entity.fields[field].kind) {
        return Err(format!("`{}` does not apply to `{name}`", op.name()));
    }
    let operand = match (op, operand) {
        (Op::IsNull, serde_json::Value::Bool(flag)) => RuleOperand::Flag(*flag),
        (Op::IsNull, _) => return Err(format!("`isNull` on `{name}` takes true or false")),
        (Op::In | Op::Nin, serde_json::Value::Array(items)) => RuleOperand::Many(
            items
                .iter()
                .map(|v| value_of(entity, field, v))
                .collect::<Result<_, _>>()?,
        ),
        (Op::In | Op::Nin, value) => match value_of(entity, field, value)? {
            RuleValue::Claim(path) => RuleOperand::ManyFromClaim(path),
            RuleValue::Literal(_) => {
                return Err(format!(
                    "`{}` on `{name}` takes a list or a claim",
                    op.name()
                ));
            }
        },
        (_, value) => RuleOperand::One(value_of(entity, field, value)?),
    };
    Ok(RuleFilter::Condition { field, op, operand })
}

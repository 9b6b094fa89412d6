//! Whether a change's row passes a filter (a role's read rule, a subscription's `where`),
//! evaluated on the row as the log holds it, with SQL's meaning: a comparison with NULL passes
//! nothing. A condition through a many-to-one relation asks the database about the related row
//! as it is now (one count, without the caller's rules: the rule itself is the question).

use std::cmp::Ordering;

use serde_json::{Map, Value as Json};

use crate::api::ApiContext;
use crate::model::AppModel;
use crate::query::{Condition, Filter, Op, Operand, Operation, Value};

/// Whether `row` (keys are column names) of `entity` passes `filter`.
pub async fn admits(
    ctx: &ApiContext,
    entity: usize,
    filter: &Filter,
    row: &Map<String, Json>,
) -> bool {
    match filter {
        Filter::And(parts) => {
            for part in parts {
                if !Box::pin(admits(ctx, entity, part, row)).await {
                    return false;
                }
            }
            true
        }
        Filter::Or(parts) => {
            for part in parts {
                if Box::pin(admits(ctx, entity, part, row)).await {
                    return true;
                }
            }
            false
        }
        Filter::Condition(condition) => passes(ctx.model(), entity, condition, row),
        Filter::Related(related) => {
            let model = ctx.model();
            let relation = &model.entities[entity].relations[related.relation];
            let local = &model.entities[entity].fields[relation.local_field].column;
            let Some(value) = row.get(local).and_then(bound) else {
                return false;
            };
            let count = Operation::Count {
                entity: relation.target,
                filter: Filter::eq(relation.target_field, value).and(related.filter.clone()),
            };
            match ctx.as_system().run(&count).await {
                Ok(Some(answer)) => answer.json.trim().parse::<u64>().is_ok_and(|n| n > 0),
                Ok(None) => false,
                Err(error) => {
                    tracing::warn!(%error, "checking a change's related row failed; not delivered");
                    false
                }
            }
        }
    }
}

/// Whether a filter can be decided on the row alone, without asking the database.
pub fn is_local(filter: &Filter) -> bool {
    match filter {
        Filter::And(parts) | Filter::Or(parts) => parts.iter().all(is_local),
        Filter::Condition(_) => true,
        Filter::Related(_) => false,
    }
}

/// A JSON value as a bound value, for the related row's lookup.
fn bound(value: &Json) -> Option<Value> {
    match value {
        Json::Null => None,
        Json::Bool(b) => Some(Value::Bool(*b)),
        Json::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .or_else(|| n.as_f64().map(Value::Float)),
        Json::String(s) => Some(Value::Text(s.clone())),
        other => Some(Value::Json(other.clone())),
    }
}

fn passes(model: &AppModel, entity: usize, condition: &Condition, row: &Map<String, Json>) -> bool {
    let column = &model.entities[entity].fields[condition.field].column;
    let value = row.get(column).unwrap_or(&Json::Null);
    match (&condition.operand, condition.op) {
        (Operand::Flag(null), _) => value.is_null() == *null,
        (_, _) if value.is_null() => false,
        (Operand::One(operand), op) => {
            compare(value, operand).is_some_and(|ordering| match op {
                Op::Eq => ordering == Ordering::Equal,
                Op::Neq => ordering != Ordering::Equal,
                Op::Gt => ordering == Ordering::Greater,
                Op::Gte => ordering != Ordering::Less,
                Op::Lt => ordering == Ordering::Less,
                Op::Lte => ordering != Ordering::Greater,
                Op::Like | Op::Ilike | Op::In | Op::Nin | Op::IsNull => false,
            }) || matches!(op, Op::Like | Op::Ilike) && like(value, operand, op == Op::Ilike)
        }
        (Operand::Many(values), Op::In) => values
            .iter()
            .any(|v| compare(value, v) == Some(Ordering::Equal)),
        (Operand::Many(values), Op::Nin) => {
            !values.iter().any(|v| matches!(v, Value::Null))
                && values
                    .iter()
                    .all(|v| compare(value, v).is_some_and(|o| o != Ordering::Equal))
        }
        (Operand::Many(_), _) => false,
    }
}

/// How a row's value compares with an operand; `None` for NULL or values that do not compare.
fn compare(value: &Json, operand: &Value) -> Option<Ordering> {
    match (value, operand) {
        (_, Value::Null) | (Json::Null, _) => None,
        (Json::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Json::Number(a), Value::Int(b)) => match a.as_i64() {
            Some(a) => Some(a.cmp(b)),
            None => a.as_f64()?.partial_cmp(&(*b as f64)),
        },
        (Json::Number(a), Value::Float(b)) => a.as_f64()?.partial_cmp(b),
        (Json::Number(a), Value::Text(b)) => a.as_f64()?.partial_cmp(&b.parse::<f64>().ok()?),
        (Json::String(a), Value::Text(b)) => match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) if a.len() < 32 && b.len() < 32 => x.partial_cmp(&y),
            _ => Some(a.as_str().cmp(b.as_str())),
        },
        (Json::String(a), Value::Int(b)) => a.parse::<f64>().ok()?.partial_cmp(&(*b as f64)),
        (Json::String(a), Value::Float(b)) => a.parse::<f64>().ok()?.partial_cmp(b),
        (a, Value::Json(b)) => (a == b).then_some(Ordering::Equal),
        _ => None,
    }
}

/// SQL `LIKE`: `%` any run, `_` any one character; `ilike` ignores case.
fn like(value: &Json, pattern: &Value, fold: bool) -> bool {
    let (Json::String(text), Value::Text(pattern)) = (value, pattern) else {
        return false;
    };
    let prepare = |s: &str| -> Vec<char> {
        if fold {
            s.to_lowercase().chars().collect()
        } else {
            s.chars().collect()
        }
    };
    matches_pattern(&prepare(text), &prepare(pattern))
}

fn matches_pattern(text: &[char], pattern: &[char]) -> bool {
    // Iterative wildcard matching with one backtrack point for the last `%`.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('%') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if *c == '_' || *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '%')
}

#[cfg(test)]
mod tests {
    use super::matches_pattern;

    fn like(text: &str, pattern: &str) -> bool {
        let t: Vec<char> = text.chars().collect();
        let p: Vec<char> = pattern.chars().collect();
        matches_pattern(&t, &p)
    }

    #[test]
    fn like_patterns_match_as_sql_does() {
        assert!(like("hello", "h%o"));
        assert!(like("hello", "%"));
        assert!(like("hello", "h_llo"));
        assert!(like("hello", "%ll%"));
        assert!(!like("hello", "h_lo"));
        assert!(!like("hello", "hello_"));
        assert!(like("", "%"));
        assert!(!like("", "_"));
        assert!(like("a%b", "a%b"));
    }
}

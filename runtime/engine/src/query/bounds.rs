//! The size limits of one operation (`[limits]`), checked before any SQL is built: conditions
//! and `in` values across every filter it holds (relations included), the rows a read with
//! nested lists can answer, and bulk insert rows.
//! They keep every statement inside the databases' own limits (bound parameters, expression
//! depth), whichever adapter or app built the operation.

use super::{Filter, Operand, Operation, Select};
use crate::config::LimitsConfig;
use crate::error::{ApiError, ErrorCode};

/// Refuses an operation past a limit, naming the limit and its key.
pub fn check(operation: &Operation, limits: &LimitsConfig) -> Result<(), ApiError> {
    let mut size = Size::default();
    match operation {
        Operation::List { select, .. } | Operation::One { select } => {
            size.select(select);
            let rows = answer_rows(select);
            if rows > limits.max_answer_rows {
                return Err(ApiError::new(
                    ErrorCode::TooManyRows,
                    format!(
                        "the query could answer up to {rows} rows, its relations' rows included (each level's `limit` times the level above); the limit is {} (limits.max_answer_rows): lower the limits of the nested lists",
                        limits.max_answer_rows
                    ),
                ));
            }
        }
        Operation::Count { filter, .. }
        | Operation::Upsert { filter, .. }
        | Operation::Update { filter, .. }
        | Operation::Delete { filter, .. } => size.filter(filter),
        Operation::Insert { rows, .. } if rows.len() > limits.max_bulk_rows => {
            return Err(ApiError::new(
                ErrorCode::TooManyRows,
                format!(
                    "the insert carries {} rows; the limit is {} (limits.max_bulk_rows): send them in several requests",
                    rows.len(),
                    limits.max_bulk_rows
                ),
            ));
        }
        Operation::Insert { .. } => {}
    }
    if size.conditions > limits.max_conditions {
        return Err(ApiError::new(
            ErrorCode::TooManyConditions,
            format!(
                "the request's filters hold {} conditions; the limit is {} (limits.max_conditions)",
                size.conditions, limits.max_conditions
            ),
        ));
    }
    if size.values > limits.max_in_values {
        return Err(ApiError::new(
            ErrorCode::TooManyValues,
            format!(
                "the request's `in`/`nin` lists hold {} values; the limit is {} (limits.max_in_values)",
                size.values, limits.max_in_values
            ),
        ));
    }
    Ok(())
}

/// The most row objects a read can answer: its limit (one row without) times one plus what each
/// of its relations can answer per row. Saturates rather than overflows.
fn answer_rows(select: &Select) -> usize {
    let per_row = select
        .relations
        .iter()
        .map(|relation| answer_rows(&relation.select))
        .fold(1usize, usize::saturating_add);
    let limit = select.limit.map_or(1, |limit| limit as usize);
    limit.saturating_mul(per_row)
}

/// Conditions and list values counted so far.
#[derive(Debug, Default)]
struct Size {
    conditions: usize,
    values: usize,
}

impl Size {
    fn select(&mut self, select: &Select) {
        self.filter(&select.filter);
        for relation in &select.relations {
            self.select(&relation.select);
        }
    }

    /// Walks a filter without recursion: its depth is the client's choice (GraphQL `and`/`or`).
    fn filter(&mut self, filter: &Filter) {
        let mut pending = vec![filter];
        while let Some(filter) = pending.pop() {
            match filter {
                Filter::And(parts) | Filter::Or(parts) => pending.extend(parts),
                Filter::Related(related) => pending.push(&related.filter),
                Filter::Condition(condition) => {
                    self.conditions += 1;
                    if let Operand::Many(values) = &condition.operand {
                        self.values += values.len();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{Condition, Op, Value};

    fn within(ids: usize, alternatives: usize) -> Operation {
        let condition = |op, operand| {
            Filter::Condition(Condition {
                field: 0,
                op,
                operand,
            })
        };
        let list = condition(Op::In, Operand::Many(vec![Value::Int(1); ids]));
        let or = Filter::Or(vec![
            condition(Op::Eq, Operand::One(Value::Int(2)));
            alternatives
        ]);
        Operation::Count {
            entity: 0,
            filter: Filter::And(vec![list, Filter::And(vec![or])]),
        }
    }

    fn list(limit: Option<u32>, relations: Vec<Select>) -> Select {
        let mut select = Select::all_fields(0, 1);
        select.limit = limit;
        select.relations = relations
            .into_iter()
            .map(|select| crate::query::RelationSelect {
                name: "r".into(),
                relation: 0,
                select,
            })
            .collect();
        select
    }

    #[test]
    fn nested_lists_multiply_their_limits() {
        let limits = LimitsConfig {
            max_answer_rows: 10_100,
            ..LimitsConfig::default()
        };
        let one_level = list(Some(100), vec![list(Some(100), vec![]), list(None, vec![])]);
        assert_eq!(answer_rows(&one_level), 100 * 102);
        let fits = list(Some(100), vec![list(Some(100), vec![])]);
        assert!(check(&Operation::One { select: fits }, &limits).is_ok());
        let deeper = list(
            Some(100),
            vec![list(Some(100), vec![list(Some(2), vec![])])],
        );
        let refused = check(&Operation::One { select: deeper }, &limits).expect_err("30,100");
        assert_eq!(refused.code, ErrorCode::TooManyRows);
        assert!(refused.message.contains("limits.max_answer_rows"));
    }

    #[test]
    fn conditions_and_values_count_across_the_whole_tree() {
        let limits = LimitsConfig {
            max_conditions: 10,
            max_in_values: 100,
            ..LimitsConfig::default()
        };
        assert!(check(&within(100, 9), &limits).is_ok());
        let error = check(&within(100, 10), &limits).expect_err("11 conditions");
        assert_eq!(error.code, ErrorCode::TooManyConditions);
        assert!(error.message.contains("11") && error.message.contains("limits.max_conditions"));
        let error = check(&within(101, 1), &limits).expect_err("101 values");
        assert_eq!(error.code, ErrorCode::TooManyValues);
    }
}

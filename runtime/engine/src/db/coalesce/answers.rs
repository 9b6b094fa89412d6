//! A combined statement's rows, split into its members' answers.

use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::db::JsonRow;

/// Each member's JSON (and count), in member order, from rows tagged with their member number.
pub(super) fn by_member(
    rows: Vec<PgRow>,
    members: usize,
) -> Result<Vec<Option<JsonRow>>, sqlx::Error> {
    let mut answers = vec![None; members];
    for row in rows {
        let member = usize::try_from(row.try_get::<i32, _>(0)?).unwrap_or(usize::MAX);
        let Some(slot) = answers.get_mut(member) else {
            continue;
        };
        let Some(json) = row.try_get::<Option<String>, _>(1)? else {
            continue;
        };
        let count = if row.len() > 2 {
            row.try_get::<Option<i64>, _>(2)?
        } else {
            None
        };
        *slot = Some(JsonRow { json, count });
    }
    Ok(answers)
}

/// Each member's JSON, in member order, from a combined one-row insert's rows: the members'
/// generated keys rise in member order.
pub(super) fn by_key(
    rows: Vec<PgRow>,
    members: usize,
) -> Result<Vec<Option<JsonRow>>, sqlx::Error> {
    let mut keyed = rows
        .iter()
        .map(|row| Ok((row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    keyed.sort_unstable_by_key(|(key, _)| *key);
    let mut answers = vec![None; members];
    for (slot, (_, json)) in answers.iter_mut().zip(keyed) {
        *slot = Some(JsonRow { json, count: None });
    }
    Ok(answers)
}

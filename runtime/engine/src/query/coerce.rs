//! Turns client input (query-string text or JSON) into typed values for a field, refusing
//! anything the column cannot hold with a 400 that names the field.

use crate::catalog::ColumnKind;
use crate::error::{ApiError, ErrorCode};
use crate::model::Field;

use super::Value;

fn invalid(field: &Field, expected: &str, got: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidValue,
        format!(
            "invalid value for field `{}`: expected {expected}, got {got}",
            field.name
        ),
    )
}

fn expected(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::SmallInt => "an integer between -32768 and 32767",
        ColumnKind::Integer => "an integer between -2147483648 and 2147483647",
        ColumnKind::BigInt => "an integer",
        ColumnKind::Float => "a number",
        ColumnKind::Numeric => "a decimal number",
        ColumnKind::Boolean => "true or false",
        ColumnKind::Text | ColumnKind::Other | ColumnKind::Bytes => "a string",
        ColumnKind::Timestamp | ColumnKind::TimestampTz => "a date-time like 2024-01-31T12:00:00Z",
        ColumnKind::Date => "a date like 2024-01-31",
        ColumnKind::Time => "a time like 12:00:00",
        ColumnKind::Uuid => "a UUID",
        ColumnKind::Json => "JSON",
    }
}

fn int_in_range(field: &Field, value: i64) -> Result<Value, ApiError> {
    let fits = match field.kind {
        ColumnKind::SmallInt => i16::try_from(value).is_ok(),
        ColumnKind::Integer => i32::try_from(value).is_ok(),
        _ => true,
    };
    if fits {
        Ok(Value::Int(value))
    } else {
        Err(invalid(field, expected(field.kind), value))
    }
}

/// Coerces a query-string value.
pub fn coerce_text(field: &Field, raw: &str) -> Result<Value, ApiError> {
    let bad = || invalid(field, expected(field.kind), format!("{raw:?}"));
    match field.kind {
        ColumnKind::SmallInt | ColumnKind::Integer | ColumnKind::BigInt => {
            int_in_range(field, raw.parse().map_err(|_| bad())?)
        }
        ColumnKind::Float => match raw.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Value::Float(v)),
            _ => Err(bad()),
        },
        ColumnKind::Numeric => is_decimal(raw)
            .then(|| Value::Text(raw.to_string()))
            .ok_or_else(bad),
        ColumnKind::Boolean => match raw {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(bad()),
        },
        ColumnKind::Json => serde_json::from_str(raw)
            .map(Value::Json)
            .map_err(|_| bad()),
        ColumnKind::Other => Ok(match (raw.parse::<i64>(), raw.parse::<f64>()) {
            (Ok(i), _) => Value::Int(i),
            (_, Ok(f)) if f.is_finite() => Value::Float(f),
            _ => Value::Text(raw.to_string()),
        }),
        _ => text_like(field, raw),
    }
}

/// Coerces a JSON body value.
pub fn coerce_json(field: &Field, json: &serde_json::Value) -> Result<Value, ApiError> {
    use serde_json::Value as J;
    let bad = || invalid(field, expected(field.kind), json);
    match (field.kind, json) {
        (_, J::Null) => Ok(Value::Null),
        (ColumnKind::Json, other) => Ok(Value::Json(other.clone())),
        (ColumnKind::SmallInt | ColumnKind::Integer | ColumnKind::BigInt, J::Number(n)) => {
            int_in_range(field, json_integer(n).ok_or_else(bad)?)
        }
        (ColumnKind::Float, J::Number(n)) => n.as_f64().map(Value::Float).ok_or_else(bad),
        (ColumnKind::Numeric, J::Number(n)) => Ok(Value::Text(n.to_string())),
        (ColumnKind::Numeric, J::String(s)) if is_decimal(s) => Ok(Value::Text(s.clone())),
        (ColumnKind::Boolean, J::Bool(b)) => Ok(Value::Bool(*b)),
        (ColumnKind::Other, J::Number(n)) => Ok(n
            .as_i64()
            .map_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0)), Value::Int)),
        (ColumnKind::Other, J::Bool(b)) => Ok(Value::Bool(*b)),
        (
            ColumnKind::Text
            | ColumnKind::Other
            | ColumnKind::Bytes
            | ColumnKind::Timestamp
            | ColumnKind::TimestampTz
            | ColumnKind::Date
            | ColumnKind::Time
            | ColumnKind::Uuid,
            J::String(s),
        ) => text_like(field, s),
        _ => Err(bad()),
    }
}

/// A JSON number that is an integer in JSON Schema's sense: `5`, and `5.0` too.
fn json_integer(n: &serde_json::Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    // Beyond 2^53 a float no longer holds every integer: `-9223372036854775809` parses as a
    // float equal to i64::MIN, so only floats that are exact integers count.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    let f = n.as_f64()?;
    (f.fract() == 0.0 && f.abs() <= EXACT).then_some(f as i64)
}

fn text_like(field: &Field, raw: &str) -> Result<Value, ApiError> {
    let ok = match field.kind {
        ColumnKind::Timestamp | ColumnKind::TimestampTz => is_timestamp(raw),
        ColumnKind::Date => is_date(raw),
        ColumnKind::Time => is_time(raw),
        ColumnKind::Uuid => is_uuid(raw),
        _ => true,
    };
    if ok {
        Ok(Value::Text(raw.to_string()))
    } else {
        Err(invalid(field, expected(field.kind), format!("{raw:?}")))
    }
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    !(int.is_empty() && frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

fn is_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    matches!(parts.as_slice(), [y, m, d] if digits(y, 4) && digits(m, 2) && digits(d, 2)
        && (1..=12).contains(&m.parse::<u8>().unwrap_or(0))
        && (1..=31).contains(&d.parse::<u8>().unwrap_or(0)))
}

fn is_time(s: &str) -> bool {
    let (clock, fraction) = s.split_once('.').unwrap_or((s, "0"));
    let parts: Vec<&str> = clock.split(':').collect();
    let fields_ok = match parts.as_slice() {
        [h, m] => digits(h, 2) && digits(m, 2),
        [h, m, sec] => digits(h, 2) && digits(m, 2) && digits(sec, 2),
        _ => false,
    };
    fields_ok
        && parts[0] < "24"
        && parts[1] < "60"
        && parts.get(2).is_none_or(|sec| *sec < "61")
        && !fraction.is_empty()
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

fn is_timestamp(s: &str) -> bool {
    // `get` rather than slicing: the tenth byte may fall inside a multi-byte character.
    let (Some(date), Some(rest)) = (s.get(..10), s.get(10..)) else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    if rest.is_empty() {
        return true;
    }
    let Some(rest) = rest.strip_prefix(['T', ' ']) else {
        return false;
    };
    let (clock, zone) = match rest.find(['Z', '+', '-']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let zone_ok = match zone {
        "" | "Z" => true,
        z => {
            let offset = &z[1..];
            let (h, m) = offset.split_once(':').unwrap_or((offset, "00"));
            digits(h, 2) && digits(m, 2)
        }
    };
    is_time(clock) && zone_ok
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == 5
        && groups
            .iter()
            .zip(lengths)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert!(is_date("2024-01-31"));
        assert!(!is_date("2024-13-01"));
        assert!(is_timestamp("2024-01-31T12:00:00Z"));
        assert!(is_timestamp("2024-01-31 12:00:00"));
        assert!(is_timestamp("2024-01-31T12:00:00.123+02:00"));
        assert!(is_timestamp("2024-01-31"));
        assert!(!is_timestamp("yesterday"));
        assert!(!is_timestamp("2024-01-31T25:00:00"));
        assert!(!is_timestamp("0\u{80}\u{80}\u{80}\u{10000}"));
        assert!(is_uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(!is_uuid("123e4567"));
        assert!(is_decimal("-12.50"));
        assert!(!is_decimal("1e5"));
    }

    #[test]
    fn integral_json_numbers_are_integers() {
        let number = |text: &str| serde_json::from_str::<serde_json::Number>(text).unwrap();
        assert_eq!(json_integer(&number("5")), Some(5));
        assert_eq!(json_integer(&number("5.0")), Some(5));
        assert_eq!(json_integer(&number("-1388457.0")), Some(-1388457));
        assert_eq!(json_integer(&number("5.5")), None);
        assert_eq!(json_integer(&number("1e300")), None);
        assert_eq!(json_integer(&number("-9223372036854775809")), None);
        assert_eq!(json_integer(&number("9223372036854775808")), None);
    }
}

//! Typed values bound as statement parameters.

/// A value the SQL builder binds as a parameter; never spliced into SQL text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Json(serde_json::Value),
}

//! Role rules as an app declares them: data, per table and role, read from TOML next to the
//! app's allowlist (so they can be printed, documented and tested). [`super::policy`] compiles
//! them against an app model.
//!
//! ```toml
//! [invoices.customer.read]                       # table `invoices`, role `customer`
//! filter = { customer_id = { eq = "claim:customer_id" } }
//! columns = ["id", "number", "status"]           # optional: the fields it may see
//! limit = 50                                     # optional: a ceiling on rows per read
//!
//! [line_items.customer.read]                     # through the many-to-one relation `invoice`
//! filter = { invoice = { customer_id = { eq = "claim:customer_id" } } }
//!
//! [invoices.staff]                               # every operation, every row
//! read = {}
//! insert = {}
//! update = {}
//! delete = {}
//!
//! [notes.member.insert]
//! check = { tenant_id = { eq = "claim:tenant_id" } }   # every written row must pass
//! set = { tenant_id = "claim:tenant_id" }               # presets, overriding the input
//! columns = ["body"]                                    # the fields the input may carry
//! ```
//!
//! A filter is an object whose keys are ANDed: a field (column or API name) with operators
//! (`eq neq gt gte lt lte like ilike in nin isNull`, several ANDed), a many-to-one relation
//! name with a filter over the related row, or `and`/`or` with a list of filters. A value is a
//! literal, or `"claim:<name>"`: the caller's claim (a dot-separated path into the token).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Every rule of an app: table -> role -> what the role may do.
pub type Rules = BTreeMap<String, BTreeMap<String, RoleRules>>;

/// A filter or check as declared: see the module documentation.
pub type RuleExpr = serde_json::Map<String, serde_json::Value>;

/// What one role may do with one table; an operation left out is denied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRules {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<ReadRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insert: Option<InsertRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdateRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete: Option<DeleteRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadRule {
    /// The rows it may see.
    #[serde(default, skip_serializing_if = "RuleExpr::is_empty")]
    pub filter: RuleExpr,
    /// The fields it may see (the primary key always); every field when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// The most rows one read answers, whatever `limit` asks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsertRule {
    /// What every new row must pass, checked on the row as written.
    #[serde(default, skip_serializing_if = "RuleExpr::is_empty")]
    pub check: RuleExpr,
    /// Fields set from claims or literals, overriding the input.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, serde_json::Value>,
    /// The fields the input may carry; every writable field when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRule {
    /// The rows it may change.
    #[serde(default, skip_serializing_if = "RuleExpr::is_empty")]
    pub filter: RuleExpr,
    /// What every changed row must pass, checked on the row as written.
    #[serde(default, skip_serializing_if = "RuleExpr::is_empty")]
    pub check: RuleExpr,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteRule {
    /// The rows it may delete.
    #[serde(default, skip_serializing_if = "RuleExpr::is_empty")]
    pub filter: RuleExpr,
}

/// Reads rules from TOML text.
pub fn parse(text: &str) -> Result<Rules, String> {
    let value: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
    let json = serde_json::to_value(value).map_err(|e| e.to_string())?;
    serde_path_to_error::deserialize(json).map_err(|e| format!("{}: {}", e.path(), e.inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_form() {
        let rules = parse(
            r#"
            [invoices.customer.read]
            filter = { customer_id = { eq = "claim:customer_id" } }
            limit = 50
            [invoices.staff]
            read = {}
            delete = {}
            "#,
        )
        .unwrap();
        let customer = &rules["invoices"]["customer"];
        assert_eq!(customer.read.as_ref().unwrap().limit, Some(50));
        assert!(customer.insert.is_none());
        assert!(rules["invoices"]["staff"].delete.is_some());
    }

    #[test]
    fn an_unknown_key_is_named() {
        let error = parse("[invoices.customer.read]\nfilters = {}\n").unwrap_err();
        assert!(error.contains("filters"), "{error}");
    }
}

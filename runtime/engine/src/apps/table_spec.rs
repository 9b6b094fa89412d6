//! `--table T[:read|:read-write]`, as `app new` takes a table of the allowlist.

use crate::model::{Access, TableGrant};

/// Reads `TABLE`, `TABLE:read` or `TABLE:read-write` (the default access is read-write).
pub fn parse_table_spec(spec: &str) -> Result<TableGrant, String> {
    let (table, access) = match spec.split_once(':') {
        None => (spec, Access::ReadWrite),
        Some((table, "read")) => (table, Access::Read),
        Some((table, "read-write")) => (table, Access::ReadWrite),
        Some((_, other)) => {
            return Err(format!(
                "`{spec}`: unknown access `{other}` (use TABLE, TABLE:read or TABLE:read-write)"
            ));
        }
    };
    if table.is_empty() || table.chars().any(|c| c.is_whitespace() || c == '"') {
        return Err(format!(
            "`{spec}`: `{table}` is not a table name (use TABLE, TABLE:read or TABLE:read-write)"
        ));
    }
    Ok(TableGrant {
        table: table.to_string(),
        access,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_form_and_names_a_bad_one() {
        assert_eq!(parse_table_spec("notes").unwrap().access, Access::ReadWrite);
        assert_eq!(parse_table_spec("notes:read").unwrap().access, Access::Read);
        let grant = parse_table_spec("notes:read-write").unwrap();
        assert_eq!(
            (grant.table.as_str(), grant.access),
            ("notes", Access::ReadWrite)
        );
        let error = parse_table_spec("notes:write").unwrap_err();
        assert!(
            error.contains("write") && error.contains("notes"),
            "{error}"
        );
        assert!(parse_table_spec(":read").is_err());
    }
}

//! Naming rules, in one place: how tables and columns become API names.
//!
//! Compatible with Platformatic DB: an entity is the camelCase singular of its table
//! (`line_items` -> `lineItem`), its path the plural (`/lineItems`), its type name PascalCase
//! (`LineItem`); fields are camelCase columns (`created_at` -> `createdAt`). A many-to-one relation
//! is named after its foreign-key column without `_id` (`customer_id` -> `customer`); a one-to-many
//! relation after the referencing entity's plural (`invoices`).

use heck::{ToLowerCamelCase, ToUpperCamelCase};

use super::inflect;

/// The camelCase singular entity name of a table.
pub fn entity_name(table: &str) -> String {
    let (head, last) = split_last_word(table);
    format!("{head}{}", inflect::singular(last)).to_lower_camel_case()
}

/// The camelCase plural of an entity name, used for paths and list fields.
pub fn plural(entity: &str) -> String {
    let split = entity
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_uppercase())
        .map_or(0, |(i, _)| i);
    let (head, last) = entity.split_at(split);
    let plural_last = inflect::plural(&last.to_lowercase());
    let plural_last = if head.is_empty() {
        plural_last
    } else {
        plural_last.to_upper_camel_case()
    };
    format!("{head}{plural_last}")
}

/// The PascalCase type name of an entity.
pub fn type_name(entity: &str) -> String {
    entity.to_upper_camel_case()
}

/// The camelCase API name of a column.
pub fn field_name(column: &str) -> String {
    column.to_lower_camel_case()
}

/// The name of a many-to-one relation through a foreign-key column.
pub fn many_to_one_name(fk_column: &str, target_entity: &str) -> String {
    match fk_column.strip_suffix("_id") {
        Some(stem) if !stem.is_empty() => stem.to_lower_camel_case(),
        _ => target_entity.to_string(),
    }
}

fn split_last_word(table: &str) -> (&str, &str) {
    match table.rfind('_') {
        Some(i) => (&table[..=i], &table[i + 1..]),
        None => ("", table),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_become_platformatic_names() {
        for (table, entity, path, ty) in [
            ("customers", "customer", "customers", "Customer"),
            ("line_items", "lineItem", "lineItems", "LineItem"),
            ("addresses", "address", "addresses", "Address"),
            (
                "invoice_totals",
                "invoiceTotal",
                "invoiceTotals",
                "InvoiceTotal",
            ),
            ("emails", "email", "emails", "Email"),
            ("phones", "phone", "phones", "Phone"),
            ("categories", "category", "categories", "Category"),
        ] {
            let name = entity_name(table);
            assert_eq!(name, entity, "{table}");
            assert_eq!(plural(&name), path, "{table}");
            assert_eq!(type_name(&name), ty, "{table}");
        }
    }

    #[test]
    fn fields_and_relations() {
        assert_eq!(field_name("created_at"), "createdAt");
        assert_eq!(field_name("unit_price_cents"), "unitPriceCents");
        assert_eq!(many_to_one_name("email_id", "email"), "email");
        assert_eq!(
            many_to_one_name("billing_address_id", "address"),
            "billingAddress"
        );
        assert_eq!(many_to_one_name("owner", "user"), "user");
    }
}

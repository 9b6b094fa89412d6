//! The depth and size limits of a parsed GraphQL document (`graphql.max_depth`,
//! `graphql.max_complexity`), with fragments expanded.
//!
//! Introspection (`__schema`, `__type`) answers from the schema, not the database, and the
//! standard introspection query of every GraphQL tool nests its type references nine levels
//! deep: its depth is held to [`INTROSPECTION_DEPTH`] instead of `max_depth`, and its fields
//! count toward the complexity like any other. The walk is bounded too: a chain of fragments
//! spreading each other counts one level per spread, and stops past [`MAX_LEVELS`].

use std::collections::HashMap;

use async_graphql::Name;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

use crate::error::{ApiError, ErrorCode};

/// The deepest an introspection selection may nest, counted from its `__schema` or `__type`.
pub const INTROSPECTION_DEPTH: usize = 20;

/// The most selection sets (fields and fragments) one path may pass through.
pub const MAX_LEVELS: usize = 64;

/// What a selection set adds up to.
#[derive(Debug, Clone, Copy, Default)]
struct Measure {
    /// The deepest path of data fields.
    depth: usize,
    /// The deepest introspection path, counted from its root field.
    introspection: usize,
    /// Every field, each fragment counted once per spread.
    fields: usize,
}

/// Refuses a document deeper than `max_depth` or with more than `max_complexity` fields in an
/// operation.
pub fn check(
    document: &ExecutableDocument,
    max_depth: usize,
    max_complexity: usize,
) -> Result<(), ApiError> {
    let mut walk = Walk {
        document,
        fragments: HashMap::new(),
    };
    for (_, operation) in document.operations.iter() {
        let measure = walk.selection_set(&operation.node.selection_set.node, 0)?;
        if measure.depth > max_depth {
            return Err(too_complex(format!(
                "the query nests {} fields deep; the limit is {max_depth} (graphql.max_depth)",
                measure.depth
            )));
        }
        if measure.introspection > INTROSPECTION_DEPTH {
            return Err(too_complex(format!(
                "the introspection query nests {} fields deep; the limit is {INTROSPECTION_DEPTH}",
                measure.introspection
            )));
        }
        if measure.fields > max_complexity {
            return Err(too_complex(format!(
                "the query selects {} fields; the limit is {max_complexity} (graphql.max_complexity)",
                measure.fields
            )));
        }
    }
    Ok(())
}

fn too_complex(message: String) -> ApiError {
    ApiError::new(ErrorCode::QueryTooComplex, message)
}

struct Walk<'d> {
    document: &'d ExecutableDocument,
    /// Each fragment's measure once known, `None` while it is being measured (a cycle).
    fragments: HashMap<&'d Name, Option<Measure>>,
}

impl<'d> Walk<'d> {
    fn selection_set(&mut self, set: &'d SelectionSet, level: usize) -> Result<Measure, ApiError> {
        if level > MAX_LEVELS {
            return Err(too_complex(format!(
                "the query nests more than {MAX_LEVELS} selections deep, fragments included"
            )));
        }
        let mut total = Measure::default();
        for selection in &set.items {
            let measure = match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let inner = self.selection_set(&field.selection_set.node, level + 1)?;
                    let name = field.name.node.as_str();
                    let mut measure = Measure {
                        fields: inner.fields.saturating_add(1),
                        ..Measure::default()
                    };
                    if name == "__schema" || name == "__type" {
                        measure.introspection = inner.depth.max(inner.introspection) + 1;
                    } else {
                        measure.depth = inner.depth + 1;
                        measure.introspection = inner.introspection;
                    }
                    measure
                }
                Selection::InlineFragment(fragment) => {
                    self.selection_set(&fragment.node.selection_set.node, level + 1)?
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(&spread.node.fragment_name.node, level + 1)?
                }
            };
            total.depth = total.depth.max(measure.depth);
            total.introspection = total.introspection.max(measure.introspection);
            total.fields = total.fields.saturating_add(measure.fields);
        }
        Ok(total)
    }

    fn fragment(&mut self, name: &'d Name, level: usize) -> Result<Measure, ApiError> {
        match self.fragments.get(name) {
            Some(Some(measure)) => return Ok(*measure),
            Some(None) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("fragment `{name}` spreads itself"),
                ));
            }
            None => {}
        }
        let Some(fragment) = self.document.fragments.get(name) else {
            // An unknown fragment is the validator's to report.
            return Ok(Measure::default());
        };
        self.fragments.insert(name, None);
        let measure = self.selection_set(&fragment.node.selection_set.node, level)?;
        self.fragments.insert(name, Some(measure));
        Ok(measure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(query: &str) -> Result<(), ApiError> {
        check(
            &async_graphql::parser::parse_query(query).expect("parses"),
            3,
            6,
        )
    }

    #[test]
    fn depth_and_fields_count_through_fragments() {
        assert!(measure("{ a { b { c } } }").is_ok());
        let deep = measure("{ a { ...F } } fragment F on T { b { c { d } } }").expect_err("deep");
        assert!(deep.message.contains("4 fields deep"), "{}", deep.message);
        let wide = measure("{ a { ...F ...F } } fragment F on T { b c d }").expect_err("wide");
        assert!(wide.message.contains("7 fields"), "{}", wide.message);
    }

    #[test]
    fn introspection_has_its_own_depth() {
        let nine =
            "{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }";
        let document = async_graphql::parser::parse_query(nine).expect("parses");
        assert!(check(&document, 3, 100).is_ok());
        let too_deep = format!(
            "{{ __type(name: \"T\") {{ {} name {} }} }}",
            "ofType { ".repeat(20),
            "}".repeat(20)
        );
        assert!(measure(&too_deep).is_err());
    }

    #[test]
    fn fragment_cycles_and_chains_stop() {
        let cycle = measure("{ a { ...F } } fragment F on T { b { ...F } }").expect_err("cycle");
        assert_eq!(cycle.code, ErrorCode::InvalidQuery);
        let mut chain = String::from("{ ...F0 }");
        for i in 0..5000 {
            chain.push_str(&format!(" fragment F{i} on T {{ ...F{} }}", i + 1));
        }
        chain.push_str(" fragment F5000 on T { a }");
        let refused = measure(&chain).expect_err("a long chain");
        assert!(
            refused.message.contains("fragments included"),
            "{}",
            refused.message
        );
    }
}

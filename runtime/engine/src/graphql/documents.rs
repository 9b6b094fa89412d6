//! A cache of parsed GraphQL documents by query text. Clients send the same few queries over and
//! over; parsing is the most expensive step of executing one, so each text is parsed once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::Request;
use async_graphql::parser::types::ExecutableDocument;

/// Distinct query texts kept; past that the cache starts over, so it cannot grow without bound.
const CAPACITY: usize = 256;

#[derive(Debug, Clone, Default)]
pub struct DocumentCache(Arc<Mutex<HashMap<String, ExecutableDocument>>>);

impl DocumentCache {
    /// Gives the request its parsed document, from the cache or parsed now. A query that does
    /// not parse is left alone, for the executor to report.
    pub fn prepare(&self, request: &mut Request) {
        let cached = self
            .0
            .lock()
            .ok()
            .and_then(|map| map.get(&request.query).cloned());
        if let Some(document) = cached {
            request.set_parsed_query(document);
            return;
        }
        let Ok(document) = request.parsed_query().cloned() else {
            return;
        };
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= CAPACITY {
                map.clear();
            }
            map.insert(request.query.clone(), document);
        }
    }
}

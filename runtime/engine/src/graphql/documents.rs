//! A cache of parsed GraphQL documents by query text. Clients send the same few queries over and
//! over; parsing is the most expensive step of executing one, so each text is parsed once. The
//! cache is bounded by the bytes of query text it holds; past them it evicts by S3-FIFO
//! (quick_cache), so a stream of queries asked once can neither grow it nor push out the queries
//! that keep coming.

use std::sync::Arc;

use async_graphql::Request;
use async_graphql::parser::types::ExecutableDocument;
use quick_cache::Weighter;
use quick_cache::sync::Cache;

/// Bytes of query text kept: some thousand queries of a few hundred bytes.
const CAPACITY_BYTES: u64 = 256 * 1024;

/// Documents expected at most, to size the cache's tables.
const EXPECTED_DOCUMENTS: usize = 1024;

/// Weighs a document by the length of its query text.
#[derive(Debug, Clone, Copy)]
struct QueryBytes;

impl Weighter<String, ExecutableDocument> for QueryBytes {
    fn weight(&self, query: &String, _: &ExecutableDocument) -> u64 {
        query.len().max(1) as u64
    }
}

#[derive(Clone)]
pub struct DocumentCache(Arc<Cache<String, ExecutableDocument, QueryBytes>>);

impl Default for DocumentCache {
    fn default() -> Self {
        Self(Arc::new(Cache::with_weighter(
            EXPECTED_DOCUMENTS,
            CAPACITY_BYTES,
            QueryBytes,
        )))
    }
}

impl DocumentCache {
    /// Gives the request its parsed document, from the cache or parsed now. A query that does
    /// not parse is left alone, for the executor to report.
    pub fn prepare(&self, request: &mut Request) {
        if let Some(document) = self.0.get(request.query.as_str()) {
            request.set_parsed_query(document);
            return;
        }
        let Ok(document) = request.parsed_query().cloned() else {
            return;
        };
        self.0.insert(request.query.clone(), document);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_queries_that_keep_coming_within_its_bytes() {
        let cache = DocumentCache::default();
        let hot = "query Hot { __typename }";
        cache.prepare(&mut Request::new(hot));
        for i in 0..10_000 {
            let padding = "x".repeat(100);
            cache.prepare(&mut Request::new(format!(
                "# {padding}\nquery Q{i} {{ __typename }}"
            )));
            assert!(
                cache.0.get(hot).is_some(),
                "evicted after {i} other queries"
            );
            cache.prepare(&mut Request::new(hot));
        }
        assert!(cache.0.weight() <= CAPACITY_BYTES, "{}", cache.0.weight());
        assert!(cache.0.len() > 1_000, "{}", cache.0.len());
    }
}

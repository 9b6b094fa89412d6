//! A cache of parsed GraphQL documents by query text. Clients send the same few queries over and
//! over; parsing is the most expensive step of executing one, so each text is parsed, and
//! checked against the document limits (`graphql.max_depth`, `graphql.max_complexity`), once. The
//! cache is bounded by the bytes of query text it holds; past them it evicts by S3-FIFO
//! (quick_cache), so a stream of queries asked once can neither grow it nor push out the queries
//! that keep coming.

use std::sync::Arc;

use async_graphql::Request;
use async_graphql::parser::types::ExecutableDocument;
use quick_cache::Weighter;
use quick_cache::sync::Cache;

use super::limits;
use crate::config::GraphqlConfig;
use crate::error::{ApiError, ErrorCode};

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

/// Parsed documents that passed the limits, by query text.
#[derive(Clone)]
pub struct DocumentCache {
    documents: Arc<Cache<String, ExecutableDocument, QueryBytes>>,
    limits: GraphqlConfig,
}

impl DocumentCache {
    /// An empty cache whose documents must stay within `limits`.
    pub fn new(limits: &GraphqlConfig) -> Self {
        Self {
            documents: Arc::new(Cache::with_weighter(
                EXPECTED_DOCUMENTS,
                CAPACITY_BYTES,
                QueryBytes,
            )),
            limits: limits.clone(),
        }
    }

    /// Gives the request its parsed document, from the cache or parsed and checked now; a
    /// document that does not parse is `INVALID_QUERY`, one past the limits `QUERY_TOO_COMPLEX`.
    pub fn prepare(&self, request: &mut Request) -> Result<(), ApiError> {
        if let Some(document) = self.documents.get(request.query.as_str()) {
            request.set_parsed_query(document);
            return Ok(());
        }
        let document = async_graphql::parser::parse_query(&request.query)
            .map_err(|e| ApiError::new(ErrorCode::InvalidQuery, e.to_string()))?;
        limits::check(&document, self.limits.max_depth, self.limits.max_complexity)?;
        self.documents
            .insert(request.query.clone(), document.clone());
        request.set_parsed_query(document);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_queries_that_keep_coming_within_its_bytes() {
        let cache = DocumentCache::new(&GraphqlConfig::default());
        let hot = "query Hot { __typename }";
        let prepare = |query: String| cache.prepare(&mut Request::new(query)).expect("prepared");
        prepare(hot.into());
        for i in 0..10_000 {
            let padding = "x".repeat(100);
            prepare(format!("# {padding}\nquery Q{i} {{ __typename }}"));
            assert!(
                cache.documents.get(hot).is_some(),
                "evicted after {i} other queries"
            );
            prepare(hot.into());
        }
        assert!(
            cache.documents.weight() <= CAPACITY_BYTES,
            "{}",
            cache.documents.weight()
        );
        assert!(cache.documents.len() > 1_000, "{}", cache.documents.len());
    }
}

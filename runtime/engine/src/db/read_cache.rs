//! Answers of expensive reads, kept until the database changes (SQLite and PostgreSQL).
//!
//! A read that scans (a filter on a column without an index, say) costs the database hundreds of
//! microseconds to milliseconds however often it is asked; a read answered from here costs a hash
//! lookup and one cheap question to the database: has anything been committed since? Only answers
//! of statement texts found expensive are kept ([`Expensive`]); a point read runs faster than it
//! would be looked up.
//!
//! Freshness. SQLite: `PRAGMA data_version` changes on a connection whenever any other
//! connection, of this process (the writer) or of another one, has committed since that
//! connection last asked; every cached read first asks its reader connection, and a change
//! empties the cache (the [`ReadCache::epoch`] moves on). PostgreSQL: `pg_current_snapshot()`
//! names the transactions a new statement would see as committed; two equal snapshots see the
//! same rows, and any commit anywhere on the server since changes it. Every cached read first
//! asks for it ([`ReadCache::at_version`]); a snapshot other than the last one seen empties the
//! cache. On both, an answer is stored under the epoch read before its statement ran, so it is
//! never served once a commit that it may have missed was seen: a request always sees every write
//! committed before it arrived. An answer is also at most [`MAX_AGE`] old, for views whose rows
//! depend on the clock (`date('now')`), which no commit changes. Past [`REFRESH_AGE`], the first
//! request for it computes it afresh while the others are still served the kept one: answers
//! stored together would otherwise expire together, and every request for them would wait for
//! all their scans at once, once a second.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{DbMetrics, JsonRow, Statement};
use crate::query::Value;

/// SQLite statements that took at least this many virtual-machine steps (a count of work done,
/// unlike a time, the same on a busy machine) have their answers kept: a scan of a few thousand
/// rows; a point read or a page of 50 rows takes hundreds.
pub const EXPENSIVE_STEPS: u64 = 20_000;

/// How long an answer is served at most, commits or not.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// From what age one request computes an answer again, before it expires.
pub const REFRESH_AGE: Duration = Duration::from_millis(750);

/// Statement texts a reader connection found expensive; at most this many are remembered.
const EXPENSIVE_TEXTS: usize = 256;

/// Cached answers of expensive reads.
#[derive(Debug)]
pub struct ReadCache {
    max_bytes: usize,
    state: Mutex<State>,
    metrics: DbMetrics,
}

#[derive(Debug, Default)]
struct State {
    epoch: u64,
    /// PostgreSQL: the snapshot the current epoch began with.
    version: String,
    /// Bytes held by `answers`: keys and JSON.
    bytes: usize,
    answers: HashMap<(Arc<str>, String), Cached>,
}

#[derive(Debug)]
struct Cached {
    epoch: u64,
    stored: Instant,
    /// A request is computing it afresh.
    refreshing: bool,
    answer: Option<JsonRow>,
}

impl ReadCache {
    /// A cache holding at most `max_bytes` of answers and statement texts; 0 keeps nothing.
    pub fn new(max_bytes: usize, metrics: DbMetrics) -> Self {
        Self {
            max_bytes,
            state: Mutex::default(),
            metrics,
        }
    }

    /// Whether answers are kept at all.
    pub fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    /// The current epoch; answers stored under an older one are never served.
    pub fn epoch(&self) -> u64 {
        self.state().epoch
    }

    /// A reader saw the database change: every answer kept so far may be stale.
    pub fn changed(&self) {
        Self::start_over(&mut self.state());
        self.metrics.cache_bytes.set(0);
    }

    fn start_over(state: &mut State) {
        state.epoch += 1;
        state.answers.clear();
        state.bytes = 0;
    }

    /// The epoch of the database state named `version` (PostgreSQL's snapshot): the current one
    /// while that is the last version seen, else a new one.
    pub fn at_version(&self, version: &str) -> u64 {
        let mut state = self.state();
        if state.version != version {
            state.version.clear();
            state.version.push_str(version);
            Self::start_over(&mut state);
            self.metrics.cache_bytes.set(0);
        }
        state.epoch
    }

    /// The answer kept for this statement under `epoch`, if any; `None` also for the first
    /// request that asks after [`REFRESH_AGE`], which is to compute and [`ReadCache::put`] it.
    pub fn get(&self, statement: &Statement, epoch: u64) -> Option<Option<JsonRow>> {
        let found = self.lookup(statement, epoch);
        match found {
            Some(_) => self.metrics.cache_hits.inc(),
            None => self.metrics.cache_misses.inc(),
        };
        found
    }

    fn lookup(&self, statement: &Statement, epoch: u64) -> Option<Option<JsonRow>> {
        let key = (statement.sql.clone(), params_key(&statement.params));
        let mut state = self.state();
        let cached = state.answers.get_mut(&key)?;
        let age = cached.stored.elapsed();
        if cached.epoch != epoch || age >= MAX_AGE {
            return None;
        }
        if age >= REFRESH_AGE && !std::mem::replace(&mut cached.refreshing, true) {
            return None;
        }
        Some(cached.answer.clone())
    }

    /// Keeps an answer computed after `epoch` was read, in place of any older one.
    pub fn put(&self, statement: &Statement, epoch: u64, answer: &Option<JsonRow>) {
        let key = (statement.sql.clone(), params_key(&statement.params));
        let key_len = key.0.len() + key.1.len();
        let size = key_len + json_len(answer);
        if size > self.max_bytes / 4 {
            return;
        }
        let mut state = self.state();
        if state.epoch != epoch {
            return;
        }
        if let Some(old) = state.answers.remove(&key) {
            state.bytes -= key_len + json_len(&old.answer);
        }
        // Full: start over rather than track which answer is oldest.
        if state.bytes + size > self.max_bytes {
            state.answers.clear();
            state.bytes = 0;
        }
        state.bytes += size;
        let cached = Cached {
            epoch,
            stored: Instant::now(),
            refreshing: false,
            answer: answer.clone(),
        };
        state.answers.insert(key, cached);
        self.metrics
            .cache_bytes
            .set(i64::try_from(state.bytes).unwrap_or(i64::MAX));
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn json_len(answer: &Option<JsonRow>) -> usize {
    answer.as_ref().map_or(0, |a| a.json.len())
}

/// Statement texts found expensive: those that cost at least `threshold` (in the database's own
/// unit) `runs` runs in a row. SQLite counts work (one run decides); PostgreSQL's measure is a
/// time, which a busy machine stretches, so there a text must be slow a few times in a row. Only
/// a run that costs less than a tenth of the threshold un-marks a text: a scan that sometimes
/// takes a little less than the threshold must not go in and out of the cache.
#[derive(Debug)]
pub struct Expensive {
    runs: u8,
    threshold: u64,
    /// Texts by how many of their last runs in a row were expensive.
    streaks: HashMap<Arc<str>, u8>,
}

impl Expensive {
    pub fn new(runs: u8, threshold: u64) -> Self {
        Self {
            runs: runs.max(1),
            threshold,
            streaks: HashMap::new(),
        }
    }

    pub fn contains(&self, statement: &Statement) -> bool {
        self.streaks
            .get(&statement.sql)
            .is_some_and(|streak| *streak >= self.runs)
    }

    /// Notes what a run of a text cost.
    pub fn note(&mut self, statement: &Statement, cost: u64) {
        if cost < self.threshold {
            let cheap = cost < self.threshold / 10;
            if !self.streaks.is_empty() && (cheap || !self.contains(statement)) {
                self.streaks.remove(&statement.sql);
            }
            return;
        }
        if self.streaks.len() >= EXPENSIVE_TEXTS && !self.streaks.contains_key(&statement.sql) {
            self.streaks.clear();
        }
        let streak = self.streaks.entry(statement.sql.clone()).or_default();
        *streak = streak.saturating_add(1);
    }
}

/// The parameters as one unambiguous text: a tag per value, texts prefixed by their length.
fn params_key(params: &[Value]) -> String {
    let mut key = String::new();
    for param in params {
        let _ = match param {
            Value::Null => write!(key, "n;"),
            Value::Bool(v) => write!(key, "b{};", u8::from(*v)),
            Value::Int(v) => write!(key, "i{v};"),
            Value::Float(v) => write!(key, "f{};", v.to_bits()),
            Value::Text(v) => write!(key, "t{}:{v}", v.len()),
            Value::Json(v) => {
                let v = v.to_string();
                write!(key, "j{}:{v}", v.len())
            }
        };
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(sql: &str, params: Vec<Value>) -> Statement {
        crate::sql::testing::read(super::super::Dialect::Sqlite, sql, params)
    }

    fn answer(json: &str) -> Option<JsonRow> {
        Some(JsonRow {
            json: json.into(),
            count: None,
        })
    }

    #[test]
    fn parameters_that_print_alike_are_different_keys() {
        assert_ne!(
            params_key(&[Value::Text("a;i1;".into())]),
            params_key(&[Value::Text("a".into()), Value::Int(1)])
        );
        assert_ne!(
            params_key(&[Value::Int(1)]),
            params_key(&[Value::Text("1".into())])
        );
    }

    #[test]
    fn an_answer_is_served_until_the_database_changes() {
        let cache = ReadCache::new(1 << 20, DbMetrics::default());
        let read = statement("SELECT 1", vec![Value::Int(7)]);
        let epoch = cache.epoch();
        cache.put(&read, epoch, &answer("[1]"));
        assert_eq!(cache.get(&read, epoch).unwrap().unwrap().json, "[1]");
        let other = statement("SELECT 1", vec![Value::Int(8)]);
        assert!(cache.get(&other, epoch).is_none());
        cache.changed();
        assert!(cache.get(&read, cache.epoch()).is_none());
    }

    #[test]
    fn a_text_is_expensive_after_enough_expensive_runs_in_a_row() {
        let mut expensive = Expensive::new(3, 1000);
        let scan = statement("SELECT scan", vec![]);
        let point = statement("SELECT point", vec![]);
        expensive.note(&scan, 1000);
        expensive.note(&scan, 900);
        expensive.note(&point, 40);
        for _ in 0..2 {
            expensive.note(&scan, 1500);
        }
        assert!(
            !expensive.contains(&scan),
            "two runs in a row are not enough"
        );
        expensive.note(&scan, 1500);
        assert!(expensive.contains(&scan));
        assert!(!expensive.contains(&point));
        expensive.note(&scan, 900);
        assert!(expensive.contains(&scan), "a little cheaper keeps it");
        expensive.note(&scan, 99);
        assert!(!expensive.contains(&scan), "a cheap run un-marks it");
        let mut sqlite = Expensive::new(1, 1000);
        sqlite.note(&point, 1000);
        assert!(sqlite.contains(&point));
    }

    #[test]
    fn a_new_version_starts_a_new_epoch() {
        let cache = ReadCache::new(1 << 20, DbMetrics::default());
        let read = statement("SELECT 1", vec![]);
        let first = cache.at_version("10:12:10,11");
        assert_eq!(cache.at_version("10:12:10,11"), first);
        cache.put(&read, first, &answer("[1]"));
        assert!(cache.get(&read, cache.at_version("10:12:10,11")).is_some());
        let next = cache.at_version("10:13:10,11");
        assert_ne!(next, first);
        assert!(cache.get(&read, next).is_none());
    }

    #[test]
    fn an_answer_is_served_for_at_most_max_age() {
        let cache = ReadCache::new(1 << 20, DbMetrics::default());
        let read = statement("SELECT date('now')", vec![]);
        cache.put(&read, 0, &answer("[1]"));
        assert!(cache.get(&read, 0).is_some());
        let age = |by: Duration| {
            for cached in cache.state().answers.values_mut() {
                cached.stored -= by;
            }
        };
        age(REFRESH_AGE);
        assert!(cache.get(&read, 0).is_none(), "the first asks afresh");
        assert!(cache.get(&read, 0).is_some(), "the others are served");
        age(MAX_AGE - REFRESH_AGE);
        assert!(cache.get(&read, 0).is_none());
        cache.put(&read, 0, &answer("[2]"));
        assert_eq!(cache.get(&read, 0).unwrap().unwrap().json, "[2]");
    }

    #[test]
    fn an_answer_computed_before_a_change_is_not_kept() {
        let cache = ReadCache::new(1 << 20, DbMetrics::default());
        let read = statement("SELECT 1", vec![]);
        let epoch = cache.epoch();
        cache.changed();
        cache.put(&read, epoch, &answer("[1]"));
        assert!(cache.get(&read, cache.epoch()).is_none());
    }

    #[test]
    fn a_full_cache_starts_over() {
        // Each answer below takes 11 bytes ("SELECT n" and "[n]"): nine fit in 100.
        let cache = ReadCache::new(100, DbMetrics::default());
        let reads: Vec<Statement> = (0..10)
            .map(|n| statement(&format!("SELECT {n}"), vec![]))
            .collect();
        for (n, read) in reads.iter().enumerate() {
            cache.put(read, 0, &answer(&format!("[{n}]")));
        }
        assert!(cache.get(&reads[0], 0).is_none(), "emptied for the tenth");
        assert_eq!(cache.get(&reads[9], 0).unwrap().unwrap().json, "[9]");
        let large = statement("SELECT 1", vec![Value::Text("x".repeat(20))]);
        cache.put(&large, 0, &answer("[1]"));
        assert!(
            cache.get(&large, 0).is_none(),
            "larger than a quarter of the cache"
        );
        assert!(!ReadCache::new(0, DbMetrics::default()).enabled());
    }
}

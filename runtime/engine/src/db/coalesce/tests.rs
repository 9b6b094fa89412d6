//! The coalescer against a PostgreSQL server (`TEST_POSTGRES_URL`; each test skips without it).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};

use super::{Coalescer, KEPT_QUEUES, Timed};
use crate::catalog::{ColumnKind, Generated};
use crate::db::{DbError, Dialect, Statement};
use crate::query::{Operation, Value};
use crate::sql::testing;

/// Runs `texts` distinct statements one after another, checking each answer, and waits
/// until no runner is left.
async fn run_distinct(coalescer: &Arc<Coalescer>, pool: &PgPool, texts: std::ops::Range<usize>) {
    for n in texts {
        let statement = testing::read(
            Dialect::Postgres,
            &format!("SELECT '{n}'::text"),
            Vec::new(),
        );
        let timed = coalescer.fetch(pool, &statement).await.expect("a read");
        assert_eq!(timed.answer.expect("a row").json, n.to_string());
    }
    while coalescer.queues().values().any(|queue| queue.running > 0) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A pool on TEST_POSTGRES_URL, with its URL; `None` (the test skips) when it is not set.
async fn postgres(options: PgPoolOptions) -> Option<(String, PgPool)> {
    let url = std::env::var("TEST_POSTGRES_URL").ok()?;
    let pool = options
        .connect(&url)
        .await
        .expect("connect to TEST_POSTGRES_URL");
    Some((url, pool))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_statement_texts_are_kept_up_to_a_bound() {
    let Some((_, pool)) = postgres(PgPoolOptions::new()).await else {
        return;
    };
    let coalescer = Arc::new(Coalescer::default());
    run_distinct(&coalescer, &pool, 0..10).await;
    assert_eq!(coalescer.queues().len(), 10, "idle texts stay");
    run_distinct(&coalescer, &pool, 10..10 + 2 * KEPT_QUEUES).await;
    let kept = coalescer.queues().len();
    assert!(kept <= KEPT_QUEUES, "{kept} idle texts kept");
}

#[tokio::test]
async fn every_member_of_a_batch_that_gets_no_connection_is_busy() {
    let options = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(200));
    let Some((_, pool)) = postgres(options).await else {
        return;
    };
    let held = pool.acquire().await.expect("the only connection");
    let coalescer = Arc::new(Coalescer::default());
    let reads: Vec<Statement> = (0..4)
        .map(|n| {
            testing::read(
                Dialect::Postgres,
                "SELECT ?::text",
                vec![Value::Text(n.to_string())],
            )
        })
        .collect();
    // Queued together before the runner first runs (one thread), so they run as one batch.
    let answers =
        futures_util::future::join_all(reads.iter().map(|read| coalescer.fetch(&pool, read))).await;
    for answer in answers {
        assert!(matches!(answer, Err(DbError::Busy)), "{answer:?}");
    }
    drop(held);
    let answer = coalescer.fetch(&pool, &reads[1]).await.expect("a read");
    assert_eq!(answer.answer.expect("a row").json, "1");
}

#[tokio::test]
async fn a_runner_hands_its_connection_back_when_the_pool_has_no_other() {
    let options = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(1));
    let Some((_, pool)) = postgres(options).await else {
        return;
    };
    let coalescer = Arc::new(Coalescer::default());
    let read = |sql: &str, n: i64| testing::read(Dialect::Postgres, sql, vec![Value::Int(n)]);
    // Slow reads of one text arrive faster than they run: its runners always have more,
    // for longer than the acquire timeout. (Their parameters are equal, so that each batch
    // sleeps once.)
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let arrivals = tokio::spawn({
        let (coalescer, pool, stop) = (Arc::clone(&coalescer), pool.clone(), Arc::clone(&stop));
        async move {
            let mut reads = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (coalescer, pool) = (Arc::clone(&coalescer), pool.clone());
                let slow = read("SELECT ?::text FROM pg_sleep(0.05)", 7);
                reads.push(tokio::spawn(
                    async move { coalescer.fetch(&pool, &slow).await },
                ));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            reads
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let other = coalescer
        .fetch(&pool, &read("SELECT (? + 1)::text", 41))
        .await
        .expect("the other text gets the connection in turn");
    assert_eq!(other.answer.expect("a row").json, "42");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in arrivals.await.expect("the arrivals") {
        let answer = task.await.expect("the task").expect("a slow read");
        assert_eq!(answer.answer.expect("a row").json, "7");
    }
}

/// The insert of a row `{"a": n}` into `table`, built as the API builds it.
fn insert(table: &str, n: i64) -> Statement {
    let columns = [("a", "integer", ColumnKind::Integer, Generated::No)];
    let model = testing::model(Dialect::Postgres, table, &columns);
    let operation = Operation::Insert {
        entity: 0,
        rows: vec![vec![(0, Value::Int(n))]],
        returning: vec![0],
    };
    crate::sql::build(&model, Dialect::Postgres, &operation)
}

/// The answer's JSON, parsed.
fn answer(timed: Timed) -> serde_json::Value {
    serde_json::from_str(&timed.answer.expect("a row").json).expect("JSON")
}

#[tokio::test]
async fn inserts_behind_one_waiting_on_a_lock_get_another_runner() {
    let Some((_, pool)) = postgres(PgPoolOptions::new()).await else {
        return;
    };
    let table = format!("coalesce_stalled_{}", std::process::id());
    let setup = format!("DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (a int PRIMARY KEY)");
    sqlx::raw_sql(AssertSqlSafe(setup))
        .execute(&pool)
        .await
        .expect("a table");
    // A transaction holds key 1 uncommitted: an insert of 1 waits until it ends.
    let mut holder = pool.begin().await.expect("a transaction");
    sqlx::raw_sql(AssertSqlSafe(format!("INSERT INTO {table} VALUES (1)")))
        .execute(&mut *holder)
        .await
        .expect("key 1 held");
    let coalescer = Arc::new(Coalescer::default());
    let blocked = tokio::spawn({
        let (coalescer, pool, first) = (Arc::clone(&coalescer), pool.clone(), insert(&table, 1));
        async move { coalescer.fetch(&pool, &first).await }
    });
    let waiting = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO \"{table}\" %'"
    );
    while sqlx::query_scalar::<_, i64>(AssertSqlSafe(waiting.clone()))
        .fetch_one(&pool)
        .await
        .expect("backends")
        == 0
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let second = tokio::time::timeout(
        Duration::from_secs(5),
        coalescer.fetch(&pool, &insert(&table, 2)),
    )
    .await
    .expect("the insert of 2 is not held up behind the insert of 1")
    .expect("an answer");
    assert_eq!(answer(second), json!([{"a": 2}]));
    holder.rollback().await.expect("key 1 let go");
    let first = blocked.await.expect("the task").expect("an answer");
    assert_eq!(answer(first), json!([{"a": 1}]));
    let drop = format!("DROP TABLE {table}");
    sqlx::raw_sql(AssertSqlSafe(drop))
        .execute(&pool)
        .await
        .expect("drop");
}

#[tokio::test]
async fn a_combined_write_the_database_ends_runs_again_member_by_member() {
    let Some((url, pool)) = postgres(PgPoolOptions::new()).await else {
        return;
    };
    let table = format!("coalesce_ended_{}", std::process::id());
    // Each row waits as long as the pause says before it is written.
    let setup = format!(
        "DROP TABLE IF EXISTS {table}, {table}_pause; CREATE TABLE {table} (a int); \
         CREATE TABLE {table}_pause (seconds float8); INSERT INTO {table}_pause VALUES (30); \
         CREATE OR REPLACE FUNCTION {table}_wait() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep(seconds) FROM {table}_pause; RETURN NEW; END $$; \
         CREATE TRIGGER {table}_wait BEFORE INSERT ON {table} FOR EACH ROW \
         EXECUTE FUNCTION {table}_wait()"
    );
    sqlx::raw_sql(AssertSqlSafe(setup))
        .execute(&pool)
        .await
        .expect("tables");
    // The batch waits until its backend is ended; the statements run again do not.
    let inserts: Vec<Statement> = (0..3).map(|n| insert(&table, n)).collect();
    let coalescer = Arc::new(Coalescer::default());
    // Queued together before the runner first runs (one thread), so they run as one batch.
    let batch =
        futures_util::future::join_all(inserts.iter().map(|insert| coalescer.fetch(&pool, insert)));
    let end_it = async {
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .expect("admin");
        // Only a backend already asleep: it has read the pause, so setting it to 0 (for the
        // statements run again) cannot race the batch's own read of it.
        let waiting = format!(
            "SELECT pid FROM pg_stat_activity WHERE query LIKE '%INSERT INTO \"{table}\"%' \
             AND wait_event = 'PgSleep' AND pid <> pg_backend_pid()"
        );
        loop {
            let pids: Vec<(i32,)> = sqlx::query_as(AssertSqlSafe(waiting.clone()))
                .fetch_all(&mut admin)
                .await
                .expect("backends");
            if let [(pid,)] = pids.as_slice() {
                let pause = format!("UPDATE {table}_pause SET seconds = 0");
                sqlx::raw_sql(AssertSqlSafe(pause))
                    .execute(&mut admin)
                    .await
                    .expect("no more pauses");
                sqlx::query("SELECT pg_terminate_backend($1)")
                    .bind(pid)
                    .execute(&mut admin)
                    .await
                    .expect("terminate");
                return;
            }
            assert!(pids.is_empty(), "the three inserts run as one statement");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (answers, ()) = tokio::join!(batch, end_it);
    let answers: Vec<serde_json::Value> = answers
        .into_iter()
        .map(|timed| answer(timed.expect("an answer")))
        .collect();
    assert_eq!(
        answers,
        [json!([{"a": 0}]), json!([{"a": 1}]), json!([{"a": 2}])]
    );
    let count = format!("SELECT array_agg(a ORDER BY a)::text FROM {table}");
    let (rows,): (String,) = sqlx::query_as(AssertSqlSafe(count))
        .fetch_one(&pool)
        .await
        .expect("rows");
    assert_eq!(rows, "{0,1,2}", "each row written once");
    let drop = format!("DROP TABLE {table}, {table}_pause; DROP FUNCTION {table}_wait()");
    sqlx::raw_sql(AssertSqlSafe(drop))
        .execute(&pool)
        .await
        .expect("drop");
}

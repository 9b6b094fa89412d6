//! The `runtime` binary run from a test as a user runs it, and a look straight into the
//! database beside it (as `sqlite3` or `psql` would), for the migration and backup commands.

use std::path::Path;
use std::process::{Command, Output};

/// `runtime` in `dir` over the database at `url`, with the migrations of `migrations`.
pub fn runtime(dir: &Path, url: &str, migrations: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runtime"));
    command
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("RUNTIME_MIGRATIONS__DIR", migrations)
        .env("RUNTIME_DATABASE__URL", url);
    command
}

/// Runs `runtime ARGS` and answers its output.
pub fn run(dir: &Path, url: &str, migrations: &Path, args: &[&str]) -> Output {
    runtime(dir, url, migrations).args(args).output().unwrap()
}

/// Runs `runtime ARGS`, which must succeed, and answers stdout and stderr.
pub fn succeed(dir: &Path, url: &str, migrations: &Path, args: &[&str]) -> String {
    let output = run(dir, url, migrations, args);
    assert!(
        output.status.success(),
        "runtime {args:?}: {}",
        text(&output)
    );
    text(&output)
}

/// Runs `runtime ARGS`, which must fail, and answers stdout and stderr.
pub fn fail(dir: &Path, url: &str, migrations: &Path, args: &[&str]) -> String {
    let output = run(dir, url, migrations, args);
    assert!(
        !output.status.success(),
        "runtime {args:?} should fail: {}",
        text(&output)
    );
    text(&output)
}

pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The first column of every row of `sql`, as text (`sql` casts it).
pub async fn strings(url: &str, sql: &str) -> Vec<String> {
    use sqlx::Connection as _;
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("sqlite");
        let rows = sqlx::query_scalar(sql).fetch_all(&mut conn).await;
        conn.close().await.expect("close");
        rows.expect("query")
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("postgres");
        let rows = sqlx::query_scalar(sql).fetch_all(&mut conn).await;
        conn.close().await.expect("close");
        rows.expect("query")
    }
}

/// The versions recorded as applied, in order.
pub async fn history(url: &str) -> Vec<i32> {
    strings(
        url,
        "SELECT CAST(version AS TEXT) FROM refinery_schema_history ORDER BY version",
    )
    .await
    .iter()
    .map(|v| v.parse().unwrap())
    .collect()
}

/// The tables and views of the database, by name.
pub async fn relations(url: &str) -> Vec<String> {
    let sql = if url.starts_with("sqlite:") {
        "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') \
         AND name NOT LIKE 'sqlite_%' ORDER BY name"
    } else {
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() ORDER BY 1"
    };
    strings(url, sql).await
}

/// The columns of a table, by name.
pub async fn columns(url: &str, table: &str) -> Vec<String> {
    let sql = if url.starts_with("sqlite:") {
        format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid")
    } else {
        format!(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}' \
             ORDER BY ordinal_position"
        )
    };
    strings(url, &sql).await
}

/// `SELECT count(*) FROM table`.
pub async fn count(url: &str, table: &str) -> i64 {
    strings(url, &format!("SELECT CAST(count(*) AS TEXT) FROM {table}"))
        .await
        .first()
        .expect("a count")
        .parse()
        .unwrap()
}

/// The `table rows` lines that `db backup` and `db restore` print on stdout, as (table, rows).
pub fn row_counts(output: &Output) -> Vec<(String, i64)> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with("table "));
    lines.next();
    lines
        .map_while(|line| {
            let (table, rows) = line.rsplit_once(' ')?;
            Some((table.trim().to_string(), rows.parse().ok()?))
        })
        .collect()
}

/// The row count of `table` among the printed ones.
pub fn rows_of(counts: &[(String, i64)], table: &str) -> i64 {
    counts
        .iter()
        .find(|(t, _)| t == table)
        .unwrap_or_else(|| panic!("no count for {table} in {counts:?}"))
        .1
}

/// The runtime's change-capture triggers on a table, by name.
pub async fn capture_triggers(url: &str, table: &str) -> Vec<String> {
    let sql = if url.starts_with("sqlite:") {
        format!(
            "SELECT name FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = '{table}' \
             AND name LIKE 'runtime_changes_%' ORDER BY name"
        )
    } else {
        format!(
            "SELECT t.tgname::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
             WHERE c.relname = '{table}' AND t.tgname LIKE 'runtime_changes_%' ORDER BY 1"
        )
    };
    strings(url, &sql).await
}

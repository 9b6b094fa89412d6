//! PostgreSQL: gives the changes in the inbox their ids, in the order they became visible, and
//! moves them into the log. A sequence value taken inside a transaction says nothing about when
//! that transaction commits, so ids taken by the triggers could appear out of order, and a
//! reader that had moved past an id would miss a change committed later with a smaller one.
//! Here one sequencer at a time (an advisory lock, across every runtime process on the database)
//! moves what its snapshot sees committed, numbered after the newest id in the log, and commits
//! before the next one starts: ids are handed out in commit order of the moves, and a reader
//! that has seen id N will never find a new change at or below N. Changes of one row keep their
//! order: a later write of a row waits for the earlier one's commit, so no snapshot sees it
//! without the earlier one. It then notifies every process's hub (`NOTIFY`, only a wake-up).

use sqlx::PgConnection;

use super::capture::{INBOX_TABLE, LOG_TABLE};

/// Taken by the sequencing transaction: one sequencer at a time per database.
const SEQUENCER_LOCK: i64 = 0x7275_6e74_6576_0002;

/// The channel every hub listens on.
pub const CHANNEL: &str = "runtime_changes";

/// Inbox rows (statements' changes) moved per statement.
const BATCH: i64 = 1_000;

/// The function that sequences, created with the log: one call is one round (one round trip,
/// one transaction). Inside it every statement takes a snapshot of its own (the function is
/// volatile, and the sequencer's session reads committed), so the move sees the previous
/// sequencer's ids once it holds the lock. Each inbox row (one statement's changes) becomes one
/// log row whose `last` is the id of its last change: the running total of the changes moved,
/// after the newest id. It answers how many changes it moved. `definer` makes it run as its
/// owner, so an app's own role sequences without holding the inbox or the log.
pub fn function_sql(definer: &str) -> String {
    format!(
        "CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS bigint LANGUAGE plpgsql {definer} AS $fn$
         DECLARE
           batch bigint;
           changes bigint;
           moved bigint := 0;
         BEGIN
           PERFORM pg_advisory_xact_lock({SEQUENCER_LOCK});
           LOOP
             WITH taken AS (
               DELETE FROM {INBOX_TABLE} WHERE ctid IN
                 (SELECT ctid FROM {INBOX_TABLE} ORDER BY seq LIMIT {BATCH})
               RETURNING seq, tbl, op, rows, n),
             base AS (SELECT coalesce(max(last), 0) AS newest FROM {LOG_TABLE}),
             logged AS (
               INSERT INTO {LOG_TABLE} (last, n, tbl, op, rows, at)
               SELECT base.newest + sum(taken.n) OVER (ORDER BY taken.seq),
                      taken.n, taken.tbl, taken.op, taken.rows, statement_timestamp()
               FROM taken, base
               RETURNING n)
             SELECT count(*), coalesce(sum(n), 0) INTO batch, changes FROM logged;
             moved := moved + changes;
             EXIT WHEN batch < {BATCH};
           END LOOP;
           IF moved > 0 THEN
             PERFORM pg_notify('{CHANNEL}', '');
           END IF;
           RETURN moved;
         END
         $fn$;"
    )
}

/// The sequencing function's name.
pub(crate) const FUNCTION: &str = "runtime_sequence";

/// Prepares a connection to sequence on: its statements read committed, whatever the server's
/// default.
pub async fn prepare(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SET default_transaction_isolation = 'read committed'")
        .execute(conn)
        .await
        .map(drop)
}

/// Moves every committed change from the inbox into the log; answers how many it moved.
pub async fn sequence(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {FUNCTION}()")))
        .fetch_one(conn)
        .await
}

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

use sqlx::{Connection as _, PgConnection};

use super::capture::{INBOX_TABLE, LOG_TABLE};

/// Taken by the sequencing transaction: one sequencer at a time per database.
const SEQUENCER_LOCK: i64 = 0x7275_6e74_6576_0002;

/// The channel every hub listens on.
pub const CHANNEL: &str = "runtime_changes";

/// Changes moved per transaction.
const BATCH: i64 = 5_000;

/// Moves every committed change from the inbox into the log; answers how many it moved.
pub async fn sequence(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let pending: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT EXISTS (SELECT 1 FROM {INBOX_TABLE})"
    )))
    .fetch_one(&mut *conn)
    .await?;
    if !pending {
        return Ok(0);
    }
    let mut moved = 0;
    loop {
        let mut tx = conn.begin().await?;
        // Read committed whatever the server's default: each statement's snapshot is its own.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SEQUENCER_LOCK)
            .execute(&mut *tx)
            .await?;
        // A new snapshot, taken after the lock: the previous sequencer's ids are visible.
        let batch = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH moved AS (\
               DELETE FROM {INBOX_TABLE} WHERE seq IN \
                 (SELECT seq FROM {INBOX_TABLE} ORDER BY seq LIMIT $1) \
               RETURNING seq, tbl, op, key, row), \
             base AS (SELECT coalesce(max(id), 0) AS last FROM {LOG_TABLE}) \
             INSERT INTO {LOG_TABLE} (id, tbl, op, key, row, at) \
             SELECT base.last + row_number() OVER (ORDER BY moved.seq), \
                    moved.tbl, moved.op, moved.key, moved.row, statement_timestamp() \
             FROM moved, base"
        )))
        .bind(BATCH)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if batch > 0 {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(CHANNEL)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        moved += batch;
        if batch < BATCH as u64 {
            return Ok(moved);
        }
    }
}

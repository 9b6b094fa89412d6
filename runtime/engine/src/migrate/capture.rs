//! SQLite: the runtime's change-capture triggers ([`crate::events::capture`]) name every column
//! of their table, and SQLite refuses to drop or rename a column a trigger names. An undo sets
//! the triggers aside inside its own transaction and puts back each one whose table still has
//! the same columns. The others (their table dropped, or its columns changed) stay dropped until
//! `runtime start`, which creates the triggers of the tables it serves from the schema it finds.
//! (PostgreSQL's capture triggers name no column.)

use sqlx::{AssertSqlSafe, SqliteConnection};

use crate::events::capture::TRIGGER_PREFIX;
use crate::sql::quote::ident;

/// A trigger set aside: its definition, and the columns of its table then.
struct Trigger {
    table: String,
    sql: String,
    columns: Vec<String>,
}

pub(super) struct SetAside(Vec<Trigger>);

/// Drops every capture trigger, remembering each.
pub(super) async fn set_aside(conn: &mut SqliteConnection) -> Result<SetAside, sqlx::Error> {
    let triggers: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT name, tbl_name, sql FROM sqlite_schema WHERE type = 'trigger' AND name LIKE ?1",
    )
    .bind(format!("{TRIGGER_PREFIX}%"))
    .fetch_all(&mut *conn)
    .await?;
    let mut aside = Vec::new();
    for (name, table, sql) in triggers {
        let columns = columns(conn, &table).await?;
        sqlx::query(AssertSqlSafe(format!("DROP TRIGGER {}", ident(&name))))
            .execute(&mut *conn)
            .await?;
        aside.push(Trigger {
            table,
            sql,
            columns,
        });
    }
    Ok(SetAside(aside))
}

/// Creates again each trigger whose table has the columns it had.
pub(super) async fn put_back(
    conn: &mut SqliteConnection,
    aside: SetAside,
) -> Result<(), sqlx::Error> {
    for trigger in aside.0 {
        if columns(conn, &trigger.table).await? == trigger.columns {
            sqlx::query(AssertSqlSafe(trigger.sql))
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// A table's column names in order; none when it does not exist.
async fn columns(conn: &mut SqliteConnection, table: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
        .bind(table)
        .fetch_all(&mut *conn)
        .await
}

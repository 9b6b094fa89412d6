//! `migrate undo`: Flyway's undo migrations. `U<version>__<name>.sql` (or its dialect pair)
//! undoes `V<version>__<name>`; each undo runs in one transaction together with removing the
//! migration's history row, so it happens whole or not at all. Every migration to undo is
//! checked first (its file unchanged since it was applied, an undo file holding SQL), so a
//! missing undo file stops the command before anything is undone. On PostgreSQL the advisory
//! lock of `apply` is held throughout; on SQLite removing the history row first takes the write
//! lock, and a row another process removed meanwhile stops the undo.

use std::cmp::Reverse;
use std::path::Path;

use refinery_core::Migration;
use sqlx::{AssertSqlSafe, Connection as _};

use super::driver::MigrationConnection;
use super::lock::Locked;
use super::{HISTORY_TABLE, MigrateError, MigrationFile, capture, files};
use crate::db::Database;

/// Undoes the last applied migration, or with `to`, every applied migration above version
/// `to` (0: all), newest first; answers those undone, in that order.
pub async fn undo(
    db: &Database,
    dir: &Path,
    to: Option<i32>,
) -> Result<Vec<MigrationFile>, MigrateError> {
    let loaded = files::load(dir, db.dialect())?;
    let mut locked = Locked::open(db).await?;
    let result = undo_locked(locked.conn(), &loaded, to, dir).await;
    locked.finish(result).await
}

async fn undo_locked(
    conn: &mut MigrationConnection,
    loaded: &[(MigrationFile, Migration)],
    to: Option<i32>,
    dir: &Path,
) -> Result<Vec<MigrationFile>, MigrateError> {
    let applied = super::applied(conn).await?;
    if let Some(target) = to
        && target != 0
        && !loaded.iter().any(|(f, _)| f.version == target)
        && !applied.iter().any(|a| a.version() == target)
    {
        return Err(MigrateError::UnknownTarget(target));
    }
    let mut chosen: Vec<&Migration> = match to {
        Some(target) => applied.iter().filter(|a| a.version() > target).collect(),
        None => applied
            .iter()
            .max_by_key(|a| a.version())
            .into_iter()
            .collect(),
    };
    chosen.sort_by_key(|a| Reverse(a.version()));
    let plan = chosen
        .into_iter()
        .map(|applied| prepare(applied, loaded, dir))
        .collect::<Result<Vec<_>, _>>()?;
    let mut undone: Vec<MigrationFile> = Vec::new();
    for (file, sql) in plan {
        if let Err(reason) = undo_one(conn, file.version, sql).await {
            return Err(MigrateError::UndoFailed {
                migration: file.label(),
                undone: undone.iter().map(MigrationFile::label).collect(),
                reason,
            });
        }
        undone.push(file);
    }
    Ok(undone)
}

/// The file of an applied migration and its undo SQL, once checked.
fn prepare(
    applied: &Migration,
    loaded: &[(MigrationFile, Migration)],
    dir: &Path,
) -> Result<(MigrationFile, String), MigrateError> {
    let Some((file, migration)) = loaded.iter().find(|(f, _)| f.version == applied.version())
    else {
        return Err(MigrateError::Missing {
            version: applied.version(),
            name: applied.name().to_string(),
            dir: dir.display().to_string(),
        });
    };
    if migration.checksum() != applied.checksum() || migration.name() != applied.name() {
        return Err(MigrateError::Changed {
            version: applied.version(),
            name: applied.name().to_string(),
        });
    }
    let Some(path) = &file.undo else {
        return Err(MigrateError::NoUndo {
            migration: file.label(),
            expected: dir
                .join(format!("U{}__{}.sql", file.version, file.name))
                .display()
                .to_string(),
        });
    };
    let sql = files::read(path)?;
    if !files::has_statements(&sql) {
        return Err(MigrateError::EmptyUndo {
            path: path.display().to_string(),
        });
    }
    Ok((file.clone(), sql))
}

/// Runs one undo and removes its history row, in one transaction; rolled back on any error.
async fn undo_one(conn: &mut MigrationConnection, version: i32, sql: String) -> Result<(), String> {
    let gone = "it is no longer applied: another process undid it meanwhile".to_string();
    match conn {
        MigrationConnection::Sqlite(lite) => {
            let mut tx = lite.begin().await.map_err(text)?;
            let removed = sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {HISTORY_TABLE} WHERE version = ?1"
            )))
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(text)?;
            if removed.rows_affected() != 1 {
                return Err(gone);
            }
            let aside = capture::set_aside(&mut tx).await.map_err(text)?;
            sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await
                .map_err(text)?;
            capture::put_back(&mut tx, aside).await.map_err(text)?;
            tx.commit().await.map_err(text)
        }
        MigrationConnection::Postgres(pg) => {
            let mut tx = pg.begin().await.map_err(text)?;
            let removed = sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {HISTORY_TABLE} WHERE version = $1"
            )))
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(text)?;
            if removed.rows_affected() != 1 {
                return Err(gone);
            }
            sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await
                .map_err(text)?;
            tx.commit().await.map_err(text)
        }
    }
}

fn text(error: sqlx::Error) -> String {
    error.to_string()
}

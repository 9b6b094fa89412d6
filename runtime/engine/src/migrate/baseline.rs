//! `migrate baseline VERSION`: adopting a database whose schema exists already (built by hand,
//! or by another tool). Every migration up to VERSION is recorded as applied without running,
//! by refinery itself (its "fake" target), so the history rows carry the files' checksums and
//! later `apply`s and `status` treat them as any applied migration.

use std::path::Path;

use refinery_core::{Migration, Runner, Target};

use super::driver::MigrationConnection;
use super::lock::Locked;
use super::{MigrateError, MigrationFile, files};
use crate::db::Database;

/// Marks the migrations up to `version` as applied; answers those it marked (none when they
/// all were already). `version` must be a file's; migrations applied above it are an error.
pub async fn baseline(
    db: &Database,
    dir: &Path,
    version: i32,
) -> Result<Vec<MigrationFile>, MigrateError> {
    let loaded = files::load(dir, db.dialect())?;
    if !loaded.iter().any(|(f, _)| f.version == version) {
        return Err(MigrateError::UnknownTarget(version));
    }
    let mut locked = Locked::open(db).await?;
    let result = mark(locked.conn(), &loaded, version, dir).await;
    locked.finish(result).await
}

async fn mark(
    conn: &mut MigrationConnection,
    loaded: &[(MigrationFile, Migration)],
    version: i32,
    dir: &Path,
) -> Result<Vec<MigrationFile>, MigrateError> {
    let applied = super::applied(conn).await?;
    let above: Vec<String> = applied
        .iter()
        .filter(|a| a.version() > version)
        .map(ToString::to_string)
        .collect();
    if !above.is_empty() {
        return Err(MigrateError::AppliedAbove {
            version,
            applied: above.join(", "),
        });
    }
    let marked = loaded
        .iter()
        .filter(|(f, _)| f.version <= version && !applied.iter().any(|a| a.version() == f.version))
        .map(|(f, _)| f.clone())
        .collect();
    let migrations: Vec<Migration> = loaded.iter().map(|(_, m)| m.clone()).collect();
    Runner::new(&migrations)
        .set_abort_divergent(true)
        .set_abort_missing(true)
        .set_target(Target::FakeVersion(version))
        .run_async(conn)
        .await
        .map_err(|error| super::explain(error, dir))?;
    Ok(marked)
}

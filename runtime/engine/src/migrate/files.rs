//! The migration set on disk.
//!
//! File names follow refinery: `V<version>__<name>.sql`. Where SQLite and PostgreSQL need different
//! SQL (identity columns, timestamp types), a migration is a pair of files instead:
//! `V<version>__<name>.sqlite.sql` and `V<version>__<name>.postgres.sql`; each database applies its
//! own. A version has either one portable file or both dialect files, never a mix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use refinery_core::Migration;

use super::MigrateError;
use crate::db::Dialect;

/// One migration as found on disk, before choosing a dialect.
#[derive(Debug, Clone)]
pub struct MigrationFile {
    pub version: i32,
    pub name: String,
    /// The file this dialect applies.
    pub path: PathBuf,
}

const DIALECT_SUFFIXES: [(&str, Dialect); 2] = [
    (".sqlite", Dialect::Sqlite),
    (".postgres", Dialect::Postgres),
];

/// The migrations for one dialect, sorted by version.
pub fn load(dir: &Path, dialect: Dialect) -> Result<Vec<(MigrationFile, Migration)>, MigrateError> {
    let files = scan(dir, dialect)?;
    files
        .into_iter()
        .map(|file| {
            let sql = std::fs::read_to_string(&file.path).map_err(|source| MigrateError::Read {
                path: file.path.display().to_string(),
                source,
            })?;
            let migration =
                Migration::unapplied(&format!("V{}__{}", file.version, file.name), &sql).map_err(
                    |e| MigrateError::BadFile {
                        path: file.path.display().to_string(),
                        reason: e.to_string(),
                    },
                )?;
            Ok((file, migration))
        })
        .collect()
}

/// One version's name, its portable file and its dialect files.
type VersionFiles = (String, Option<PathBuf>, Vec<(Dialect, PathBuf)>);

/// Lists the migration files of a dialect, checking names and versions.
pub fn scan(dir: &Path, dialect: Dialect) -> Result<Vec<MigrationFile>, MigrateError> {
    let entries = std::fs::read_dir(dir).map_err(|source| MigrateError::Read {
        path: dir.display().to_string(),
        source,
    })?;
    // version -> (name, portable file, dialect files)
    let mut versions: BTreeMap<i32, VersionFiles> = BTreeMap::new();
    for entry in entries {
        let path = entry
            .map_err(|source| MigrateError::Read {
                path: dir.display().to_string(),
                source,
            })?
            .path();
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = file_name.strip_suffix(".sql") else {
            continue;
        };
        let (stem, file_dialect) = match DIALECT_SUFFIXES.iter().find(|(s, _)| stem.ends_with(s)) {
            Some((suffix, d)) => (&stem[..stem.len() - suffix.len()], Some(*d)),
            None => (stem, None),
        };
        let (version, name) = parse_stem(stem).ok_or_else(|| MigrateError::BadFile {
            path: path.display().to_string(),
            reason:
                "migration files are named V<version>__<name>.sql (or .sqlite.sql / .postgres.sql)"
                    .into(),
        })?;
        let slot = versions
            .entry(version)
            .or_insert_with(|| (name.clone(), None, Vec::new()));
        if slot.0 != name {
            return Err(MigrateError::BadFile {
                path: path.display().to_string(),
                reason: format!("version {version} is already used by `{}`", slot.0),
            });
        }
        match file_dialect {
            None => slot.1 = Some(path.clone()),
            Some(d) => slot.2.push((d, path.clone())),
        }
    }
    let mut files = Vec::new();
    for (version, (name, portable, variants)) in versions {
        let chosen = match (portable, variants.is_empty()) {
            (Some(path), true) => path,
            (Some(path), false) => {
                return Err(MigrateError::BadFile {
                    path: path.display().to_string(),
                    reason: format!("version {version} has both a portable file and dialect files"),
                });
            }
            (None, _) => match variants.into_iter().find(|(d, _)| *d == dialect) {
                Some((_, path)) => path,
                None => {
                    return Err(MigrateError::BadFile {
                        path: dir
                            .join(format!("V{version}__{name}.{}.sql", dialect_name(dialect)))
                            .display()
                            .to_string(),
                        reason: format!(
                            "version {version} has dialect files but none for {}",
                            dialect_name(dialect)
                        ),
                    });
                }
            },
        };
        files.push(MigrationFile {
            version,
            name,
            path: chosen,
        });
    }
    Ok(files)
}

pub(super) fn dialect_name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "sqlite",
        Dialect::Postgres => "postgres",
    }
}

fn parse_stem(stem: &str) -> Option<(i32, String)> {
    let rest = stem.strip_prefix('V')?;
    let (version, name) = rest.split_once("__")?;
    let version: i32 = version.parse().ok()?;
    let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then(|| (version, name.to_string()))
}

/// Creates the next migration file, `V<next>__<name>.sql`, and returns its path.
pub fn create(dir: &Path, name: &str) -> Result<PathBuf, MigrateError> {
    let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(MigrateError::BadName(name.to_string()));
    }
    std::fs::create_dir_all(dir).map_err(|source| MigrateError::Read {
        path: dir.display().to_string(),
        source,
    })?;
    let mut highest = 0;
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        if let Some(last) = scan(dir, dialect)?.last() {
            highest = highest.max(last.version);
        }
    }
    let path = dir.join(format!("V{}__{name}.sql", highest + 1));
    std::fs::write(&path, format!("-- V{}: {name}\n", highest + 1)).map_err(|source| {
        MigrateError::Read {
            path: path.display().to_string(),
            source,
        }
    })?;
    Ok(path)
}

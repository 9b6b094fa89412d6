//! The migration set on disk.
//!
//! File names follow refinery: `V<version>__<name>.sql`. Where SQLite and PostgreSQL need different
//! SQL (identity columns, timestamp types), a migration is a pair of files instead:
//! `V<version>__<name>.sqlite.sql` and `V<version>__<name>.postgres.sql`; each database applies its
//! own. A version has either one portable file or both dialect files, never a mix.
//!
//! Undo files follow Flyway: `U<version>__<name>.sql` (or the `.sqlite.sql` / `.postgres.sql`
//! pair) undoes `V<version>__<name>`, under the same rules. An undo file names the migration it
//! undoes; one without its migration is an error. Undo files are never handed to refinery (whose
//! `U` prefix means something else).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use refinery_core::Migration;

use super::MigrateError;
use crate::db::Dialect;

/// One migration as found on disk, for one dialect.
#[derive(Debug, Clone)]
pub struct MigrationFile {
    pub version: i32,
    pub name: String,
    /// The file this dialect applies.
    pub path: PathBuf,
    /// The file that undoes it on this dialect, when there is one.
    pub undo: Option<PathBuf>,
}

impl MigrationFile {
    /// `V<version>__<name>`, as history and messages name it.
    pub fn label(&self) -> String {
        format!("V{}__{}", self.version, self.name)
    }
}

/// A migration file and its undo file, as `migrate new` wrote them.
#[derive(Debug, Clone)]
pub struct NewMigration {
    pub path: PathBuf,
    pub undo: PathBuf,
}

const DIALECT_SUFFIXES: [(&str, Dialect); 2] = [
    (".sqlite", Dialect::Sqlite),
    (".postgres", Dialect::Postgres),
];

/// What a file is: a migration (`V`) or the undo of one (`U`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Migration,
    Undo,
}

impl Kind {
    fn prefix(self) -> char {
        match self {
            Self::Migration => 'V',
            Self::Undo => 'U',
        }
    }
}

/// The migrations for one dialect, sorted by version.
pub fn load(dir: &Path, dialect: Dialect) -> Result<Vec<(MigrationFile, Migration)>, MigrateError> {
    let files = scan(dir, dialect)?;
    files
        .into_iter()
        .map(|file| {
            let sql = read(&file.path)?;
            let migration =
                Migration::unapplied(&file.label(), &sql).map_err(|e| MigrateError::BadFile {
                    path: file.path.display().to_string(),
                    reason: e.to_string(),
                })?;
            Ok((file, migration))
        })
        .collect()
}

/// Reads one file of the set.
pub(super) fn read(path: &Path) -> Result<String, MigrateError> {
    std::fs::read_to_string(path).map_err(|source| MigrateError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// The files of one kind of one version: a portable file, dialect files.
#[derive(Debug, Default)]
struct Found {
    portable: Option<PathBuf>,
    dialects: Vec<(Dialect, PathBuf)>,
}

impl Found {
    fn is_empty(&self) -> bool {
        self.portable.is_none() && self.dialects.is_empty()
    }

    /// The file `dialect` uses, `None` when there is none of this kind at all.
    fn choose(
        self,
        dir: &Path,
        dialect: Dialect,
        kind: Kind,
        version: i32,
        name: &str,
    ) -> Result<Option<PathBuf>, MigrateError> {
        match (self.portable, self.dialects.is_empty()) {
            (Some(path), true) => Ok(Some(path)),
            (Some(path), false) => Err(MigrateError::BadFile {
                path: path.display().to_string(),
                reason: format!(
                    "{} {version} has both a portable file and dialect files",
                    describe(kind)
                ),
            }),
            (None, true) => Ok(None),
            (None, false) => match self.dialects.into_iter().find(|(d, _)| *d == dialect) {
                Some((_, path)) => Ok(Some(path)),
                None => Err(MigrateError::BadFile {
                    path: dir
                        .join(format!(
                            "{}{version}__{name}.{}.sql",
                            kind.prefix(),
                            dialect_name(dialect)
                        ))
                        .display()
                        .to_string(),
                    reason: format!(
                        "{} {version} has dialect files but none for {}",
                        describe(kind),
                        dialect_name(dialect)
                    ),
                }),
            },
        }
    }
}

fn describe(kind: Kind) -> &'static str {
    match kind {
        Kind::Migration => "version",
        Kind::Undo => "the undo of version",
    }
}

/// One version's name and files.
#[derive(Debug)]
struct Version {
    name: String,
    migration: Found,
    undo: Found,
}

/// Lists the migration files of a dialect, with their undo files, checking names and versions.
pub fn scan(dir: &Path, dialect: Dialect) -> Result<Vec<MigrationFile>, MigrateError> {
    let entries = std::fs::read_dir(dir).map_err(|source| MigrateError::Read {
        path: dir.display().to_string(),
        source,
    })?;
    let mut versions: BTreeMap<i32, Version> = BTreeMap::new();
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
        let (kind, version, name) = parse_stem(stem).ok_or_else(|| MigrateError::BadFile {
            path: path.display().to_string(),
            reason: "migration files are named V<version>__<name>.sql (or .sqlite.sql / \
                     .postgres.sql), undo files U<version>__<name>.sql"
                .into(),
        })?;
        let slot = versions.entry(version).or_insert_with(|| Version {
            name: name.clone(),
            migration: Found::default(),
            undo: Found::default(),
        });
        if slot.name != name {
            return Err(MigrateError::BadFile {
                path: path.display().to_string(),
                reason: format!(
                    "version {version} is already named `{}` (a migration and its undo file \
                     share version and name)",
                    slot.name
                ),
            });
        }
        let found = match kind {
            Kind::Migration => &mut slot.migration,
            Kind::Undo => &mut slot.undo,
        };
        match file_dialect {
            None => found.portable = Some(path.clone()),
            Some(d) => found.dialects.push((d, path.clone())),
        }
    }
    let mut files = Vec::new();
    for (version, slot) in versions {
        let Version {
            name,
            migration,
            undo,
        } = slot;
        if migration.is_empty() {
            return Err(MigrateError::BadFile {
                path: dir
                    .join(format!("U{version}__{name}.sql"))
                    .display()
                    .to_string(),
                reason: format!("an undo file without its migration V{version}__{name}"),
            });
        }
        let path = migration
            .choose(dir, dialect, Kind::Migration, version, &name)?
            .expect("a version with migration files has one for the dialect");
        let undo = undo.choose(dir, dialect, Kind::Undo, version, &name)?;
        files.push(MigrationFile {
            version,
            name,
            path,
            undo,
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

fn parse_stem(stem: &str) -> Option<(Kind, i32, String)> {
    let kind = match stem.chars().next()? {
        'V' => Kind::Migration,
        'U' => Kind::Undo,
        _ => return None,
    };
    let (version, name) = stem[1..].split_once("__")?;
    let version: i32 = version.parse().ok()?;
    valid_name(name).then(|| (kind, version, name.to_string()))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether SQL holds a statement: something besides whitespace, `;` and comments.
pub(super) fn has_statements(sql: &str) -> bool {
    let mut rest = sql;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
        if let Some(comment) = rest.strip_prefix("--") {
            rest = comment.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(comment) = rest.strip_prefix("/*") {
            rest = comment.split_once("*/").map_or("", |(_, after)| after);
        } else {
            return !rest.is_empty();
        }
    }
}

/// Creates the next migration, `V<next>__<name>.sql`, and its undo file `U<next>__<name>.sql`.
/// Nothing is left behind when either cannot be written.
pub fn create(dir: &Path, name: &str) -> Result<NewMigration, MigrateError> {
    if !valid_name(name) {
        return Err(MigrateError::BadName(name.to_string()));
    }
    std::fs::create_dir_all(dir).map_err(|source| MigrateError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    let mut highest = 0;
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        if let Some(last) = scan(dir, dialect)?.last() {
            highest = highest.max(last.version);
        }
    }
    let version = highest + 1;
    let path = dir.join(format!("V{version}__{name}.sql"));
    let undo = dir.join(format!("U{version}__{name}.sql"));
    write_new(&path, &format!("-- V{version}: {name}\n"))?;
    let undo_text = format!(
        "-- U{version}: undoes V{version}__{name}. `runtime migrate undo` runs this file in one\n\
         -- transaction with removing V{version} from the history. Write the statements that\n\
         -- reverse V{version} (DROP TABLE for its CREATE TABLE, ...); while the file holds no\n\
         -- statement, undoing V{version} is refused.\n"
    );
    if let Err(error) = write_new(&undo, &undo_text) {
        let _ = std::fs::remove_file(&path);
        return Err(error);
    }
    Ok(NewMigration { path, undo })
}

/// Writes a file that must not exist yet.
fn write_new(path: &Path, text: &str) -> Result<(), MigrateError> {
    use std::io::Write as _;
    let error = |source| MigrateError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(error)?;
    file.write_all(text.as_bytes()).map_err(error)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{has_statements, scan};
    use crate::db::Dialect;

    fn dir_with(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            std::fs::write(dir.path().join(file), "SELECT 1;\n").unwrap();
        }
        dir
    }

    fn undo_name(path: Option<&Path>) -> Option<String> {
        path.map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
    }

    #[test]
    fn undo_files_pair_with_their_migration_per_dialect() {
        let dir = dir_with(&[
            "V1__one.sql",
            "U1__one.sql",
            "V2__two.sqlite.sql",
            "V2__two.postgres.sql",
            "U2__two.sqlite.sql",
            "U2__two.postgres.sql",
            "V3__three.sql",
        ]);
        for (dialect, name) in [(Dialect::Sqlite, "sqlite"), (Dialect::Postgres, "postgres")] {
            let files = scan(dir.path(), dialect).unwrap();
            let undos: Vec<Option<String>> =
                files.iter().map(|f| undo_name(f.undo.as_deref())).collect();
            assert_eq!(
                undos,
                [
                    Some("U1__one.sql".to_string()),
                    Some(format!("U2__two.{name}.sql")),
                    None
                ]
            );
        }
    }

    #[test]
    fn a_stray_or_misnamed_undo_file_is_an_error() {
        let stray = dir_with(&["V1__one.sql", "U2__two.sql"]);
        let error = scan(stray.path(), Dialect::Sqlite).unwrap_err().to_string();
        assert!(error.contains("without its migration V2__two"), "{error}");
        let misnamed = dir_with(&["V1__one.sql", "U1__uno.sql"]);
        let error = scan(misnamed.path(), Dialect::Sqlite)
            .unwrap_err()
            .to_string();
        assert!(error.contains("already named"), "{error}");
        let half = dir_with(&["V1__one.sql", "U1__one.postgres.sql"]);
        assert!(scan(half.path(), Dialect::Postgres).is_ok());
        let error = scan(half.path(), Dialect::Sqlite).unwrap_err().to_string();
        assert!(
            error.contains("U1__one.sqlite.sql") && error.contains("none for sqlite"),
            "{error}"
        );
        let mixed = dir_with(&["V1__one.sql", "U1__one.sql", "U1__one.sqlite.sql"]);
        let error = scan(mixed.path(), Dialect::Sqlite).unwrap_err().to_string();
        assert!(
            error.contains("both a portable file and dialect files"),
            "{error}"
        );
    }

    #[test]
    fn comments_and_whitespace_are_no_statement() {
        assert!(!has_statements(""));
        assert!(!has_statements("-- U6: undoes V6\n-- more\n\n ;\n"));
        assert!(!has_statements("/* block\n comment */ -- line"));
        assert!(has_statements("-- drop it\nDROP TABLE notes;"));
        assert!(has_statements("/* x */ DROP TABLE notes"));
    }
}

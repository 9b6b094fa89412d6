//! The configuration file as `app new`, `app remove` and `db introspect --write` change it:
//! edited with `toml_edit`, so its comments and layout stay, and replaced in one rename after
//! the new text passed the same checks as at start, so a refused change writes nothing.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use toml_edit::{DocumentMut, InlineTable, Item, Table, value};

use crate::model::TableGrant;

/// A configuration file being edited; nothing reaches the disk before [`Self::save`].
#[derive(Debug)]
pub struct ConfigDocument {
    path: PathBuf,
    doc: DocumentMut,
}

impl ConfigDocument {
    /// Reads the file, or starts an empty one when it does not exist.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let doc = text
            .parse::<DocumentMut>()
            .with_context(|| format!("{} is not valid TOML", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            doc,
        })
    }

    /// A document of no file, to print.
    pub fn detached() -> Self {
        Self {
            path: PathBuf::new(),
            doc: DocumentMut::new(),
        }
    }

    /// Adds `[apps.<name>]` with its port, `enabled = true` and, for a table-only app, its
    /// `tables`; an entry of that name in the file is an error.
    pub fn add_app(
        &mut self,
        name: &str,
        port: u16,
        tables: Option<&[TableGrant]>,
    ) -> anyhow::Result<()> {
        let path = self.path.display().to_string();
        let apps = self
            .doc
            .as_table_mut()
            .entry("apps")
            .or_insert_with(|| {
                let mut apps = Table::new();
                apps.set_implicit(true);
                Item::Table(apps)
            })
            .as_table_mut()
            .with_context(|| format!("`apps` in {path} is not a table of [apps.<name>] entries"))?;
        if apps.contains_key(name) {
            anyhow::bail!("{path} has an [apps.{name}] entry already");
        }
        let mut entry = Table::new();
        entry.insert("port", value(i64::from(port)));
        entry.insert("enabled", value(true));
        if let Some(tables) = tables {
            let mut list = InlineTable::new();
            for grant in tables {
                list.insert(grant.table.as_str(), grant.access.as_str().into());
            }
            entry.insert("tables", value(list));
        }
        apps.insert(name, Item::Table(entry));
        Ok(())
    }

    /// Removes `[apps.<name>]` with everything under it (its rules); an error when the file
    /// has no such entry.
    pub fn remove_app(&mut self, name: &str) -> anyhow::Result<()> {
        let removed = self
            .doc
            .get_mut("apps")
            .and_then(Item::as_table_like_mut)
            .and_then(|apps| apps.remove(name));
        if removed.is_none() {
            anyhow::bail!(
                "{} has no [apps.{name}] entry (is it set by a RUNTIME_APPS__* variable?)",
                self.path.display()
            );
        }
        Ok(())
    }

    /// The file's text as it would be saved.
    pub fn text(&self) -> String {
        self.doc.to_string()
    }

    /// Writes the new text to a temporary file beside the file, runs `check` on that file (the
    /// configuration checks, reading it as start would), and only then renames it over the
    /// file. The file keeps its permissions.
    pub fn save(&self, check: impl FnOnce(&Path) -> anyhow::Result<()>) -> anyhow::Result<()> {
        self.stage(check)?.commit()
    }

    /// The first half of [`Self::save`]: the new text written beside the file and checked;
    /// [`Staged::commit`] puts it in place, dropping it leaves the file as it was.
    pub fn stage(&self, check: impl FnOnce(&Path) -> anyhow::Result<()>) -> anyhow::Result<Staged> {
        let dir = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let mut temp = tempfile::Builder::new()
            .prefix(".runtime-config-")
            .suffix(".toml")
            .tempfile_in(dir)
            .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
        temp.write_all(self.text().as_bytes())
            .and_then(|()| temp.flush())
            .with_context(|| format!("writing a temporary file in {}", dir.display()))?;
        check(temp.path())?;
        if let Ok(metadata) = std::fs::metadata(&self.path) {
            std::fs::set_permissions(temp.path(), metadata.permissions())
                .with_context(|| format!("copying the permissions of {}", self.path.display()))?;
        }
        Ok(Staged {
            temp,
            path: self.path.clone(),
        })
    }
}

/// A checked new text of the configuration file, beside it, not yet in place.
#[derive(Debug)]
pub struct Staged {
    temp: tempfile::NamedTempFile,
    path: PathBuf,
}

impl Staged {
    /// Renames the new text over the file.
    pub fn commit(self) -> anyhow::Result<()> {
        self.temp
            .persist(&self.path)
            .with_context(|| format!("replacing {}", self.path.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Access;

    const FILE: &str = "# the shipped file\n[server]\nport = 3042 # composed\n\n# crate apps\n[apps.products]\nport = 3045\n";

    fn document(text: &str) -> (tempfile::TempDir, ConfigDocument) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runtime.toml");
        std::fs::write(&path, text).unwrap();
        let doc = ConfigDocument::open(&path).unwrap();
        (dir, doc)
    }

    #[test]
    fn adds_and_removes_an_app_keeping_comments() {
        let (_dir, mut doc) = document(FILE);
        let grants = [
            TableGrant {
                table: "notes".into(),
                access: Access::ReadWrite,
            },
            TableGrant {
                table: "customers".into(),
                access: Access::Read,
            },
        ];
        doc.add_app("notes", 3047, Some(&grants)).unwrap();
        let text = doc.text();
        assert!(text.starts_with(FILE), "{text}");
        assert!(
            text.ends_with(
                "\n[apps.notes]\nport = 3047\nenabled = true\ntables = { notes = \"read-write\", customers = \"read\" }\n"
            ),
            "{text}"
        );
        assert!(doc.add_app("notes", 3048, None).is_err());
        doc.remove_app("notes").unwrap();
        assert_eq!(doc.text(), FILE);
        let error = doc.remove_app("notes").unwrap_err().to_string();
        assert!(error.contains("[apps.notes]"), "{error}");
    }

    #[test]
    fn a_refused_check_writes_nothing_and_a_passed_one_replaces_the_file() {
        let (dir, mut doc) = document(FILE);
        doc.add_app("notes", 3047, None).unwrap();
        let refused = doc.save(|_| anyhow::bail!("no"));
        assert!(refused.is_err());
        let path = dir.path().join("runtime.toml");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), FILE);
        doc.save(|candidate| {
            let text = std::fs::read_to_string(candidate)?;
            anyhow::ensure!(text.contains("[apps.notes]"));
            Ok(())
        })
        .unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("[apps.notes]")
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn a_missing_file_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut doc = ConfigDocument::open(&dir.path().join("new.toml")).unwrap();
        doc.add_app("notes", 4000, None).unwrap();
        assert_eq!(doc.text(), "[apps.notes]\nport = 4000\nenabled = true\n");
    }
}

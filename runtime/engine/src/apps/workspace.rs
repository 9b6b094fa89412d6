//! Wiring a new app crate into the workspace, as `app new --crate` does: its
//! `[workspace.dependencies]` entry in `Cargo.toml`, the `runtime` binary's dependency in
//! `runtime/Cargo.toml`, and its `app()` in `linked_apps()` of `runtime/src/lib.rs`. The
//! manifests are edited with `toml_edit` (comments and layout stay); each new entry goes after
//! the last `app-*` one.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use toml_edit::{DocumentMut, InlineTable, Item, Key, Table, value};

/// The workspace the command runs in: the working directory, whose `Cargo.toml` has
/// `[workspace]`.
#[derive(Debug)]
pub struct Workspace {
    pub root: PathBuf,
}

/// A file of the workspace with its new text.
#[derive(Debug)]
pub struct Edit {
    pub path: PathBuf,
    pub text: String,
}

const MANIFEST: &str = "Cargo.toml";
const RUNTIME_MANIFEST: &str = "runtime/Cargo.toml";
const LINKED_APPS: &str = "runtime/src/lib.rs";
const LINKED_APPS_FN: &str = "pub fn linked_apps() -> Vec<App> {";

impl Workspace {
    /// The workspace rooted at `dir`; an error saying where to run from otherwise.
    pub fn at(dir: &Path) -> anyhow::Result<Self> {
        let manifest = dir.join(MANIFEST);
        let is_root = std::fs::read_to_string(&manifest)
            .ok()
            .and_then(|text| text.parse::<DocumentMut>().ok())
            .is_some_and(|doc| doc.contains_table("workspace"));
        let has_runtime = dir.join(RUNTIME_MANIFEST).is_file() && dir.join(LINKED_APPS).is_file();
        if !is_root || !has_runtime {
            anyhow::bail!(
                "`app new --crate` runs from the workspace root (the directory whose Cargo.toml has \
                 [workspace], with {RUNTIME_MANIFEST} and {LINKED_APPS}); {} is not one",
                dir.display()
            );
        }
        Ok(Self {
            root: dir.to_path_buf(),
        })
    }

    /// The crate's folder, `apps/<name>`.
    pub fn crate_dir(&self, name: &str) -> PathBuf {
        self.root.join("apps").join(name)
    }

    /// The three files that link app `name` (package `app-<name>`), edited in memory; an
    /// entry that exists already, or a file not in the expected shape, is an error naming it.
    pub fn wire(&self, name: &str) -> anyhow::Result<Vec<Edit>> {
        let package = package_name(name);
        let mut manifest = self.read_toml(MANIFEST)?;
        let dependencies = manifest
            .get_mut("workspace")
            .and_then(Item::as_table_mut)
            .and_then(|workspace| workspace.get_mut("dependencies"))
            .and_then(Item::as_table_mut)
            .with_context(|| format!("{MANIFEST} has no [workspace.dependencies]"))?;
        let mut path = InlineTable::new();
        path.insert("path", format!("apps/{name}").into());
        insert_after_apps(dependencies, &package, value(path), MANIFEST)?;

        let mut runtime = self.read_toml(RUNTIME_MANIFEST)?;
        let dependencies = runtime
            .get_mut("dependencies")
            .and_then(Item::as_table_mut)
            .with_context(|| format!("{RUNTIME_MANIFEST} has no [dependencies]"))?;
        let mut workspace = Table::new();
        workspace.set_dotted(true);
        workspace.insert("workspace", value(true));
        insert_after_apps(
            dependencies,
            &package,
            Item::Table(workspace),
            RUNTIME_MANIFEST,
        )?;

        let linked = self.read(LINKED_APPS)?;
        Ok(vec![
            Edit {
                path: self.root.join(MANIFEST),
                text: manifest.to_string(),
            },
            Edit {
                path: self.root.join(RUNTIME_MANIFEST),
                text: runtime.to_string(),
            },
            Edit {
                path: self.root.join(LINKED_APPS),
                text: link(&linked, &crate_ident(name))?,
            },
        ])
    }

    fn read(&self, file: &str) -> anyhow::Result<String> {
        std::fs::read_to_string(self.root.join(file)).with_context(|| format!("reading {file}"))
    }

    fn read_toml(&self, file: &str) -> anyhow::Result<DocumentMut> {
        self.read(file)?
            .parse()
            .with_context(|| format!("{file} is not valid TOML"))
    }
}

/// `app-<name>`, the package of app `name`.
pub fn package_name(name: &str) -> String {
    format!("app-{name}")
}

/// `app_<name>`, the crate as Rust code names it.
pub fn crate_ident(name: &str) -> String {
    format!("app_{}", name.replace('-', "_"))
}

/// Inserts `key` after the last `app-*` key of `table` (at the end when there is none),
/// keeping every other key's place and comments.
fn insert_after_apps(table: &mut Table, key: &str, item: Item, file: &str) -> anyhow::Result<()> {
    if table.contains_key(key) {
        anyhow::bail!("{file} lists `{key}` already");
    }
    let keys: Vec<String> = table.iter().map(|(k, _)| k.to_string()).collect();
    let after = keys
        .iter()
        .rposition(|k| k.starts_with("app-"))
        .map_or(keys.len(), |i| i + 1);
    let tail: Vec<(Key, Item)> = keys[after..]
        .iter()
        .filter_map(|k| table.remove_entry(k))
        .collect();
    table.insert(key, item);
    for (k, item) in tail {
        table.insert_formatted(&k, item);
    }
    Ok(())
}

/// `linked_apps()` with `<ident>::app()` added as its last entry.
fn link(source: &str, ident: &str) -> anyhow::Result<String> {
    let call = format!("{ident}::app()");
    if source.contains(&call) {
        anyhow::bail!("{LINKED_APPS} calls `{call}` already");
    }
    let close = source
        .find(LINKED_APPS_FN)
        .and_then(|start| source[start..].find("\n    ]").map(|end| start + end))
        .with_context(|| {
            format!(
                "{LINKED_APPS}: `linked_apps()` is not in the form `vec![app_x::app(), ...]`; \
                 nothing was written (add `{call},` to it by hand, or restore its shape)"
            )
        })?;
    Ok(format!(
        "{}\n        {call},{}",
        &source[..close],
        &source[close..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_after_the_last_app() {
        let source =
            "pub fn linked_apps() -> Vec<App> {\n    vec![\n        app_a::app(),\n    ]\n}\n";
        let linked = link(source, "app_b").unwrap();
        assert_eq!(
            linked,
            "pub fn linked_apps() -> Vec<App> {\n    vec![\n        app_a::app(),\n        app_b::app(),\n    ]\n}\n"
        );
        assert!(link(&linked, "app_b").is_err());
        assert!(link("fn other() {}", "app_b").is_err());
    }

    #[test]
    fn a_dependency_goes_after_the_last_app_keeping_comments() {
        let mut doc: DocumentMut =
            "[deps]\nengine = \"1\"\napp-a = \"1\"\n\n# others\nserde = \"1\"\n"
                .parse()
                .unwrap();
        let deps = doc["deps"].as_table_mut().unwrap();
        insert_after_apps(deps, "app-b", value("1"), "Cargo.toml").unwrap();
        assert_eq!(
            doc.to_string(),
            "[deps]\nengine = \"1\"\napp-a = \"1\"\napp-b = \"1\"\n\n# others\nserde = \"1\"\n"
        );
        let deps = doc["deps"].as_table_mut().unwrap();
        assert!(insert_after_apps(deps, "app-b", value("1"), "Cargo.toml").is_err());
    }
}

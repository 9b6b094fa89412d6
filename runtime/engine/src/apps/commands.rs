//! The `app new|list|remove` and `db introspect` commands. Each reads the configuration as
//! `start` does; each change to the configuration file passes the same checks before it is
//! written, so a refused command leaves every file as it was.

use std::path::Path;

use anyhow::Context as _;

use super::config_file::ConfigDocument;
use super::configured::{check_name, is_configured, with_configured};
use super::ports::next_free_port;
use super::scaffold::crate_files;
use super::workspace::{Workspace, crate_ident, package_name};
use crate::app::App;
use crate::catalog::Catalog;
use crate::catalog::introspect::{Proposal, propose};
use crate::config::{CheckedConfig, CliOverrides, Config, ConfigFile};
use crate::db::{Database, Dialect};
use crate::model::TableGrant;

/// What the commands work on: the checked configuration, every app (crate and table-only),
/// and the configuration file they write.
#[derive(Debug)]
pub struct AppsContext<'a> {
    pub config: &'a CheckedConfig,
    pub apps: &'a [App],
    /// `--config`, else `./runtime.toml`.
    pub file: &'a Path,
    /// The command line's own settings, applied again when a changed file is checked.
    pub overrides: &'a CliOverrides,
}

/// `app new NAME --table T[:access]... [--port N]`: adds a table-only app to the
/// configuration file once every table is found in the configured database.
pub async fn new_config_app(
    ctx: &AppsContext<'_>,
    name: &str,
    tables: &[TableGrant],
    port: Option<u16>,
) -> anyhow::Result<()> {
    check_new_name(ctx, name)?;
    if tables.is_empty() {
        anyhow::bail!("a table-only app needs at least one --table T[:read|:read-write]");
    }
    check_distinct(tables)?;
    let port = match port {
        Some(port) => port,
        None => next_free_port(ctx.config, &[])?,
    };
    let catalog = read_catalog(ctx.config, None).await?;
    let missing: Vec<&str> = tables
        .iter()
        .filter(|grant| catalog.table(&grant.table).is_none())
        .map(|grant| grant.table.as_str())
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "no table {} in the database {}; nothing was written (create it with a migration \
             first: `runtime migrate new NAME`, then `runtime migrate apply`)",
            missing
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", "),
            ctx.config.database().url
        );
    }
    let mut doc = ConfigDocument::open(ctx.file)?;
    doc.add_app(name, port, Some(tables))?;
    doc.save(|candidate| recheck(ctx, candidate, None))?;
    println!(
        "added app `{name}` to {}: port {port}, tables {}",
        ctx.file.display(),
        describe(tables)
    );
    println!(
        "`runtime start` serves it on http://{}:{port}/ (and in the composed API)",
        ctx.config.server().host
    );
    Ok(())
}

/// `app new NAME --crate [--table ...] [--port N]`: scaffolds `apps/NAME/` and wires it into
/// the workspace, the `runtime` binary and the configuration file. Its tables are checked
/// when the rebuilt runtime starts (the crate may come before the migration that creates
/// them).
pub fn new_crate_app(
    ctx: &AppsContext<'_>,
    name: &str,
    tables: &[TableGrant],
    port: Option<u16>,
) -> anyhow::Result<()> {
    check_new_name(ctx, name)?;
    check_distinct(tables)?;
    let workspace =
        Workspace::at(&std::env::current_dir().context("reading the working directory")?)?;
    let dir = workspace.crate_dir(name);
    if dir.exists() {
        anyhow::bail!("{} exists already; nothing was written", dir.display());
    }
    let port = match port {
        Some(port) => port,
        None => next_free_port(ctx.config, &[])?,
    };
    let edits = workspace.wire(name)?;
    let mut doc = ConfigDocument::open(ctx.file)?;
    doc.add_app(name, port, None)?;
    let staged = doc.stage(|candidate| recheck(ctx, candidate, Some((name, port))))?;
    for (file, text) in crate_files(name, port, tables) {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    for edit in &edits {
        std::fs::write(&edit.path, &edit.text)
            .with_context(|| format!("writing {}", edit.path.display()))?;
    }
    staged.commit()?;
    println!("created {} (package {})", dir.display(), package_name(name));
    for edit in &edits {
        println!("edited {}", edit.path.display());
    }
    println!(
        "added [apps.{name}] port = {port} to {}",
        ctx.file.display()
    );
    println!(
        "`cargo build` links it (`{}::app()` in linked_apps()); `runtime start` then serves it \
         on port {port}",
        crate_ident(name)
    );
    Ok(())
}

/// `app list`: every app with its port, whether it is enabled, its kind and its tables.
pub fn list(ctx: &AppsContext<'_>) {
    println!(
        "{:<16} {:<6} {:<8} {:<7} tables",
        "app", "port", "enabled", "kind"
    );
    for app in ctx.apps {
        let settings = ctx.config.app(&app.name);
        println!(
            "{:<16} {:<6} {:<8} {:<7} {}",
            app.name,
            settings.map_or(app.default_port, |s| s.port),
            settings.is_none_or(|s| s.enabled),
            if is_configured(&ctx.config.raw, &app.name) {
                "config"
            } else {
                "crate"
            },
            describe(&app.tables)
        );
    }
}

/// `app remove NAME`: removes a table-only app from the configuration file. A crate app is
/// refused with what to edit to unlink it.
pub fn remove(ctx: &AppsContext<'_>, name: &str) -> anyhow::Result<()> {
    if !ctx.apps.iter().any(|app| app.name == name) {
        anyhow::bail!("no app named `{name}` (apps: {})", names(ctx.apps));
    }
    if !is_configured(&ctx.config.raw, name) {
        anyhow::bail!(
            "`{name}` is a crate app, linked into the binary: nothing was removed. To unlink it, \
             remove `{ident}::app()` from linked_apps() in runtime/src/lib.rs, `{package}` from \
             [dependencies] in runtime/Cargo.toml and from [workspace.dependencies] in \
             Cargo.toml, its [apps.{name}] entry from {file}, delete apps/{name}/, and rebuild",
            ident = crate_ident(name),
            package = package_name(name),
            file = ctx.file.display()
        );
    }
    let mut doc = ConfigDocument::open(ctx.file)?;
    doc.remove_app(name)?;
    doc.save(|candidate| recheck(ctx, candidate, None))?;
    println!("removed app `{name}` from {}", ctx.file.display());
    Ok(())
}

/// `db introspect [--schema S] [--write]`: proposes one table-only app per group of tables
/// joined by foreign keys, as TOML to paste, or adds them to the configuration file.
pub async fn introspect(
    ctx: &AppsContext<'_>,
    schema: Option<&str>,
    write: bool,
) -> anyhow::Result<()> {
    if schema.is_some() && ctx.config.database().url.expose().starts_with("sqlite:") {
        anyhow::bail!("--schema is for PostgreSQL; a SQLite database has one schema");
    }
    let catalog = read_catalog(ctx.config, schema).await?;
    let proposal = propose(&catalog);
    let where_ = schema.map_or_else(String::new, |s| format!(", schema `{s}`"));
    if proposal.groups.is_empty() {
        anyhow::bail!(
            "no table in {}{where_}: nothing to propose",
            ctx.config.database().url
        );
    }
    let mut taken_names: Vec<String> = ctx.apps.iter().map(|a| a.name.clone()).collect();
    let mut taken_ports = Vec::new();
    let mut doc = if write {
        ConfigDocument::open(ctx.file)?
    } else {
        ConfigDocument::detached()
    };
    let mut added = Vec::new();
    for group in &proposal.groups {
        let name = free_name(&app_name(&group.main), &taken_names);
        let port = next_free_port(ctx.config, &taken_ports)?;
        let grants: Vec<TableGrant> = group
            .tables
            .iter()
            .map(|table| TableGrant {
                table: table.clone(),
                access: crate::model::Access::ReadWrite,
            })
            .collect();
        doc.add_app(&name, port, Some(grants.as_slice()))?;
        taken_names.push(name.clone());
        taken_ports.push(port);
        added.push((name, port, grants));
    }
    let notes = notes(&proposal, catalog.dialect, schema);
    if write {
        doc.save(|candidate| recheck(ctx, candidate, None))?;
        for (name, port, grants) in &added {
            println!(
                "added app `{name}` to {}: port {port}, tables {}",
                ctx.file.display(),
                describe(grants)
            );
        }
        for note in notes {
            println!("{note}");
        }
    } else {
        println!(
            "# Proposed by `runtime db introspect` for {}{where_}: one app per group of tables",
            ctx.config.database().url
        );
        println!("# joined by foreign keys. Paste into runtime.toml, or run again with --write.");
        for note in notes {
            println!("# {note}");
        }
        print!("\n{}", doc.text());
    }
    Ok(())
}

/// What a proposal's reader should know beside the apps: tables without item routes, views,
/// and how the runtime reaches another schema than the current one.
fn notes(proposal: &Proposal, dialect: Dialect, schema: Option<&str>) -> Vec<String> {
    let mut notes = Vec::new();
    if !proposal.keyless.is_empty() {
        notes.push(format!(
            "Without a primary key (listed and written through their collection routes, no \
             /{{id}} item routes): {}",
            proposal.keyless.join(", ")
        ));
    }
    if !proposal.composite_key.is_empty() {
        notes.push(format!(
            "With a primary key of several columns (no /{{id}} item routes either): {}",
            proposal.composite_key.join(", ")
        ));
    }
    if !proposal.views.is_empty() {
        notes.push(format!(
            "Views, in no app (list one with \"read\" to serve it): {}",
            proposal.views.join(", ")
        ));
    }
    if let (Dialect::Postgres, Some(schema)) = (dialect, schema) {
        notes.push(format!(
            "The runtime serves the connection's current schema: to serve `{schema}`, end \
             database.url with ?options=-c%20search_path%3D{schema}"
        ));
    }
    notes
}

/// An app name from a table name: lowercase, anything but letters, digits, `_` and `-` made
/// `_`, starting with a letter.
fn app_name(table: &str) -> String {
    let mut name: String = table
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name.insert_str(0, "app_");
    }
    name
}

/// `name`, or `name_2`, `name_3`, ... when it is taken or reserved.
fn free_name(name: &str, taken: &[String]) -> String {
    let free =
        |candidate: &str| !taken.iter().any(|t| t == candidate) && check_name(candidate).is_ok();
    if free(name) {
        return name.to_string();
    }
    (2..)
        .map(|n| format!("{name}_{n}"))
        .find(|candidate| free(candidate))
        .expect("some suffix is free")
}

/// Reads the configured database's catalog on a connection of its own.
async fn read_catalog(config: &CheckedConfig, schema: Option<&str>) -> anyhow::Result<Catalog> {
    let db = Database::connect(config.database(), 1, config.limits().request_timeout()).await?;
    let catalog = Catalog::introspect_schema(&db, schema).await;
    db.close().await;
    Ok(catalog?)
}

/// Checks a changed configuration file as `start` would read it: the same layers, the crate
/// apps of the binary (and `extra`, a crate app about to be linked), the table-only apps the
/// file now declares.
fn recheck(
    ctx: &AppsContext<'_>,
    candidate: &Path,
    extra: Option<(&str, u16)>,
) -> anyhow::Result<()> {
    let raw = Config::load(&ConfigFile::Named(candidate.to_path_buf()), ctx.overrides)?;
    let mut crates: Vec<App> = ctx
        .apps
        .iter()
        .filter(|app| !is_configured(&ctx.config.raw, &app.name))
        .cloned()
        .collect();
    if let Some((name, port)) = extra {
        crates.push(App::new(name, port));
    }
    let apps = with_configured(crates, &raw)?;
    let linked: Vec<(&str, u16)> = apps
        .iter()
        .map(|app| (app.name.as_str(), app.default_port))
        .collect();
    raw.check(&linked).map(|_| ()).with_context(|| {
        format!(
            "the changed {} would not be valid; nothing was written",
            ctx.file.display()
        )
    })
}

fn check_new_name(ctx: &AppsContext<'_>, name: &str) -> anyhow::Result<()> {
    check_name(name)?;
    if let Some(app) = ctx.apps.iter().find(|app| app.name == name) {
        let kind = if is_configured(&ctx.config.raw, &app.name) {
            "a table-only app"
        } else {
            "a crate app"
        };
        anyhow::bail!("an app named `{name}` exists already ({kind}); nothing was written");
    }
    Ok(())
}

fn check_distinct(tables: &[TableGrant]) -> anyhow::Result<()> {
    for (i, grant) in tables.iter().enumerate() {
        if tables[..i].iter().any(|g| g.table == grant.table) {
            anyhow::bail!("--table {} is given twice", grant.table);
        }
    }
    Ok(())
}

/// `notes (read-write), customers (read)`.
fn describe(tables: &[TableGrant]) -> String {
    tables
        .iter()
        .map(|g| format!("{} ({})", g.table, g.access.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn names(apps: &[App]) -> String {
    apps.iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

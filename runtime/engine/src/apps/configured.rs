//! Table-only apps: an `[apps.<name>]` entry with `tables` declares an app no crate provides.
//! [`with_configured`] turns each into an [`App`] and adds it to the linked crate apps, once, at
//! the command line's entry, so `start`, `openapi`, `rules` and the rest see one list.

use crate::app::{App, DeclaredRules};
use crate::config::{Config, ConfigError};
use crate::model::{ModelError, TableGrant};

/// The linked crate apps followed by every table-only app of `config`. A table-only app needs
/// a port and a name no crate uses; rules belong to table-only apps only (a crate declares its
/// own). Errors name the configuration key.
pub fn with_configured(linked: Vec<App>, config: &Config) -> Result<Vec<App>, ConfigError> {
    let mut apps = linked;
    let crates = apps.len();
    for (name, entry) in &config.apps {
        let is_crate = apps[..crates].iter().any(|app| app.name == *name);
        let Some(tables) = &entry.tables else {
            if entry.rules.is_some() {
                return Err(key_error(
                    &format!("apps.{name}.rules"),
                    &if is_crate {
                        format!("`{name}` is a crate app: its rules live in its crate's rules.toml")
                    } else {
                        "rules belong to a table-only app: give it `tables` too".to_string()
                    },
                ));
            }
            continue;
        };
        if is_crate {
            return Err(key_error(
                &format!("apps.{name}.tables"),
                &format!(
                    "`{name}` is a crate app linked into this binary; its tables are listed in \
                     its crate. Pick another name for a table-only app"
                ),
            ));
        }
        check_name(name)?;
        let port = entry.port.ok_or_else(|| {
            key_error(
                &format!("apps.{name}.port"),
                "a table-only app needs a port of its own",
            )
        })?;
        if tables.is_empty() {
            return Err(key_error(
                &format!("apps.{name}.tables"),
                "lists no table: name at least one, e.g. `tables = { notes = \"read-write\" }`",
            ));
        }
        let mut app = App::new(name, port);
        app.tables = tables
            .iter()
            .map(|(table, access)| TableGrant {
                table: table.clone(),
                access: *access,
            })
            .collect();
        app.rules = entry.rules.clone().map(DeclaredRules::Read);
        apps.push(app);
    }
    Ok(apps)
}

/// Whether `name` is a table-only app of `config`.
pub fn is_configured(config: &Config, name: &str) -> bool {
    config
        .apps
        .get(name)
        .is_some_and(|entry| entry.tables.is_some())
}

/// The start-up error of a listed table the database lacks: for a table-only app, an error
/// naming the configuration key that lists it.
pub fn missing_table(config: &crate::config::CheckedConfig, missing: ModelError) -> anyhow::Error {
    if is_configured(&config.raw, &missing.app) {
        anyhow::Error::new(key_error(
            &format!("apps.{}.tables.{}", missing.app, missing.table),
            &format!(
                "table `{}` does not exist in the database (apply the migrations, or remove it \
                 from the app)",
                missing.table
            ),
        ))
    } else {
        anyhow::Error::new(missing)
    }
}

/// App names are what ports, logs, metrics and crate names carry: lowercase letters, digits,
/// `_` and `-`, starting with a letter; not the composed API's or the admin listener's name.
pub(crate) fn check_name(name: &str) -> Result<(), ConfigError> {
    if name == crate::server::COMPOSED || name == crate::server::ADMIN {
        return Err(key_error(
            &format!("apps.{name}"),
            &format!("`{name}` is the name of a listener of the runtime itself: pick another"),
        ));
    }
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(key_error(
            &format!("apps.{name}"),
            "an app name is lowercase letters, digits, `_` and `-`, starting with a letter",
        ))
    }
}

fn key_error(key: &str, reason: &str) -> ConfigError {
    ConfigError::Key {
        key: key.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return its large error type
mod tests {
    use figment::Jail;

    use super::*;
    use crate::config::{CliOverrides, ConfigFile};
    use crate::model::Access;

    fn crates() -> Vec<App> {
        vec![
            App::new("products", 3045).table("products", Access::ReadWrite),
            App::new("customers", 3044).table("customers", Access::ReadWrite),
        ]
    }

    /// The error of the configuration `file`, at load, merge or check.
    fn error(jail: &mut Jail, file: &str) -> String {
        jail.create_file("runtime.toml", file).unwrap();
        let config = match Config::load(&ConfigFile::Default, &CliOverrides::default()) {
            Ok(config) => config,
            Err(e) => return e.to_string(),
        };
        let apps = match with_configured(crates(), &config) {
            Ok(apps) => apps,
            Err(e) => return e.to_string(),
        };
        let linked: Vec<(&str, u16)> = apps
            .iter()
            .map(|a| (a.name.as_str(), a.default_port))
            .collect();
        match config.check(&linked) {
            Ok(_) => panic!("{file} is valid"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_table_only_app_becomes_an_app_after_the_crates() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "runtime.toml",
                "[apps.notes]\nport = 3047\ntables = { notes = \"read-write\", customers = \"read\" }\n\
                 [apps.notes.rules.notes.anonymous]\nread = {}\n[apps.products]\nport = 4000\n",
            )?;
            let config = Config::load(&ConfigFile::Default, &CliOverrides::default()).unwrap();
            let apps = with_configured(crates(), &config).unwrap();
            let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
            assert_eq!(names, ["products", "customers", "notes"]);
            let notes = &apps[2];
            assert_eq!(notes.default_port, 3047);
            let grants: Vec<(&str, Access)> = notes
                .tables
                .iter()
                .map(|g| (g.table.as_str(), g.access))
                .collect();
            assert_eq!(
                grants,
                [("customers", Access::Read), ("notes", Access::ReadWrite)]
            );
            let rules = notes.parsed_rules().unwrap();
            assert!(rules["notes"]["anonymous"].read.is_some());
            assert!(is_configured(&config, "notes") && !is_configured(&config, "products"));
            Ok(())
        });
    }

    #[test]
    fn each_mistake_names_its_key() {
        Jail::expect_with(|jail| {
            for (file, needles) in [
                (
                    "[apps.notes]\nport = 3047\ntabels = { notes = \"read\" }\n",
                    &["tabels"][..],
                ),
                (
                    "[apps.notes]\nport = 3047\ntables = { notes = \"write\" }\n",
                    &["write", "apps.notes.tables.notes"][..],
                ),
                (
                    "[apps.notes]\ntables = { notes = \"read\" }\n",
                    &["apps.notes.port", "port of its own"][..],
                ),
                (
                    "[apps.products]\nport = 3047\ntables = { notes = \"read\" }\n",
                    &["apps.products.tables", "crate app"][..],
                ),
                (
                    "[apps.products.rules.products.anonymous]\nread = {}\n",
                    &["apps.products.rules", "rules.toml"][..],
                ),
                (
                    "[apps.notes]\nport = 3044\ntables = { notes = \"read\" }\n",
                    &["apps.notes.port", "apps.customers.port"][..],
                ),
                (
                    "[apps.notes]\nport = 3047\ntables = {}\n",
                    &["apps.notes.tables", "no table"][..],
                ),
                (
                    "[apps.runtime]\nport = 3047\ntables = { notes = \"read\" }\n",
                    &["apps.runtime"][..],
                ),
                (
                    "[apps.notes]\nport = 3047\ntables = { notes = \"read\" }\n\
                     [apps.notes.rules.notes.anonymous]\nreed = {}\n",
                    &["reed"][..],
                ),
                (
                    "[apps.billing]\nport = 3047\n",
                    &["apps.billing", "tables"][..],
                ),
            ] {
                let error = error(jail, file);
                for needle in needles {
                    assert!(error.contains(needle), "{file}: {error}");
                }
            }
            Ok(())
        });
    }
}

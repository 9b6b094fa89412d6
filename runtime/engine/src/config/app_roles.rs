//! The keys of an app's own database role: `database.role_prefix`, and
//! `apps.<name>.database_url` / `apps.<name>.database_password`. Roles are a PostgreSQL
//! feature, so an app URL of its own needs PostgreSQL on both sides.

use super::{Config, ConfigError, key_error};

/// The longest name PostgreSQL keeps for a role (`NAMEDATALEN - 1`).
const MAX_ROLE_NAME: usize = 63;

pub(super) fn check(config: &Config) -> Result<(), ConfigError> {
    let prefix = &config.database.role_prefix;
    let valid = prefix
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && prefix.len() < MAX_ROLE_NAME;
    if !valid {
        return Err(key_error(
            "database.role_prefix",
            &format!(
                "`{prefix}` is not a role name prefix: lowercase letters, digits and `_`, \
                 starting with a letter or `_`, shorter than {MAX_ROLE_NAME} bytes"
            ),
        ));
    }
    for (name, app) in &config.apps {
        let Some(url) = &app.database_url else {
            continue;
        };
        if !is_postgres(url.expose()) {
            return Err(key_error(
                &format!("apps.{name}.database_url"),
                &format!(
                    "`{url}` is not a postgres:// URL: an app connects as a role of its own on \
                     PostgreSQL only"
                ),
            ));
        }
        if !is_postgres(config.database.url.expose()) {
            return Err(key_error(
                &format!("apps.{name}.database_url"),
                &format!(
                    "database.url `{}` is not PostgreSQL: an app's own role needs the shared \
                     database on PostgreSQL",
                    config.database.url
                ),
            ));
        }
    }
    Ok(())
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return its large error type
mod tests {
    use figment::Jail;

    use super::super::{CliOverrides, Config, ConfigFile};

    const LINKED: &[(&str, u16)] = &[("customers", 3044), ("products", 3045)];
    const PG: &str = "[database]\nurl = \"postgres://owner@127.0.0.1/db\"\n";

    fn load() -> Config {
        Config::load(&ConfigFile::Default, &CliOverrides::default()).expect("loads")
    }

    #[test]
    fn an_apps_role_comes_from_the_file_and_the_environment_and_stays_secret() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "runtime.toml",
                &format!(
                    "{PG}[apps.products]\ndatabase_url = \"postgres://app_products:pw1@127.0.0.1/db\"\n"
                ),
            )?;
            jail.set_env("RUNTIME_APPS__PRODUCTS__DATABASE_PASSWORD", "from-the-env");
            let config = load().check(LINKED).expect("valid");
            let products = config.app("products").expect("products");
            assert_eq!(
                products.database_password.as_ref().map(|p| p.expose()),
                Some("from-the-env")
            );
            let database = config.app_database("products").expect("its own URL");
            assert_eq!(
                database.url.expose(),
                "postgres://app_products:pw1@127.0.0.1/db"
            );
            assert_eq!(database.max_connections, config.database().max_connections);
            assert!(config.app_database("customers").is_none());
            let shown = format!("{config:?}");
            assert!(
                !shown.contains("from-the-env") && !shown.contains("pw1"),
                "{shown}"
            );
            assert_eq!(config.database().role_prefix, "app_");
            Ok(())
        });
    }

    #[test]
    fn a_role_needs_postgresql_and_a_plain_prefix() {
        Jail::expect_with(|jail| {
            for (file, key) in [
                (
                    "[apps.products]\ndatabase_url = \"postgres://app_products@h/db\"\n"
                        .to_string(),
                    "apps.products.database_url",
                ),
                (
                    format!("{PG}[apps.products]\ndatabase_url = \"sqlite://x.db\"\n"),
                    "apps.products.database_url",
                ),
                (
                    "[database]\nrole_prefix = \"App-\"\n".to_string(),
                    "database.role_prefix",
                ),
                (
                    "[database]\nrole_prefix = \"\"\n".to_string(),
                    "database.role_prefix",
                ),
            ] {
                jail.create_file("runtime.toml", &file)?;
                let err = load().check(LINKED).expect_err(&file).to_string();
                assert!(err.contains(key), "{file}: {err}");
            }
            Ok(())
        });
    }
}

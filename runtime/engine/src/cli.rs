//! The `runtime` command line: `start`, `migrate apply|status|new|baseline|undo`, `openapi`,
//! `graphql-schema`, `token`, `rules`, `app new|list|remove`, `db introspect|roles|backup|restore`.
//! The binary only hands its linked apps to [`main`].

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::app::App;
use crate::apps::commands::{self as app_commands, AppsContext};
use crate::config::{CheckedConfig, CliOverrides, Config, ConfigFile, LogConfig, LogFormat};
use crate::db::Database;
use crate::model::TableGrant;
use crate::server::{COMPOSED, PreparedApi, Runtime, Serve, prepare};
use crate::{apps, auth, backup, graphql, migrate, roles};

#[derive(Debug, Parser)]
#[command(
    name = "runtime",
    version,
    about = "Serves every domain app over one shared database"
)]
struct Cli {
    /// Configuration file (default: ./runtime.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL; overrides database.url.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves every enabled app on its own port and the composed API on the runtime port.
    Start {
        /// Serve only this app, on its own port.
        #[arg(long, value_name = "NAME")]
        app: Option<String>,
        /// Port of the composed API; overrides server.port.
        #[arg(long)]
        port: Option<u16>,
    },
    /// Prints the GraphQL schema (SDL) of one app, or of the composed API, without serving.
    GraphqlSchema {
        /// The app; the composed API when absent.
        #[arg(long, value_name = "NAME")]
        app: Option<String>,
    },
    /// Prints the OpenAPI document of an app (or the composed one) without starting servers.
    Openapi {
        /// The app whose document to print (default: the composed API's).
        #[arg(long, value_name = "NAME")]
        app: Option<String>,
    },
    /// Prints a token signed with auth.jwt_secret (HS256), to call the API as a role.
    Token {
        /// The role the token carries, under auth.role_claim.
        #[arg(long)]
        role: String,
        /// Another claim, KEY=VALUE: a number or boolean stays one, anything else is a string.
        /// Repeatable; replaces a claim of the same name.
        #[arg(long = "claim", value_name = "KEY=VALUE", value_parser = auth::parse_claim)]
        claims: Vec<(String, serde_json::Value)>,
        /// Seconds the token stays valid.
        #[arg(long, value_name = "SECS", default_value_t = 3600,
              value_parser = clap::value_parser!(u64).range(1..))]
        ttl: u64,
    },
    /// Prints the role rules of every app (or of `--app NAME`) as JSON, as the runtime reads
    /// them; a rule file that does not read is an error naming the app.
    Rules {
        #[arg(long)]
        app: Option<String>,
    },
    /// Manages the one migration set.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Adds, lists and removes apps.
    App {
        #[command(subcommand)]
        action: AppAction,
    },
    /// Works on the shared database itself.
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
}

#[derive(Debug, Subcommand)]
enum AppAction {
    /// Adds a table-only app to the configuration file (`--config`, else ./runtime.toml, created
    /// when missing); with `--crate`, scaffolds apps/NAME as a crate and links it instead.
    New {
        name: String,
        /// A table of its allowlist: TABLE, TABLE:read or TABLE:read-write (the default).
        /// Repeatable.
        #[arg(long = "table", value_name = "TABLE[:ACCESS]", value_parser = apps::parse_table_spec)]
        tables: Vec<TableGrant>,
        /// Its port (default: the next after the highest port in use).
        #[arg(long)]
        port: Option<u16>,
        /// Scaffold an app crate (run from the workspace root), to add code of its own.
        #[arg(long = "crate")]
        scaffold: bool,
    },
    /// Lists every app: port, enabled, kind (crate or config) and tables.
    List,
    /// Removes a table-only app from the configuration file.
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
enum DbAction {
    /// Proposes one table-only app per group of tables joined by foreign keys, for a database
    /// no migration of ours built.
    Introspect {
        /// PostgreSQL: the schema to read (default: the connection's current schema).
        #[arg(long)]
        schema: Option<String>,
        /// Add the proposed apps to the configuration file instead of printing them.
        #[arg(long)]
        write: bool,
    },
    /// Prints (or with --apply runs) the SQL that gives every app a PostgreSQL login role
    /// `<database.role_prefix><app>` holding exactly its allowlist.
    Roles {
        /// Run the SQL, in one transaction, instead of printing it.
        #[arg(long)]
        apply: bool,
        /// Revoke everything the roles hold and drop them, instead.
        #[arg(long)]
        revoke: bool,
        /// Only this app's role.
        #[arg(long, value_name = "NAME")]
        app: Option<String>,
    },
    /// Writes a consistent copy of the whole database to FILE, while runtimes may serve it
    /// (SQLite: a database file; PostgreSQL: an archive of `pg_dump --format=custom`).
    Backup {
        file: PathBuf,
        /// Overwrite FILE when it exists.
        #[arg(long)]
        force: bool,
    },
    /// Replaces the whole database with the backup in FILE (SQLite: only while no runtime
    /// serves it).
    Restore {
        file: PathBuf,
        /// Confirms that everything in the database now is to be replaced.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
enum MigrateAction {
    /// Applies pending migrations in version order.
    Apply {
        /// Stop after this version.
        #[arg(long, value_name = "VERSION")]
        to: Option<i32>,
    },
    /// Lists applied and pending migrations.
    Status,
    /// Creates the next migration file and its undo file.
    New { name: String },
    /// Records every migration up to VERSION as applied without running it, for a database
    /// whose schema exists already.
    Baseline {
        #[arg(value_parser = clap::value_parser!(i32).range(1..))]
        version: i32,
    },
    /// Undoes the last applied migration with its undo file (`U<version>__<name>.sql`).
    Undo {
        /// Undo every applied migration above this version instead, newest first (0: all).
        #[arg(long, value_name = "VERSION", value_parser = clap::value_parser!(i32).range(0..))]
        to: Option<i32>,
    },
}

/// Parses the command line, runs the command, and reports the error chain on failure.
pub fn main(apps: Vec<App>) -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, apps)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, linked: Vec<App>) -> anyhow::Result<()> {
    let port = match &cli.command {
        Command::Start { port, .. } => *port,
        Command::Migrate { .. }
        | Command::GraphqlSchema { .. }
        | Command::Openapi { .. }
        | Command::Token { .. }
        | Command::Rules { .. }
        | Command::App { .. }
        | Command::Db { .. } => None,
    };
    // The file the `app` and `db` commands write; `app new` and `db introspect --write` create
    // it when it is missing.
    let own_file = cli.config.clone().unwrap_or_else(|| "runtime.toml".into());
    let creates_file = matches!(
        &cli.command,
        Command::App {
            action: AppAction::New { .. }
        } | Command::Db {
            action: DbAction::Introspect { write: true, .. }
        }
    );
    let file = match cli.config {
        _ if creates_file => ConfigFile::Optional(own_file.clone()),
        Some(path) => ConfigFile::Named(path),
        None => ConfigFile::Default,
    };
    let overrides = CliOverrides::new(cli.database_url, port);
    let raw = Config::load(&file, &overrides)?;
    // Every app, crate or table-only, from here on.
    let apps = apps::with_configured(linked, &raw)?;
    let names: Vec<(&str, u16)> = apps
        .iter()
        .map(|a| (a.name.as_str(), a.default_port))
        .collect();
    let config = raw.check(&names)?;
    init_logs(&config.raw.log);
    let apps_context = AppsContext {
        config: &config,
        apps: &apps,
        file: &own_file,
        overrides: &overrides,
    };
    match cli.command {
        Command::App { action } => match action {
            AppAction::New {
                name,
                tables,
                port,
                scaffold: false,
            } => app_commands::new_config_app(&apps_context, &name, &tables, port).await,
            AppAction::New {
                name,
                tables,
                port,
                scaffold: true,
            } => app_commands::new_crate_app(&apps_context, &name, &tables, port),
            AppAction::List => {
                app_commands::list(&apps_context);
                Ok(())
            }
            AppAction::Remove { name } => app_commands::remove(&apps_context, &name),
        },
        Command::Db { action } => match action {
            DbAction::Introspect { schema, write } => {
                app_commands::introspect(&apps_context, schema.as_deref(), write).await
            }
            DbAction::Roles { apply, revoke, app } => {
                roles_command(&config, &apps, app.as_deref(), apply, revoke).await
            }
            DbAction::Backup { file, force } => backup_command(&config, &file, force).await,
            DbAction::Restore { file, yes } => restore_command(&config, &file, yes).await,
        },
        Command::Rules { app } => print_rules(&apps, app.as_deref()),
        Command::Start { app, .. } => {
            let serve = app.map_or(Serve::All, Serve::App);
            Runtime::build(&config, &apps, serve).await?.run().await
        }
        Command::GraphqlSchema { app } => {
            print_api(&config, &apps, app, |api| {
                let schema = graphql::schema(api.context.clone())?;
                Ok(graphql::sdl(&schema))
            })
            .await
        }
        Command::Openapi { app } => {
            print_api(&config, &apps, app, |api| {
                let document = api.document(config.limits(), config.auth().enabled())?;
                Ok(format!("{}\n", document.to_pretty_json()?))
            })
            .await
        }
        Command::Migrate { action } => migrate_command(&config, action).await,
        Command::Token { role, claims, ttl } => {
            println!("{}", auth::role_token(config.auth(), &role, &claims, ttl)?);
            Ok(())
        }
    }
}

/// Prints what `render` makes of the API `start` would serve on the port of `app` (on the
/// composed port, over every enabled app, when `app` is `None`), without binding any port.
/// Logs to stderr, as text or one JSON object a line (`log.format`); `RUST_LOG` sets the level
/// (default `info`, and `warn` for the NATS client, whose connection the runtime logs itself).
fn init_logs(log: &LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,async_nats=warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    match log.format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}

fn print_rules(apps: &[App], only: Option<&str>) -> anyhow::Result<()> {
    if let Some(name) = only
        && !apps.iter().any(|a| a.name == name)
    {
        anyhow::bail!("--app {name}: no such app");
    }
    let mut all = serde_json::Map::new();
    for app in apps
        .iter()
        .filter(|a| only.is_none_or(|name| a.name == name))
    {
        all.insert(app.name.clone(), serde_json::to_value(app.parsed_rules()?)?);
    }
    println!("{}", serde_json::to_string_pretty(&all)?);
    Ok(())
}

async fn print_api(
    config: &CheckedConfig,
    apps: &[App],
    app: Option<String>,
    render: impl FnOnce(&PreparedApi) -> anyhow::Result<String>,
) -> anyhow::Result<()> {
    let name = app.as_deref().unwrap_or(COMPOSED).to_string();
    let prepared = prepare(config, apps, &app.map_or(Serve::All, Serve::App)).await?;
    let api = prepared
        .api(&name)
        .context("the prepared APIs lack the one asked for")?;
    let rendered = render(api);
    prepared.db.close().await;
    print!("{}", rendered?);
    Ok(())
}

async fn migrate_command(config: &CheckedConfig, action: MigrateAction) -> anyhow::Result<()> {
    let dir = config.migrations_dir();
    match action {
        MigrateAction::New { name } => {
            let created = migrate::create(dir, &name)?;
            println!("created {}", created.path.display());
            println!("created {} (undoes it)", created.undo.display());
        }
        MigrateAction::Baseline { version } => {
            let db =
                Database::connect(config.database(), 1, config.limits().request_timeout()).await?;
            let marked = migrate::baseline(&db, dir, version).await;
            db.close().await;
            let marked = marked?;
            if marked.is_empty() {
                println!("nothing to mark: migrations up to version {version} are applied");
            }
            for migration in marked {
                println!("marked {} as applied (not run)", migration.label());
            }
        }
        MigrateAction::Undo { to } => {
            let db =
                Database::connect(config.database(), 1, config.limits().request_timeout()).await?;
            let undone = migrate::undo(&db, dir, to).await;
            db.close().await;
            let undone =
                undone.with_context(|| format!("undoing migrations from {}", dir.display()))?;
            if undone.is_empty() {
                match to {
                    Some(version) => {
                        println!("nothing to undo: no migration above version {version} is applied")
                    }
                    None => println!("nothing to undo: no migration is applied"),
                }
            }
            for migration in undone {
                println!("undid {}", migration.label());
            }
        }
        MigrateAction::Apply { to } => {
            let db =
                Database::connect(config.database(), 1, config.limits().request_timeout()).await?;
            let applied = migrate::apply(&db, dir, to)
                .await
                .with_context(|| format!("applying migrations from {}", dir.display()))?;
            if applied.is_empty() {
                println!("nothing to apply: the database is up to date");
            }
            for migration in applied {
                println!("applied V{}__{}", migration.version, migration.name);
            }
            db.close().await;
        }
        MigrateAction::Status => {
            let db =
                Database::connect(config.database(), 1, config.limits().request_timeout()).await?;
            println!("{:<8} {:<32} {:<6} state", "version", "name", "undo");
            for state in migrate::status(&db, dir).await? {
                let undo = match state.undo {
                    migrate::UndoFile::Ready => "yes",
                    migrate::UndoFile::Empty => "empty",
                    migrate::UndoFile::Missing => "no",
                };
                println!(
                    "{:<8} {:<32} {:<6} {}",
                    state.version,
                    state.name,
                    undo,
                    describe(&state)
                );
            }
            db.close().await;
        }
    }
    Ok(())
}

/// Writes a backup of the database to `file` and reports it.
async fn backup_command(config: &CheckedConfig, file: &Path, force: bool) -> anyhow::Result<()> {
    let target = backup::Target::of(config.database())?;
    let summary = backup::backup(config.database(), file, force, say)
        .await
        .with_context(|| format!("backing up to {}", file.display()))?;
    report(
        &format!("backed up {} to {}", target.describe(), file.display()),
        &summary,
    );
    Ok(())
}

/// Replaces the database with the backup in `file`, only with `yes`, and reports it.
async fn restore_command(config: &CheckedConfig, file: &Path, yes: bool) -> anyhow::Result<()> {
    let target = backup::check(config.database(), file)?;
    if !yes {
        anyhow::bail!(
            "restoring {} replaces {}: every table and row in it now is lost; \
             run again with --yes to do it",
            file.display(),
            target.describe()
        );
    }
    let summary = backup::restore(config.database(), file, say)
        .await
        .with_context(|| format!("restoring {}", file.display()))?;
    report(
        &format!("restored {} from {}", target.describe(), file.display()),
        &summary,
    );
    Ok(())
}

/// Progress of a backup or a restore, on stderr.
fn say(line: &str) {
    eprintln!("{line}");
}

/// What a backup or a restore did: the file's size, how long, and the rows of every table.
fn report(what: &str, summary: &backup::Summary) {
    println!(
        "{what} ({} bytes) in {:.2} s",
        summary.bytes,
        summary.took.as_secs_f64()
    );
    println!("{:<40} rows", "table");
    for (table, rows) in &summary.tables {
        println!("{table:<40} {rows}");
    }
}

/// Prints the roles' SQL, or runs it and prints what ran.
async fn roles_command(
    config: &CheckedConfig,
    apps: &[App],
    only: Option<&str>,
    apply: bool,
    revoke: bool,
) -> anyhow::Result<()> {
    let intent = if revoke {
        roles::Intent::Revoke
    } else {
        roles::Intent::Grant
    };
    let wanted = roles::wanted(config, apps, only)?;
    let db = Database::connect(config.database(), 1, config.limits().request_timeout()).await?;
    let plan = if apply {
        roles::apply(&db, &wanted, intent)
            .await
            .context("bringing the apps' roles in line (nothing was changed)")
    } else {
        roles::plan(&db, &wanted, intent)
            .await
            .context("reading the apps' roles")
    };
    db.close().await;
    print!("{}", plan?.script());
    if apply {
        println!("-- applied in one transaction");
    }
    Ok(())
}

/// One migration's state, as `migrate status` prints it.
fn describe(state: &migrate::MigrationState) -> String {
    match (&state.applied_on, state.changed, state.missing_file) {
        (Some(on), _, true) => format!("applied {on} (file missing)"),
        (Some(on), true, _) => format!("applied {on} (FILE CHANGED since)"),
        (Some(on), false, _) => format!("applied {on}"),
        (None, _, _) => "pending".to_string(),
    }
}

//! PostgreSQL: `pg_dump --format=custom` and `pg_restore`, run as child processes. The URL they
//! get carries no password: it goes in `PGPASSWORD`, never on a command line (which `ps` shows)
//! or in the output. Their `--verbose` lines are relayed as progress, and a line says they are
//! still at work when they are quiet for a while. The backup's row counts come from the very
//! snapshot `pg_dump` copies: a repeatable-read transaction exports it, counts in it and hands it
//! to `pg_dump --snapshot`. A restore leaves out what belongs to roles (grants and row-level
//! security policies, which name roles that may no longer exist, or not on this server):
//! `runtime db roles --apply` gives them again.

use std::ffi::OsString;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::str::FromStr as _;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Instant;

use percent_encoding::percent_decode_str;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};

use super::{BackupError, PROGRESS_EVERY, Say, Summary};
use crate::config::DatabaseUrl;
use crate::sql::quote::ident;

/// Every archive of `pg_dump --format=custom` starts with this.
const MAGIC: &[u8; 5] = b"PGDMP";

/// The connection as libpq's tools take it: a URL without password, and the password apart.
struct Libpq {
    url: String,
    password: Option<String>,
}

impl Libpq {
    fn new(url: &DatabaseUrl) -> Result<Self, BackupError> {
        let bad = |reason: String| BackupError::BadUrl {
            url: url.redacted(),
            reason,
        };
        let mut parsed = url::Url::parse(url.expose()).map_err(|e| bad(e.to_string()))?;
        let password = parsed
            .password()
            .map(|p| percent_decode_str(p).decode_utf8_lossy().into_owned());
        parsed
            .set_password(None)
            .map_err(|()| bad("it has no host".into()))?;
        Ok(Self {
            url: parsed.to_string(),
            password,
        })
    }
}

pub(super) async fn backup(
    url: &DatabaseUrl,
    file: &Path,
    force: bool,
    say: Say,
) -> Result<Summary, BackupError> {
    let started = Instant::now();
    let libpq = Libpq::new(url)?;
    let temp = super::temp_beside(file)?;
    let mut conn = PgConnection::connect_with(&PgConnectOptions::from_str(url.expose())?).await?;
    let mut snapshot = conn
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
        .fetch_one(&mut *snapshot)
        .await?;
    let args: Vec<OsString> = vec![
        "--format=custom".into(),
        "--verbose".into(),
        "--no-password".into(),
        format!("--snapshot={id}").into(),
        "--file".into(),
        temp.path().into(),
        "--dbname".into(),
        libpq.url.into(),
    ];
    let written = temp.path().to_path_buf();
    let password = libpq.password;
    let dump = tokio::task::spawn_blocking(move || {
        run(
            "pg_dump",
            &args,
            password.as_deref(),
            Some(written.as_path()),
            say,
        )
    });
    let tables = row_counts(&mut snapshot).await;
    let dumped = dump.await;
    snapshot.commit().await?;
    conn.close().await?;
    dumped.map_err(|error| BackupError::Io {
        context: "pg_dump's thread stopped".into(),
        source: std::io::Error::other(error),
    })??;
    let tables = tables?;
    let bytes = super::put_in_place(temp, file, force)?;
    Ok(Summary {
        tables,
        bytes,
        took: started.elapsed(),
    })
}

/// Refuses a file that is not an archive of `pg_dump --format=custom`.
pub(super) fn check(file: &Path) -> Result<(), BackupError> {
    let mut start = [0u8; 5];
    let read = std::fs::File::open(file).and_then(|mut f| f.read_exact(&mut start));
    match read {
        Ok(()) if &start == MAGIC => Ok(()),
        Ok(()) => Err(not_an_archive(file)),
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(not_an_archive(file))
        }
        Err(source) => Err(BackupError::Io {
            context: format!("could not read {}", file.display()),
            source,
        }),
    }
}

fn not_an_archive(file: &Path) -> BackupError {
    BackupError::NotABackup {
        path: file.display().to_string(),
        what: "a PostgreSQL backup",
        reason: "it does not start like an archive of `pg_dump --format=custom`".into(),
    }
}

pub(super) async fn restore(
    url: &DatabaseUrl,
    file: &Path,
    say: Say,
) -> Result<Summary, BackupError> {
    let started = Instant::now();
    let libpq = Libpq::new(url)?;
    let contents = without_policies(file)?;
    let args: Vec<OsString> = vec![
        "--clean".into(),
        "--no-privileges".into(),
        "--use-list".into(),
        contents.path().into(),
        "--if-exists".into(),
        "--no-owner".into(),
        "--single-transaction".into(),
        "--verbose".into(),
        "--no-password".into(),
        "--dbname".into(),
        libpq.url.into(),
        file.into(),
    ];
    let password = libpq.password;
    tokio::task::spawn_blocking(move || run("pg_restore", &args, password.as_deref(), None, say))
        .await
        .map_err(|error| BackupError::Io {
            context: "pg_restore's thread stopped".into(),
            source: std::io::Error::other(error),
        })??;
    let mut conn = PgConnection::connect_with(&PgConnectOptions::from_str(url.expose())?).await?;
    let tables = row_counts(&mut conn).await?;
    conn.close().await?;
    let bytes = std::fs::metadata(file)
        .map_err(BackupError::io(format!(
            "could not read {}",
            file.display()
        )))?
        .len();
    Ok(Summary {
        tables,
        bytes,
        took: started.elapsed(),
    })
}

/// The archive's table of contents (`pg_restore --list`) without its row-level security
/// policies, as a file for `pg_restore --use-list`.
fn without_policies(file: &Path) -> Result<tempfile::NamedTempFile, BackupError> {
    let listed = Command::new("pg_restore")
        .arg("--list")
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                BackupError::ToolMissing { tool: "pg_restore" }
            } else {
                BackupError::Io {
                    context: "could not run `pg_restore --list`".into(),
                    source,
                }
            }
        })?;
    if !listed.status.success() {
        return Err(BackupError::ToolFailed {
            tool: "pg_restore",
            status: listed.status.to_string(),
            detail: String::from_utf8_lossy(&listed.stderr).trim().to_string(),
        });
    }
    let kept: String = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|line| !line.contains(" POLICY "))
        .map(|line| format!("{line}\n"))
        .collect();
    let mut contents = tempfile::NamedTempFile::new().map_err(BackupError::io(
        "could not write the restore's table of contents".to_string(),
    ))?;
    std::io::Write::write_all(&mut contents, kept.as_bytes()).map_err(BackupError::io(
        "could not write the restore's table of contents".to_string(),
    ))?;
    Ok(contents)
}

/// Runs a PostgreSQL client tool, relaying what it writes to stderr; `watch` is a file it
/// writes, whose size the "still running" lines give.
fn run(
    tool: &'static str,
    args: &[OsString],
    password: Option<&str>,
    watch: Option<&Path>,
    say: Say,
) -> Result<(), BackupError> {
    let mut command = Command::new(tool);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let mut child = command.spawn().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            BackupError::ToolMissing { tool }
        } else {
            BackupError::Io {
                context: format!("could not run `{tool}`"),
                source,
            }
        }
    })?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let (lines, received) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut problems = Vec::new();
    loop {
        match received.recv_timeout(PROGRESS_EVERY) {
            Ok(line) => {
                if line.contains("error:") || line.contains("warning:") {
                    problems.push(line.clone());
                }
                say(&line);
            }
            Err(RecvTimeoutError::Timeout) => {
                let written = watch
                    .and_then(|path| std::fs::metadata(path).ok())
                    .map_or(String::new(), |m| format!(", {} bytes written", m.len()));
                say(&format!(
                    "{tool}: still running after {} s{written}",
                    started.elapsed().as_secs()
                ));
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = reader.join();
    let status = child
        .wait()
        .map_err(BackupError::io(format!("could not wait for `{tool}`")))?;
    if status.success() {
        return Ok(());
    }
    Err(BackupError::ToolFailed {
        tool,
        status: status.to_string(),
        detail: if problems.is_empty() {
            "(it said nothing more)".into()
        } else {
            problems.join("\n")
        },
    })
}

/// Rows per table of every schema but PostgreSQL's own; tables of the current schema by name,
/// others as `schema.table`.
async fn row_counts(conn: &mut PgConnection) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let tables: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT schemaname::text, tablename::text, schemaname = current_schema() \
         FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') \
         ORDER BY 3 DESC, 1, 2",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut counts = Vec::new();
    for (schema, table, current) in tables {
        let count: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM {}.{}",
            ident(&schema),
            ident(&table)
        )))
        .fetch_one(&mut *conn)
        .await?;
        let name = if current {
            table
        } else {
            format!("{schema}.{table}")
        };
        counts.push((name, count));
    }
    Ok(counts)
}

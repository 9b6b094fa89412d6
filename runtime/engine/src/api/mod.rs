//! The engine's handle on one app: its model, the shared pool and the limits. The REST adapter
//! runs its operations through it, and apps' own code gets it to read and write the app's
//! visible tables with the same strictness ([`ApiContext::table`]).

mod table_query;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use table_query::TableQuery;

use crate::config::LimitsConfig;
use crate::db::{Database, DbError, JsonRow, Transaction, db_error};
use crate::error::{ApiError, ErrorCode};
use crate::model::AppModel;
use crate::query::Operation;
use crate::sql;

#[derive(Debug, Clone)]
pub struct ApiContext {
    db: Database,
    model: Arc<AppModel>,
    limits: LimitsConfig,
    max_body: usize,
    statements: StatementCounter,
}

/// Counts the statements the APIs run: the proof that one request is one statement.
#[derive(Debug, Clone, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl ApiContext {
    pub fn new(
        db: Database,
        model: Arc<AppModel>,
        limits: LimitsConfig,
        max_body: usize,
        statements: StatementCounter,
    ) -> Self {
        Self {
            db,
            model,
            limits,
            max_body,
            statements,
        }
    }

    /// The largest request body the app accepts, in bytes.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    pub fn model(&self) -> &AppModel {
        &self.model
    }

    pub fn limits(&self) -> &LimitsConfig {
        &self.limits
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Runs one operation as one statement; `None` when it answers nothing (a missing row).
    pub async fn run(&self, operation: &Operation) -> Result<Option<JsonRow>, ApiError> {
        let statement = sql::build(&self.model, self.db.dialect(), operation);
        self.statements.add();
        self.db
            .fetch_json(&statement)
            .await
            .map_err(|e| self.explain(e, operation))
    }

    /// Maps a database error; a foreign-key violation the database did not attribute (SQLite
    /// names no column) is attributed to the foreign-key fields the write set.
    fn explain(&self, error: DbError, operation: &Operation) -> ApiError {
        let mut api_error = db_error(error, self.model.as_ref());
        if api_error.code == ErrorCode::ForeignKeyViolation
            && !api_error.message.contains(" (")
            && let Some(fields) = written_foreign_keys(&self.model, operation)
        {
            api_error.message = format!(
                "foreign key constraint violated: one of {fields} references a row that does not exist, or other rows still reference this one"
            );
        }
        api_error
    }

    /// Runs an operation that answers rows, as a JSON array (`[]` when it answers nothing).
    pub async fn rows(&self, operation: &Operation) -> Result<String, ApiError> {
        Ok(self
            .run(operation)
            .await?
            .map_or_else(|| "[]".into(), |r| r.json))
    }

    /// [`ApiContext::rows`] inside a transaction.
    pub async fn rows_in(
        &self,
        tx: &mut Transaction,
        operation: &Operation,
    ) -> Result<String, ApiError> {
        Ok(self
            .run_in(tx, operation)
            .await?
            .map_or_else(|| "[]".into(), |r| r.json))
    }

    /// Runs one operation inside a transaction.
    pub async fn run_in(
        &self,
        tx: &mut Transaction,
        operation: &Operation,
    ) -> Result<Option<JsonRow>, ApiError> {
        let statement = sql::build(&self.model, self.db.dialect(), operation);
        self.statements.add();
        tx.fetch_json(&statement)
            .await
            .map_err(|e| self.explain(e, operation))
    }

    /// Starts a transaction; it rolls back unless committed with [`ApiContext::commit`].
    pub async fn begin(&self) -> Result<Transaction, ApiError> {
        self.db
            .begin()
            .await
            .map_err(|e| db_error(e, self.model.as_ref()))
    }

    pub async fn commit(&self, tx: Transaction) -> Result<(), ApiError> {
        tx.commit()
            .await
            .map_err(|e| db_error(e, self.model.as_ref()))
    }

    /// A query on one of the app's visible tables, by table name.
    pub fn table(&self, table: &str) -> Result<TableQuery<'_>, ApiError> {
        let entity = self.model.entity_index(table).ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!(
                    "app `{}` does not serve a table named `{table}`",
                    self.model.name
                ),
            )
        })?;
        Ok(TableQuery::new(self, entity))
    }
}

/// The foreign-key fields a write sets, named for an error message.
fn written_foreign_keys(model: &AppModel, operation: &Operation) -> Option<String> {
    let (entity, fields): (usize, Vec<usize>) = match operation {
        Operation::Insert { entity, rows, .. } => {
            (*entity, rows.iter().flatten().map(|(f, _)| *f).collect())
        }
        Operation::Upsert { entity, values, .. } | Operation::Update { entity, values, .. } => {
            (*entity, values.iter().map(|(f, _)| *f).collect())
        }
        _ => return None,
    };
    let entity = &model.entities[entity];
    let mut names: Vec<&str> = entity
        .constraints
        .iter()
        .filter(|c| c.foreign_key)
        .flat_map(|c| c.fields.iter())
        .filter(|f| fields.contains(f))
        .map(|f| entity.fields[*f].name.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    (!names.is_empty()).then(|| names.join(", "))
}

//! The engine's handle on one app: its model, the shared pool and the limits. The REST adapter
//! runs its operations through it, and apps' own code gets it to read and write the app's
//! visible tables with the same strictness ([`ApiContext::table`]).

mod errors;
mod table_query;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use table_query::TableQuery;

use crate::config::LimitsConfig;
use crate::db::{Database, DbError, JsonRow, Statement, Transaction};
use crate::error::{ApiError, ErrorCode};
use crate::model::AppModel;
use crate::query::{Operation, bounds};
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

    /// Runs one operation as one statement; `None` when it answers nothing (a missing row). A
    /// bulk insert too large for one statement runs as several in one transaction.
    pub async fn run(&self, operation: &Operation) -> Result<Option<JsonRow>, ApiError> {
        bounds::check(operation, &self.limits)?;
        if let Some(parts) = self.split(operation) {
            let mut tx = self.begin().await?;
            let rows = self.run_parts(&mut tx, &parts).await?;
            self.commit(tx).await?;
            return Ok(Some(rows));
        }
        let statement = self.statement(operation)?;
        self.db
            .fetch_json(&statement)
            .await
            .map_err(|e| self.explain(e, operation))
    }

    /// The statement of an operation, counted; refused when it would bind more values than the
    /// database accepts (only an app's own code can build one: the request limits stay below).
    fn statement(&self, operation: &Operation) -> Result<Statement, ApiError> {
        let dialect = self.db.dialect();
        let statement = sql::build(&self.model, dialect, operation);
        if statement.params.len() > dialect.max_params() {
            return Err(ApiError::new(
                ErrorCode::TooManyValues,
                format!(
                    "the statement would bind {} values; the database accepts at most {}",
                    statement.params.len(),
                    dialect.max_params()
                ),
            ));
        }
        self.statements.add();
        Ok(statement)
    }

    /// A bulk insert whose values would pass the database's bound-parameter limit, as inserts
    /// of consecutive rows that each stay inside it; `None` for anything that fits.
    fn split(&self, operation: &Operation) -> Option<Vec<Operation>> {
        let Operation::Insert {
            entity,
            rows,
            returning,
        } = operation
        else {
            return None;
        };
        let max_params = self.db.dialect().max_params();
        if rows.iter().map(Vec::len).sum::<usize>() <= max_params {
            return None;
        }
        let widest = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
        Some(
            rows.chunks((max_params / widest).max(1))
                .map(|chunk| Operation::Insert {
                    entity: *entity,
                    rows: chunk.to_vec(),
                    returning: returning.clone(),
                })
                .collect(),
        )
    }

    /// Runs the parts of a split insert in a transaction; their rows as one JSON array.
    async fn run_parts(
        &self,
        tx: &mut Transaction,
        parts: &[Operation],
    ) -> Result<JsonRow, ApiError> {
        let mut json = String::from("[");
        for part in parts {
            let statement = self.statement(part)?;
            let answer = tx
                .fetch_json(&statement)
                .await
                .map_err(|e| self.explain(e, part))?;
            let rows = answer.as_ref().map_or("[]", |a| a.json.as_str());
            let inner = rows.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
            if let Some(inner) = inner.filter(|inner| !inner.trim().is_empty()) {
                if json.len() > 1 {
                    json.push(',');
                }
                json.push_str(inner);
            }
        }
        json.push(']');
        Ok(JsonRow { json, count: None })
    }

    /// Maps a database error of an operation to the client error it stands for.
    fn explain(&self, error: DbError, operation: &Operation) -> ApiError {
        errors::explain(error, &self.model, Some(operation))
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
        bounds::check(operation, &self.limits)?;
        if let Some(parts) = self.split(operation) {
            return self.run_parts(tx, &parts).await.map(Some);
        }
        let statement = self.statement(operation)?;
        tx.fetch_json(&statement)
            .await
            .map_err(|e| self.explain(e, operation))
    }

    /// Starts a transaction; it rolls back unless committed with [`ApiContext::commit`].
    pub async fn begin(&self) -> Result<Transaction, ApiError> {
        self.db
            .begin()
            .await
            .map_err(|e| errors::explain(e, &self.model, None))
    }

    pub async fn commit(&self, tx: Transaction) -> Result<(), ApiError> {
        tx.commit()
            .await
            .map_err(|e| errors::explain(e, &self.model, None))
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

//! The engine's handle on one app: its model, the shared pool and the limits. The REST adapter
//! runs its operations through it, and apps' own code gets it to read and write the app's
//! visible tables with the same strictness ([`ApiContext::table`]).

mod table_query;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use table_query::TableQuery;

use crate::config::LimitsConfig;
use crate::db::{Database, DbError, JsonRow, Statement, Transaction, db_error};
use crate::error::{ApiError, ErrorCode};
use crate::model::AppModel;
use crate::query::{Operation, Value, bounds};
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
        let mut columns: Vec<usize> = rows.iter().flatten().map(|(field, _)| *field).collect();
        columns.sort_unstable();
        columns.dedup();
        let per_statement = (self.db.dialect().max_params() / columns.len().max(1)).max(1);
        (rows.len() > per_statement).then(|| {
            rows.chunks(per_statement)
                .map(|chunk| Operation::Insert {
                    entity: *entity,
                    rows: chunk.to_vec(),
                    returning: returning.clone(),
                })
                .collect()
        })
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

    /// Maps a database error; a foreign-key violation the database did not attribute (SQLite
    /// names no column) is attributed to the foreign-key fields the write set.
    fn explain(&self, error: DbError, operation: &Operation) -> ApiError {
        let mut api_error = db_error(error, self.model.as_ref());
        if api_error.code == ErrorCode::ValueTooLarge
            && let Some(fields) = long_values(&self.model, operation)
        {
            api_error.message = format!(
                "a value is too large for an index of the table: {fields}; PostgreSQL indexes values of up to about 2,700 bytes"
            );
        }
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

/// Values a database may refuse to index: text of this many bytes or more.
const LONG_VALUE: usize = 2_000;

/// The fields a write sets to long text, with their lengths, named for an error message.
fn long_values(model: &AppModel, operation: &Operation) -> Option<String> {
    let (entity, values): (usize, Vec<&(usize, Value)>) = match operation {
        Operation::Insert { entity, rows, .. } => (*entity, rows.iter().flatten().collect()),
        Operation::Upsert { entity, values, .. } | Operation::Update { entity, values, .. } => {
            (*entity, values.iter().collect())
        }
        _ => return None,
    };
    let entity = &model.entities[entity];
    let mut long: Vec<(usize, usize)> = Vec::new();
    for (field, value) in values {
        if let Value::Text(text) = value
            && text.len() >= LONG_VALUE
        {
            match long.iter_mut().find(|(f, _)| f == field) {
                Some((_, length)) => *length = (*length).max(text.len()),
                None => long.push((*field, text.len())),
            }
        }
    }
    let named: Vec<String> = long
        .iter()
        .map(|(field, length)| format!("`{}` ({length} bytes)", entity.fields[*field].name))
        .collect();
    (!named.is_empty()).then(|| named.join(", "))
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

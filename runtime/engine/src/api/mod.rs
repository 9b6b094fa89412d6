//! The engine's handle on one app for one caller: its model, the shared pool, the limits and
//! who is asking. The REST and GraphQL adapters run their operations through it, and apps' own
//! code gets it (an extractor) to read and write the app's visible tables with the same
//! strictness and the caller's role rules ([`ApiContext::table`]).

mod authorize;
mod errors;
mod table_query;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::{FromRequest, HttpMessage as _, HttpRequest, web};
pub use table_query::TableQuery;

use self::authorize::{Authorized, authorize, preset_fields, read_filter, readable_fields};
use crate::auth::Caller;
use crate::config::LimitsConfig;
use crate::db::{Database, DbError, Failure, JsonRow, Statement, Transaction};
use crate::error::{ApiError, ErrorCode};
use crate::events::ChangeHub;
use crate::model::AppModel;
use crate::ops::metrics::StatementMetrics;
use crate::query::{Condition, Filter, Op, Operand, Operation, Select, Value, bounds, coerce_json};
use crate::sql;

/// One app's API as one caller reaches it. Cheap to clone. Handlers of apps' own routes take it
/// as an extractor: it carries the request's caller, whose rules every operation obeys.
#[derive(Debug, Clone)]
pub struct ApiContext {
    shared: Arc<Shared>,
    caller: Caller,
}

#[derive(Debug)]
struct Shared {
    db: Database,
    model: Arc<AppModel>,
    limits: LimitsConfig,
    max_body: usize,
    statements: StatementCounter,
    events: Option<ChangeHub>,
}

/// Counts the statements the APIs run (the proof that one request is one statement), by kind
/// and with their durations for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct StatementCounter {
    total: Arc<AtomicU64>,
    metrics: StatementMetrics,
}

impl StatementCounter {
    pub fn get(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// The per-kind metric families, to register.
    pub fn metrics(&self) -> &StatementMetrics {
        &self.metrics
    }

    fn add(&self, kind: usize) {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.metrics.ran(kind);
    }

    fn took(&self, kind: usize, started: Instant) {
        self.metrics.took(kind, started.elapsed().as_secs_f64());
    }
}

/// What an operation does, as an index into [`crate::ops::metrics::STATEMENT_KINDS`].
fn kind(operation: &Operation) -> usize {
    match operation {
        Operation::List { .. } | Operation::One { .. } => 0,
        Operation::Count { .. } => 1,
        Operation::Insert { .. } => 2,
        Operation::Update { .. } => 3,
        Operation::Upsert { .. } => 4,
        Operation::Delete { .. } => 5,
    }
}

impl ApiContext {
    /// The context of an app, for callers while auth is off.
    pub fn new(
        db: Database,
        model: Arc<AppModel>,
        limits: LimitsConfig,
        max_body: usize,
        statements: StatementCounter,
        events: Option<ChangeHub>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                db,
                model,
                limits,
                max_body,
                statements,
                events,
            }),
            caller: Caller::open(),
        }
    }

    /// The same API for another caller.
    pub fn with_caller(&self, caller: Caller) -> Self {
        Self {
            shared: self.shared.clone(),
            caller,
        }
    }

    /// The same API with no role rules, for an app's own logic that must see or change rows
    /// its caller may not (a summary over every customer, a stock count): use it only where the
    /// app itself decides what the caller gets.
    pub fn as_system(&self) -> Self {
        self.with_caller(Caller::system())
    }

    /// Who is asking.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The fields of an entity the caller may read, in the model's order.
    pub fn readable_fields(&self, entity: usize) -> Vec<usize> {
        readable_fields(self.model(), &self.caller, entity)
    }

    /// What the caller may read of an entity: its read rule's filter and the readable fields;
    /// `None` when it may not read it.
    pub fn read_rule(&self, entity: usize) -> Option<(Filter, Vec<usize>)> {
        let filter = read_filter(self.model(), &self.caller, entity)?;
        Some((filter, self.readable_fields(entity)))
    }

    /// The change log's hub, while `events.enabled`.
    pub fn events(&self) -> Option<&ChangeHub> {
        self.shared.events.as_ref()
    }

    /// The fields the caller's insert rule presets on an entity: an input may leave them out.
    pub fn preset_fields(&self, entity: usize) -> Vec<usize> {
        preset_fields(self.model(), &self.caller, entity)
    }

    /// The largest request body the app accepts, in bytes.
    pub fn max_body(&self) -> usize {
        self.shared.max_body
    }

    pub fn model(&self) -> &AppModel {
        &self.shared.model
    }

    pub fn limits(&self) -> &LimitsConfig {
        &self.shared.limits
    }

    pub fn database(&self) -> &Database {
        &self.shared.db
    }

    /// Runs one operation as one statement, under the caller's rules; `None` when it answers
    /// nothing (a missing row). A bulk insert too large for one statement runs as several in
    /// one transaction, and so does a write whose rule checks the written rows.
    pub async fn run(&self, operation: &Operation) -> Result<Option<JsonRow>, ApiError> {
        bounds::check(operation, self.limits())?;
        let Authorized { operation, check } = authorize(self.model(), &self.caller, operation)?;
        if check.is_some() || self.split(&operation).is_some() {
            let mut tx = self.begin().await?;
            let rows = self.write_in(&mut tx, &operation, check).await?;
            self.commit(tx).await?;
            return Ok(rows);
        }
        let statement = self.statement(&operation)?;
        let started = Instant::now();
        let answer = self.shared.db.fetch_json(&statement).await;
        self.shared.statements.took(kind(&operation), started);
        answer.map_err(|e| self.explain(e, &operation))
    }

    /// Runs an authorized operation in a transaction, split when too large, and refuses it
    /// when a written row fails the rule's check (the transaction then must roll back).
    async fn write_in(
        &self,
        tx: &mut Transaction,
        operation: &Operation,
        check: Option<Filter>,
    ) -> Result<Option<JsonRow>, ApiError> {
        let rows = match self.split(operation) {
            Some(parts) => Some(self.run_parts(tx, &parts).await?),
            None => {
                let statement = self.statement(operation)?;
                let started = Instant::now();
                let answer = tx.fetch_json(&statement).await;
                self.shared.statements.took(kind(operation), started);
                answer.map_err(|e| self.explain(e, operation))?
            }
        };
        if let Some(check) = check {
            self.verify(tx, operation, rows.as_ref(), check).await?;
        }
        Ok(rows)
    }

    /// Refuses a write when any row it wrote fails `check`, counted in the same transaction.
    async fn verify(
        &self,
        tx: &mut Transaction,
        operation: &Operation,
        rows: Option<&JsonRow>,
        check: Filter,
    ) -> Result<(), ApiError> {
        let entity = match operation {
            Operation::Insert { entity, .. }
            | Operation::Upsert { entity, .. }
            | Operation::Update { entity, .. } => *entity,
            _ => return Ok(()),
        };
        let definition = &self.model().entities[entity];
        let Some(key) = definition.primary_key else {
            return Ok(());
        };
        let Some(rows) = rows else {
            return Ok(());
        };
        let keys = written_keys(definition, key, &rows.json)?;
        if keys.is_empty() {
            return Ok(());
        }
        let written = keys.len();
        let count = Operation::Count {
            entity,
            filter: Filter::Condition(Condition {
                field: key,
                op: Op::In,
                operand: Operand::Many(keys),
            })
            .and(check),
        };
        let statement = self.statement(&count)?;
        let passed = tx
            .fetch_json(&statement)
            .await
            .map_err(|e| self.explain(e, &count))?
            .and_then(|r| r.json.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if passed == written {
            return Ok(());
        }
        Err(self.caller.refusal(&format!(
            "write these rows to `{}`: {} of {written} written rows fail its rule's check, so \
             nothing was written",
            definition.table,
            written - passed
        )))
    }

    /// The statement of an operation, counted; refused when it would bind more values than the
    /// database accepts (only an app's own code can build one: the request limits stay below).
    fn statement(&self, operation: &Operation) -> Result<Statement, ApiError> {
        let statement = sql::build(self.model(), self.shared.db.dialect(), operation);
        self.counted(statement, operation)
    }

    /// A statement built for `operation`, counted, or refused as [`ApiContext::statement`] says.
    fn counted(&self, statement: Statement, operation: &Operation) -> Result<Statement, ApiError> {
        let dialect = self.shared.db.dialect();
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
        self.shared.statements.add(kind(operation));
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
        let max_params = self.shared.db.dialect().max_params();
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

    /// Maps a database error of an operation to the client error it stands for, counting
    /// acquire timeouts and telling a statement timeout from the request deadline.
    fn explain(&self, error: DbError, operation: &Operation) -> ApiError {
        let failure = error.failure();
        if failure == Failure::Busy {
            self.shared.db.metrics().timeouts.inc();
        }
        if failure == Failure::TimedOut
            && let Some(limit) = self.shared.db.statement_timeout()
        {
            return ApiError::new(
                ErrorCode::StatementTimeout,
                format!(
                    "a statement ran longer than database.statement_timeout_ms ({} ms) and was \
                     stopped; narrow the request or retry later",
                    limit.as_millis()
                ),
            );
        }
        errors::explain(error, self.model(), Some(operation))
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

    /// Runs one operation inside a transaction, under the caller's rules.
    pub async fn run_in(
        &self,
        tx: &mut Transaction,
        operation: &Operation,
    ) -> Result<Option<JsonRow>, ApiError> {
        bounds::check(operation, self.limits())?;
        let Authorized { operation, check } = authorize(self.model(), &self.caller, operation)?;
        self.write_in(tx, &operation, check).await
    }

    /// Refuses an operation the caller's rules do not allow, as running it would, without
    /// running it.
    pub fn permits(&self, operation: &Operation) -> Result<(), ApiError> {
        authorize(self.model(), &self.caller, operation).map(drop)
    }

    /// Reads one row inside a transaction, under the caller's rules as [`ApiContext::run_in`]
    /// reads it, and locks it until the transaction ends ([`sql::build_locking`]): no other
    /// transaction changes or deletes it before this one writes it or ends.
    pub async fn read_locked_in(
        &self,
        tx: &mut Transaction,
        select: Select,
    ) -> Result<Option<JsonRow>, ApiError> {
        let operation = Operation::One { select };
        bounds::check(&operation, self.limits())?;
        let Authorized { operation, .. } = authorize(self.model(), &self.caller, &operation)?;
        let dialect = self.shared.db.dialect();
        let statement = sql::build_locking(self.model(), dialect, &operation);
        let statement = self.counted(statement, &operation)?;
        let started = Instant::now();
        let answer = tx.fetch_json(&statement).await;
        self.shared.statements.took(kind(&operation), started);
        answer.map_err(|e| self.explain(e, &operation))
    }

    /// Starts a transaction; it rolls back unless committed with [`ApiContext::commit`].
    pub async fn begin(&self) -> Result<Transaction, ApiError> {
        self.shared
            .db
            .begin()
            .await
            .map_err(|e| errors::explain(e, self.model(), None))
    }

    pub async fn commit(&self, tx: Transaction) -> Result<(), ApiError> {
        tx.commit()
            .await
            .map_err(|e| errors::explain(e, self.model(), None))
    }

    /// A query on one of the app's visible tables, by table name.
    pub fn table(&self, table: &str) -> Result<TableQuery<'_>, ApiError> {
        let entity = self.model().entity_index(table).ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!(
                    "app `{}` does not serve a table named `{table}`",
                    self.model().name
                ),
            )
        })?;
        Ok(TableQuery::new(self, entity))
    }
}

/// The keys of the rows a write answered: a JSON array of rows (or one row) that carry the key.
pub(crate) fn written_keys(
    entity: &crate::model::Entity,
    key: usize,
    rows: &str,
) -> Result<Vec<Value>, ApiError> {
    let parsed: serde_json::Value =
        serde_json::from_str(rows).map_err(|e| ApiError::internal(&e))?;
    let field = &entity.fields[key];
    let objects = match &parsed {
        serde_json::Value::Array(items) => items.iter().collect(),
        object => vec![object],
    };
    objects
        .into_iter()
        .filter_map(|row| row.get(&field.name))
        .map(|id| coerce_json(field, id))
        .collect()
}

/// The request's API: the app's context (the innermost registered for the route) with the
/// caller the edge resolved.
impl FromRequest for ApiContext {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(from_request(req))
    }
}

fn from_request(req: &HttpRequest) -> Result<ApiContext, ApiError> {
    let base = req
        .app_data::<web::Data<ApiContext>>()
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "no API is registered for this route"))?;
    Ok(match req.extensions().get::<Caller>() {
        Some(caller) => base.with_caller(caller.clone()),
        None => base.get_ref().clone(),
    })
}

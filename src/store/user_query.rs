//! SQL from API users: read-only, isolated, bounded and cancellable.
//!
//! * **Isolated.** Every request plans in a fresh [`SessionContext`] over the history tables, so
//!   nothing one request does (were it allowed) could change what another request or the
//!   planner sees. The statement and its plan are checked by [`super::sql_guard`].
//! * **Bounded.** All user queries share one memory pool (`api.query.memory_limit`) with
//!   spilling off, so a sort, join or aggregate that needs more fails instead of exhausting
//!   the process; at most `api.query.max_concurrent` run at once.
//! * **Off the async workers, and cancellable.** A query runs on a blocking thread with its own
//!   current-thread runtime. It stops when its timeout passes, when the caller drops the
//!   [`QueryRun`] (client gone, JSON limit reached), or when [`UserQueries::cancel_all`] is
//!   called at shutdown: dropping DataFusion's stream aborts its tasks, and its operators
//!   yield cooperatively, so the cancellation is seen within a batch.

use super::error::StoreError;
use super::history::HistoryStore;
use super::query::register_history_tables;
use super::sql_guard::{Refusal, check_plan, check_statement};
use crate::config::QuerySettings;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::{CancellationToken, DropGuard};

/// Why a user query did not complete.
#[derive(Debug, thiserror::Error)]
pub enum UserQueryError {
    /// Not a read-only query of the history: 400.
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// The SQL is wrong (unknown column, type error): 400.
    #[error("{0}")]
    Invalid(String),
    /// The query needed more memory than `api.query.memory_limit`: 422.
    #[error("the query needs more memory than api.query.memory_limit allows: {0}")]
    TooLarge(String),
    #[error("the query ran longer than api.query.timeout ({0:?}) and was cancelled")]
    TimedOut(std::time::Duration),
    #[error("the query was cancelled (shutdown)")]
    Cancelled,
    #[error("too many queries are running; try again shortly")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<datafusion::error::DataFusionError> for UserQueryError {
    fn from(error: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as E;
        match error.find_root() {
            E::ResourcesExhausted(m) => UserQueryError::TooLarge(m.clone()),
            E::Plan(_) | E::SQL(..) | E::SchemaError(..) | E::NotImplemented(_) => {
                UserQueryError::Invalid(error.strip_backtrace())
            }
            _ => UserQueryError::Store(StoreError::Query(error)),
        }
    }
}

/// What a running query sends back: first its schema, then batches.
pub enum QueryEvent {
    Schema(SchemaRef),
    Batch(RecordBatch),
    Failed(UserQueryError),
}

/// A query in flight. Dropping it cancels the query.
pub struct QueryRun {
    pub schema: SchemaRef,
    events: mpsc::Receiver<QueryEvent>,
    /// `api.query.timeout` after the start: the caller gets its answer then, whether or not the
    /// query thread has noticed its cancellation yet (a join can run a while between yields).
    deadline: tokio::time::Instant,
    timeout: std::time::Duration,
    /// Cancelled at shutdown: the caller answers at once, without waiting for the thread.
    cancel: CancellationToken,
    _cancel_on_drop: DropGuard,
}

impl QueryRun {
    /// The next batch; `None` at the end.
    pub async fn next(&mut self) -> Option<Result<RecordBatch, UserQueryError>> {
        let event = tokio::select! {
            received = tokio::time::timeout_at(self.deadline, self.events.recv()) => match received {
                Ok(event) => event?,
                Err(_) => return Some(Err(UserQueryError::TimedOut(self.timeout))),
            },
            _ = self.cancel.cancelled() => return Some(Err(UserQueryError::Cancelled)),
        };
        match event {
            QueryEvent::Batch(batch) => Some(Ok(batch)),
            QueryEvent::Failed(error) => Some(Err(error)),
            QueryEvent::Schema(_) => Some(Err(UserQueryError::Invalid("schema sent twice".into()))),
        }
    }
}

/// The user-query service: the history's folders, a shared bounded runtime environment, a
/// concurrency limit and the shutdown switch.
#[derive(Clone)]
pub struct UserQueries {
    store: HistoryStore,
    runtime: Arc<RuntimeEnv>,
    settings: QuerySettings,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
}

impl UserQueries {
    pub fn new(store: &HistoryStore, settings: &QuerySettings) -> Result<UserQueries, StoreError> {
        let pool: Arc<dyn MemoryPool> =
            Arc::new(GreedyMemoryPool::new(settings.memory_limit.bytes()));
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(pool)
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .with_cache_manager(
                datafusion::execution::cache::cache_manager::CacheManagerConfig::default()
                    .with_list_files_cache_limit(0),
            )
            .build_arc()?;
        Ok(UserQueries {
            store: store.clone(),
            runtime,
            settings: settings.clone(),
            slots: Arc::new(Semaphore::new(settings.max_concurrent)),
            shutdown: CancellationToken::new(),
        })
    }

    pub fn settings(&self) -> &QuerySettings {
        &self.settings
    }

    /// Cancels every running query and refuses new ones (at shutdown).
    pub fn cancel_all(&self) {
        self.shutdown.cancel();
    }

    /// A fresh session over the history tables, on the bounded runtime.
    fn session(&self) -> Result<SessionContext, StoreError> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_target_partitions(2);
        let ctx = SessionContext::new_with_config_rt(config, self.runtime.clone());
        // A fresh reader per query: its tables are loaded at their latest version.
        let history = HistoryStore::reader_at(self.store.data_dir(), self.store.location().clone());
        register_history_tables(&ctx, &history)?;
        Ok(ctx)
    }

    /// Checks and starts `sql`; returns once the plan is accepted (or refused), with the
    /// batches to follow from [`QueryRun::next`].
    pub async fn start(&self, sql: String) -> Result<QueryRun, UserQueryError> {
        check_statement(&sql)?;
        if self.shutdown.is_cancelled() {
            return Err(UserQueryError::Cancelled);
        }
        let permit =
            tokio::time::timeout(self.settings.timeout, self.slots.clone().acquire_owned())
                .await
                .map_err(|_| UserQueryError::Busy)?
                .map_err(|_| UserQueryError::Cancelled)?;
        let cancel = self.shutdown.child_token();
        // Dropped on every early return below, which cancels the query thread.
        let guard = cancel.clone().drop_guard();
        let deadline = tokio::time::Instant::now() + self.settings.timeout;
        let (tx, mut rx) = mpsc::channel(2);
        let this = self.clone();
        let token = cancel.clone();
        let timeout = self.settings.timeout;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let error = StoreError::Io {
                        path: PathBuf::from("<query runtime>"),
                        source: e,
                    };
                    let _ = tx.blocking_send(QueryEvent::Failed(error.into()));
                    return;
                }
            };
            runtime.block_on(async move {
                let outcome = tokio::select! {
                    _ = token.cancelled() => Err(UserQueryError::Cancelled),
                    _ = tokio::time::sleep(timeout) => Err(UserQueryError::TimedOut(timeout)),
                    result = this.execute(&sql, &tx) => result,
                };
                if let Err(error) = outcome {
                    // The receiver may be gone already (that is how callers cancel).
                    let _ = tx.send(QueryEvent::Failed(error)).await;
                }
            });
        });
        let first = tokio::select! {
            received = tokio::time::timeout_at(deadline, rx.recv()) => {
                received.map_err(|_| UserQueryError::TimedOut(timeout))?
            }
            _ = cancel.cancelled() => return Err(UserQueryError::Cancelled),
        };
        match first {
            Some(QueryEvent::Schema(schema)) => Ok(QueryRun {
                schema,
                events: rx,
                deadline,
                timeout,
                cancel,
                _cancel_on_drop: guard,
            }),
            Some(QueryEvent::Failed(error)) => Err(error),
            Some(QueryEvent::Batch(_)) | None => Err(UserQueryError::Cancelled),
        }
    }

    /// Plans, checks and streams the query into `tx`; returns when done or when the receiver
    /// is gone.
    async fn execute(
        &self,
        sql: &str,
        tx: &mpsc::Sender<QueryEvent>,
    ) -> Result<(), UserQueryError> {
        let ctx = self.session()?;
        let plan = ctx.state().create_logical_plan(sql).await?;
        check_plan(&plan)?;
        let frame = ctx.execute_logical_plan(plan).await?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        if tx.send(QueryEvent::Schema(schema)).await.is_err() {
            return Ok(());
        }
        let mut stream = frame.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            if tx.send(QueryEvent::Batch(batch?)).await.is_err() {
                return Ok(());
            }
        }
        Ok(())
    }
}

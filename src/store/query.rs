//! SQL over the history with DataFusion: one table per Delta table of the history, partitioned
//! by `date`, plus the named reports kept as SQL files in `queries/`.

use super::error::StoreError;
use super::history::HistoryStore;
use super::tables::Table;
use crate::model::format_rfc3339;
use crate::sla::window::Interval;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use serde::Serialize;
use std::sync::Arc;

/// Reports shipped with slacap, each a SQL file in `queries/` with `:start` / `:end`
/// placeholders for the reporting window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedQuery {
    MonthlySlaReport,
    BreachRegister,
}

impl NamedQuery {
    pub const ALL: [NamedQuery; 2] = [NamedQuery::MonthlySlaReport, NamedQuery::BreachRegister];

    pub fn name(self) -> &'static str {
        match self {
            NamedQuery::MonthlySlaReport => "monthly_sla_report",
            NamedQuery::BreachRegister => "breach_register",
        }
    }

    pub fn sql(self) -> &'static str {
        match self {
            NamedQuery::MonthlySlaReport => include_str!("../../queries/monthly_sla_report.sql"),
            NamedQuery::BreachRegister => include_str!("../../queries/breach_register.sql"),
        }
    }

    pub fn by_name(name: &str) -> Result<NamedQuery, StoreError> {
        Self::ALL
            .into_iter()
            .find(|q| q.name() == name)
            .ok_or_else(|| StoreError::UnknownQuery(name.to_string()))
    }

    /// The SQL with the window substituted (the values are timestamps slacap formatted itself,
    /// never user text).
    pub fn render(self, window: Interval) -> String {
        self.sql()
            .replace(
                ":start",
                &format!("TIMESTAMP '{}'", format_rfc3339(window.start)),
            )
            .replace(
                ":end",
                &format!("TIMESTAMP '{}'", format_rfc3339(window.end)),
            )
    }
}

/// A SQL result as the API returns it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
}

#[derive(Clone)]
pub struct HistoryQuery {
    ctx: SessionContext,
}

impl HistoryQuery {
    pub fn new(store: &HistoryStore) -> Result<HistoryQuery, StoreError> {
        // The history grows while we query it: never cache file listings.
        let runtime = RuntimeEnvBuilder::new()
            .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
            .build_arc()?;
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_target_partitions(2);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        register_history_tables(&ctx, store)?;
        Ok(HistoryQuery { ctx })
    }

    /// SQL that slacap itself wrote (named reports, the planner): it runs in one shared
    /// session. User SQL goes through [`super::UserQueries`] instead.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>, StoreError> {
        let frame = self.ctx.sql(sql).await?;
        Ok(frame.collect().await?)
    }

    /// Runs SQL on a blocking thread with its own single-threaded runtime, so that query
    /// execution (CPU-bound) never occupies the async workers that serve the API and Kafka.
    pub async fn run_json(&self, sql: String) -> Result<QueryResult, StoreError> {
        let this = self.clone();
        off_workers(move || async move { this.sql_json(&sql).await }).await
    }

    /// [`HistoryQuery::sql`], off the async workers like [`HistoryQuery::run_json`].
    pub async fn run_batches(&self, sql: String) -> Result<Vec<RecordBatch>, StoreError> {
        let this = self.clone();
        off_workers(move || async move { this.sql(&sql).await }).await
    }

    /// Runs SQL and converts the result for JSON.
    pub async fn sql_json(&self, sql: &str) -> Result<QueryResult, StoreError> {
        let frame = self.ctx.sql(sql).await?;
        let columns = frame
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let batches = frame.collect().await?;
        Ok(QueryResult {
            columns,
            rows: batches_to_json(&batches)?,
        })
    }
}

/// Registers each history table (a Delta table, read at its latest version per query) in `ctx`.
pub(super) fn register_history_tables(
    ctx: &SessionContext,
    store: &HistoryStore,
) -> Result<(), StoreError> {
    let location = store.location();
    if location.is_remote() {
        let url = location.object_store_url();
        ctx.register_object_store(url.as_ref(), location.objects().clone());
    }
    for table in Table::ALL {
        let provider = super::delta_scan::DeltaHistoryTable::new(store.clone(), table);
        ctx.register_table(table.name(), Arc::new(provider))?;
    }
    Ok(())
}

/// Column `i` of a query result cast to `to`: DataFusion may hand strings back as views and
/// timestamps in another unit, so readers cast every column to the type they read.
pub fn column_as(
    batch: &RecordBatch,
    i: usize,
    to: &DataType,
) -> Result<arrow::array::ArrayRef, StoreError> {
    Ok(arrow::compute::cast(batch.column(i), to)?)
}

/// Runs a query future to completion on a blocking thread with its own current-thread runtime.
async fn off_workers<T, F, Fut>(make: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Io {
                path: std::path::PathBuf::from("<query runtime>"),
                source: e,
            })?;
        runtime.block_on(make())
    })
    .await
    .map_err(|e| StoreError::Query(datafusion::error::DataFusionError::External(Box::new(e))))?
}

/// Converts batches into rows of JSON values: numbers stay numbers, timestamps become RFC 3339,
/// anything else is formatted as Arrow displays it.
pub fn batches_to_json(batches: &[RecordBatch]) -> Result<Vec<Vec<serde_json::Value>>, StoreError> {
    let mut rows = Vec::new();
    for batch in batches {
        let columns: Vec<Vec<serde_json::Value>> = batch
            .columns()
            .iter()
            .map(|c| column_to_json(c.as_ref()))
            .collect::<Result<_, _>>()?;
        for i in 0..batch.num_rows() {
            rows.push(columns.iter().map(|c| c[i].clone()).collect());
        }
    }
    Ok(rows)
}

fn column_to_json(array: &dyn Array) -> Result<Vec<serde_json::Value>, StoreError> {
    use serde_json::Value;
    let cast = |to: &DataType| arrow::compute::cast(array, to);
    let out: Vec<Value> = match array.data_type() {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => {
            let a = cast(&DataType::Int64)?;
            let a = a.as_primitive::<Int64Type>();
            (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        Value::Null
                    } else {
                        Value::from(a.value(i))
                    }
                })
                .collect()
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => {
            let a = cast(&DataType::Float64)?;
            let a = a.as_primitive::<Float64Type>();
            (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        Value::Null
                    } else {
                        serde_json::Number::from_f64(a.value(i)).map_or(Value::Null, Value::Number)
                    }
                })
                .collect()
        }
        DataType::Boolean => {
            let a = array.as_boolean();
            (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        Value::Null
                    } else {
                        Value::Bool(a.value(i))
                    }
                })
                .collect()
        }
        DataType::Timestamp(_, _) => {
            let a = cast(&DataType::Timestamp(TimeUnit::Microsecond, None))?;
            let a = a.as_primitive::<TimestampMicrosecondType>();
            (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        Value::Null
                    } else {
                        Value::String(format_rfc3339(a.value(i)))
                    }
                })
                .collect()
        }
        _ => {
            let formatter = ArrayFormatter::try_new(array, &FormatOptions::default())?;
            (0..array.len())
                .map(|i| {
                    if array.is_null(i) {
                        Value::Null
                    } else {
                        Value::String(formatter.value(i).to_string())
                    }
                })
                .collect()
        }
    };
    Ok(out)
}

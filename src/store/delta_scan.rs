//! A history table as a DataFusion table: the Parquet files of the Delta table's latest version
//! (read from its log at each scan), with `date` as a partition column. Listing the folder
//! instead would also read files a compaction or a correction has removed but not yet vacuumed.

use super::delta::{ActiveFile, DATE_COLUMN};
use super::history::HistoryStore;
use super::tables::{Table, date_label};
use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::{Column, DFSchema, DataFusionError, Result, ScalarValue};
use datafusion::datasource::TableProvider;
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::ExecutionPlan;
use std::collections::BTreeSet;
use std::sync::Arc;

#[derive(Debug)]
pub struct DeltaHistoryTable {
    store: HistoryStore,
    table: Table,
    file_schema: SchemaRef,
    schema: SchemaRef,
}

fn date_field() -> FieldRef {
    Arc::new(Field::new(DATE_COLUMN, DataType::Utf8, false))
}

impl DeltaHistoryTable {
    pub fn new(store: HistoryStore, table: Table) -> DeltaHistoryTable {
        let file_schema = table.schema();
        let mut fields: Vec<FieldRef> = file_schema.fields().iter().cloned().collect();
        fields.push(date_field());
        DeltaHistoryTable {
            store,
            table,
            file_schema,
            schema: Arc::new(Schema::new(fields)),
        }
    }
}

/// True when `expr` reads no column but `name`.
fn only_column(expr: &Expr, name: &str) -> bool {
    let columns = expr.column_refs();
    !columns.is_empty() && columns.iter().all(|c| c.name == name)
}

/// True when `expr` reads no column but `date`: it holds for a whole file or for none of it.
fn only_date(expr: &Expr) -> bool {
    only_column(expr, DATE_COLUMN)
}

/// The dates `files` hold, ascending, each once.
fn distinct_days(files: &[ActiveFile]) -> Vec<i64> {
    files
        .iter()
        .map(|f| f.day)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The files of the `days` whose `keep` is true.
fn keep_days(files: Vec<ActiveFile>, days: &[i64], keep: Vec<bool>) -> Vec<ActiveFile> {
    let kept: BTreeSet<i64> = days
        .iter()
        .zip(keep)
        .filter_map(|(d, k)| k.then_some(*d))
        .collect();
    files
        .into_iter()
        .filter(|f| kept.contains(&f.day))
        .collect()
}

/// The files whose date satisfies every date-only filter.
fn prune_by_date(
    state: &dyn Session,
    filters: &[Expr],
    files: Vec<ActiveFile>,
) -> Result<Vec<ActiveFile>> {
    let date_filters: Vec<&Expr> = filters.iter().filter(|f| only_date(f)).collect();
    if date_filters.is_empty() || files.is_empty() {
        return Ok(files);
    }
    let days = distinct_days(&files);
    let schema = Arc::new(Schema::new(vec![date_field()]));
    let labels: ArrayRef = Arc::new(StringArray::from_iter_values(
        days.iter().map(|d| date_label(*d)),
    ));
    let batch = RecordBatch::try_new(schema.clone(), vec![labels])?;
    let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
    let mut keep = vec![true; days.len()];
    for filter in date_filters {
        let expr = state.create_physical_expr((*filter).clone(), &df_schema)?;
        let result = expr.evaluate(&batch)?.into_array(batch.num_rows())?;
        let Some(result) = result.as_any().downcast_ref::<arrow::array::BooleanArray>() else {
            return Err(DataFusionError::Internal(
                "a date filter did not give booleans".into(),
            ));
        };
        for (i, k) in keep.iter_mut().enumerate() {
            *k &= result.is_valid(i) && result.value(i);
        }
    }
    Ok(keep_days(files, &days, keep))
}

use arrow::array::Array as _;

const DAY_MICROS: i64 = 86_400_000_000;

/// The span of event time each date's files can hold, as pruning statistics: every table is
/// partitioned by the UTC day of its time column, so a file of date `d` holds only times in
/// `[d 00:00, d+1 00:00)`.
struct DaySpans<'a> {
    column: &'a str,
    days: &'a [i64],
}

impl DaySpans<'_> {
    fn bound(&self, column: &Column, offset: i64) -> Option<ArrayRef> {
        (column.name == self.column).then(|| {
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    self.days.iter().map(|d| d * DAY_MICROS + offset),
                )
                .with_timezone("UTC"),
            ) as ArrayRef
        })
    }
}

impl PruningStatistics for DaySpans<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bound(column, 0)
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bound(column, DAY_MICROS - 1)
    }

    fn num_containers(&self) -> usize {
        self.days.len()
    }

    fn null_counts(&self, _: &Column) -> Option<ArrayRef> {
        None
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        None
    }

    fn contained(
        &self,
        _: &Column,
        _: &std::collections::HashSet<ScalarValue>,
    ) -> Option<arrow::array::BooleanArray> {
        None
    }
}

/// The files whose date can hold rows that the filters on the time column alone accept: a
/// report over one month of a years-long history (`slice_start >= ... AND slice_start < ...`)
/// opens that month's files only. A filter that cannot be evaluated this way prunes nothing.
fn prune_by_time(
    state: &dyn Session,
    filters: &[Expr],
    time: &Field,
    files: Vec<ActiveFile>,
) -> Vec<ActiveFile> {
    let time_filters: Vec<Expr> = filters
        .iter()
        .filter(|f| only_column(f, time.name()))
        .cloned()
        .collect();
    let Some(predicate) = datafusion::logical_expr::utils::conjunction(time_filters) else {
        return files;
    };
    if files.is_empty() {
        return files;
    }
    let days = distinct_days(&files);
    let schema = Arc::new(Schema::new(vec![time.clone()]));
    let keep = DFSchema::try_from(schema.as_ref().clone())
        .and_then(|df_schema| state.create_physical_expr(predicate, &df_schema))
        .and_then(|expr| {
            PruningPredicateBuilder::new()
                .with_file_schema(schema.clone())
                .try_build(expr)
        })
        .and_then(|pruning| {
            pruning.prune(&DaySpans {
                column: time.name(),
                days: &days,
            })
        });
    let keep = match keep {
        Ok(keep) => keep,
        Err(error) => {
            tracing::debug!(%error, "time filter not used to prune dates");
            return files;
        }
    };
    keep_days(files, &days, keep)
}

#[async_trait]
impl TableProvider for DeltaHistoryTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if only_date(f) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let files = self
            .store
            .active_files(self.table)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let files = prune_by_date(state, filters, files)?;
        let time = self.file_schema.field_with_name(self.table.time_column())?;
        let files = prune_by_time(state, filters, time, files);
        let groups_wanted = state.config().target_partitions().max(1);
        let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); groups_wanted];
        for (i, file) in files.into_iter().enumerate() {
            groups[i % groups_wanted].push(
                PartitionedFile::new(file.path.as_ref(), file.size)
                    .with_partition_values(vec![ScalarValue::Utf8(Some(date_label(file.day)))]),
            );
        }
        let groups: Vec<FileGroup> = groups
            .into_iter()
            .filter(|g| !g.is_empty())
            .map(FileGroup::new)
            .collect();
        let format = ParquetFormat::default();
        let source = format.file_source(
            TableSchema::builder(self.file_schema.clone())
                .with_table_partition_cols(vec![date_field()])
                .build(),
        );
        let config = FileScanConfigBuilder::new(self.store.location().object_store_url(), source)
            .with_file_groups(groups)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }
}

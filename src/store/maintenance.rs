//! Keeping years of history cheap to read: a closed day's small files are compacted into a
//! few large sorted ones (a Delta `OPTIMIZE` commit: `remove` + `add`, `dataChange=false`), the
//! files that compaction and corrections superseded are vacuumed after a grace period (so a
//! reader in the middle of a query on an older version still finds them), and dates older than
//! a table's retention leave the table.

use super::delta::{self, ActiveFile};
use super::error::StoreError;
use super::history::{DERIVED, Encoded, HistoryStore, block_on, writer_properties};
use super::tables::{Table, date_label};
use arrow::array::RecordBatch;
use arrow::compute::SortColumn;
use deltalake_core::DeltaTable;
use deltalake_core::kernel::Action;
use deltalake_core::protocol::DeltaOperation;
use std::collections::BTreeMap;
use std::time::Duration;

/// How the history is kept (the `[history]` settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenancePolicy {
    /// A compacted file is cut at about this many bytes.
    pub target_file_size: u64,
    /// zstd level of compacted files.
    pub zstd_level: i32,
    /// Superseded files are deleted this long after they left the table.
    pub vacuum_grace: Duration,
    /// Raw tables (metrics, ticket events) keep this many days; `None` keeps everything.
    pub raw_retention_days: Option<i64>,
    /// Derived tables (slices, outcomes, breaches, corrections, forecasts, plans) likewise. The
    /// reviews table is the register's copy and is never expired.
    pub derived_retention_days: Option<i64>,
}

impl Default for MaintenancePolicy {
    fn default() -> Self {
        MaintenancePolicy {
            target_file_size: 128 * 1024 * 1024,
            zstd_level: 15,
            vacuum_grace: Duration::from_secs(24 * 3600),
            raw_retention_days: None,
            derived_retention_days: None,
        }
    }
}

/// What one maintenance round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    pub days_compacted: usize,
    pub files_compacted: usize,
    pub files_written: usize,
    pub days_expired: usize,
    pub files_vacuumed: usize,
    /// Expired commit files of the tables' logs deleted.
    pub log_files_removed: usize,
}

/// The columns a compacted file is sorted by: runs of equal keys compress to almost nothing and
/// the time column becomes small deltas.
fn sort_columns(table: Table) -> Vec<&'static str> {
    match table {
        Table::Metrics => vec!["service", "component", "metric", "time"],
        Table::TicketEvents => vec!["service", "ticket", "time"],
        Table::Corrections => vec![table.time_column()],
        Table::Reviews => vec![table.time_column()],
        _ => vec!["service", table.time_column()],
    }
}

impl HistoryStore {
    /// One maintenance round over every table: compaction of the days before
    /// `closed_before_day` (days since the epoch), retention relative to `today`, then vacuum.
    pub fn maintain(
        &self,
        policy: &MaintenancePolicy,
        closed_before_day: i64,
        today: i64,
    ) -> Result<MaintenanceReport, StoreError> {
        let mut report = MaintenanceReport::default();
        for table in Table::ALL {
            let retention = match table {
                Table::Metrics | Table::TicketEvents => policy.raw_retention_days,
                Table::Reviews => None,
                _ if DERIVED.contains(&table) => policy.derived_retention_days,
                _ => policy.derived_retention_days,
            };
            block_on(async {
                let _rewriting = self.rewrite_lock().lock().await;
                let mut delta = self.checkout(table).await?;
                let result = self
                    .maintain_table(
                        table,
                        &mut delta,
                        policy,
                        closed_before_day,
                        retention.map(|days| today - days),
                        &mut report,
                    )
                    .await;
                self.checkin(table, delta);
                result
            })?;
        }
        Ok(report)
    }

    async fn maintain_table(
        &self,
        table: Table,
        delta: &mut DeltaTable,
        policy: &MaintenancePolicy,
        closed_before_day: i64,
        expire_before_day: Option<i64>,
        report: &mut MaintenanceReport,
    ) -> Result<(), StoreError> {
        if let Some(cutoff) = expire_before_day {
            report.days_expired += expire(table, delta, cutoff).await?;
        }
        let mut days: BTreeMap<i64, Vec<ActiveFile>> = BTreeMap::new();
        for file in delta::active_files(table, delta, self.location()) {
            if file.day < closed_before_day {
                days.entry(file.day).or_default().push(file);
            }
        }
        for (day, files) in days {
            // A closed day is rewritten once it holds a file a batch wrote (new rows, or a
            // late event after an earlier compaction); compaction's own files stay.
            if files.iter().all(|f| f.compacted) {
                continue;
            }
            let written = compact_day(table, delta, self.location(), day, &files, policy).await?;
            report.days_compacted += 1;
            report.files_compacted += files.len();
            report.files_written += written;
        }
        let grace =
            chrono::Duration::from_std(policy.vacuum_grace).unwrap_or(chrono::Duration::days(1));
        let (vacuumed, metrics) = delta
            .clone()
            .vacuum()
            .with_retention_period(grace)
            .with_enforce_retention_duration(false)
            .await
            .map_err(delta::delta_error(table))?;
        report.files_vacuumed += metrics.files_deleted.len();
        *delta = vacuumed;
        self.checkpoint_log(table, delta).await?;
        // Batch commits leave the expired commit files to this round (see `delta::commit`).
        report.log_files_removed += delta::cleanup_log(table, delta).await?;
        Ok(())
    }
}

impl HistoryStore {
    /// Writes a Delta checkpoint of the table as it stands after a round, unless this
    /// process already wrote one at this version. Between the every-100-commits checkpoints a
    /// reader (and every start-up) would otherwise parse up to 99 JSON commits, and after a
    /// backfill or a round's rewrites these hold thousands of superseded `add`s and `remove`s;
    /// from a checkpoint it reads one Parquet file of the live files.
    async fn checkpoint_log(&self, table: Table, delta: &DeltaTable) -> Result<(), StoreError> {
        let Some(version) = delta.version() else {
            return Ok(());
        };
        let already = self
            .checkpointed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&table)
            == Some(&version);
        if already {
            return Ok(());
        }
        deltalake_core::checkpoints::create_checkpoint(delta, None)
            .await
            .map_err(delta::delta_error(table))?;
        self.checkpointed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(table, version);
        Ok(())
    }
}

/// Rewrites one day of a table as few large files sorted by [`sort_columns`], in one commit.
/// Returns the number of files written.
async fn compact_day(
    table: Table,
    delta: &mut DeltaTable,
    location: &super::HistoryLocation,
    day: i64,
    files: &[ActiveFile],
    policy: &MaintenancePolicy,
) -> Result<usize, StoreError> {
    let mut batches = Vec::new();
    for file in files {
        batches.extend(super::replay::read_async(location, &file.path).await?);
    }
    let schema = table.schema();
    let all = arrow::compute::concat_batches(&schema, &batches)?;
    drop(batches);
    let sorted = sort(table, &all)?;
    let adds = delta::write_files(
        table,
        delta,
        vec![(day, sorted)],
        writer_properties(table, Encoded::Compacted(policy.zstd_level)),
        Some(policy.target_file_size),
    )
    .await?;
    let written = adds.len();
    let paths: std::collections::HashSet<&object_store::path::Path> =
        files.iter().map(|f| &f.in_table).collect();
    let now = chrono::Utc::now().timestamp_millis();
    let mut actions: Vec<Action> = Vec::new();
    if let Ok(state) = delta.snapshot() {
        for f in state.log_data().iter() {
            if paths.contains(&f.object_store_path()) {
                let mut remove = f.remove_action(false);
                remove.deletion_timestamp = Some(now);
                actions.push(Action::Remove(remove));
            }
        }
    }
    actions.extend(adds.into_iter().map(|mut add| {
        add.data_change = false;
        add.tags
            .get_or_insert_with(Default::default)
            .insert(delta::COMPACTED_TAG.to_string(), Some("true".to_string()));
        Action::Add(add)
    }));
    delta::commit(
        table,
        delta,
        actions,
        DeltaOperation::Optimize {
            predicate: Some(format!("{} = '{}'", delta::DATE_COLUMN, date_label(day))),
            target_size: policy.target_file_size as i64,
        },
    )
    .await?;
    Ok(written)
}

fn sort(table: Table, batch: &RecordBatch) -> Result<RecordBatch, StoreError> {
    let columns: Vec<SortColumn> = sort_columns(table)
        .into_iter()
        .filter_map(|name| batch.column_by_name(name))
        .map(|values| SortColumn {
            values: values.clone(),
            options: None,
        })
        .collect();
    if columns.is_empty() || batch.num_rows() == 0 {
        return Ok(batch.clone());
    }
    let order = arrow::compute::lexsort_to_indices(&columns, None)?;
    Ok(arrow::compute::take_record_batch(batch, &order)?)
}

/// Removes the dates before `cutoff` from a table (one commit). Returns how many dates went.
async fn expire(table: Table, delta: &mut DeltaTable, cutoff: i64) -> Result<usize, StoreError> {
    let Ok(state) = delta.snapshot() else {
        return Ok(0);
    };
    let now = chrono::Utc::now().timestamp_millis();
    let mut days = std::collections::BTreeSet::new();
    let mut actions = Vec::new();
    for f in state.log_data().iter() {
        let Some(day) = f
            .partition_values_map()
            .get(delta::DATE_COLUMN)
            .cloned()
            .flatten()
            .and_then(|d| delta::day_of_label(&d))
        else {
            continue;
        };
        if day < cutoff {
            days.insert(day);
            let mut remove = f.remove_action(true);
            remove.deletion_timestamp = Some(now);
            actions.push(Action::Remove(remove));
        }
    }
    if actions.is_empty() {
        return Ok(0);
    }
    delta::commit(
        table,
        delta,
        actions,
        DeltaOperation::Delete {
            predicate: Some(format!("{} < '{}'", delta::DATE_COLUMN, date_label(cutoff))),
        },
    )
    .await?;
    Ok(days.len())
}

/// Runs a maintenance round every `every` until `shutdown` turns true. `closed_before_day`
/// says which days no batch writes to any more (the SLA watermark's day, less the allowed
/// lateness). Rounds run on a blocking thread; a failed round is logged and tried again.
pub async fn run_schedule(
    store: HistoryStore,
    policy: MaintenancePolicy,
    every: Duration,
    closed_before_day: impl Fn() -> Option<i64> + Send + 'static,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let closed_before_day = std::sync::Arc::new(closed_before_day);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let Some(closed) = closed_before_day() else {
            continue;
        };
        let today = super::day_of(chrono::Utc::now().timestamp_micros());
        let (store, policy) = (store.clone(), policy.clone());
        let started = std::time::Instant::now();
        let round =
            tokio::task::spawn_blocking(move || store.maintain(&policy, closed.min(today), today))
                .await;
        match round {
            Ok(Ok(report)) => {
                if report != MaintenanceReport::default() {
                    tracing::info!(
                        days_compacted = report.days_compacted,
                        files_compacted = report.files_compacted,
                        files_written = report.files_written,
                        days_expired = report.days_expired,
                        files_vacuumed = report.files_vacuumed,
                        log_files_removed = report.log_files_removed,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "history maintenance"
                    );
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "history maintenance failed; it runs again next round")
            }
            Err(error) => tracing::warn!(%error, "history maintenance panicked"),
        }
    }
}

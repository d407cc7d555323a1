//! The history's tables as Delta Lake tables (`<data>/history/<table>/_delta_log`), written
//! through delta-rs's log layer: slacap encodes the Parquet files itself (its encodings, its
//! sort order) and commits their `add`/`remove` actions, with application transactions (`txn`)
//! that say which source offsets and which batch a table holds.
//!
//! Every function here is async and touches one table; [`super::HistoryStore`] is the
//! synchronous face the pipeline's blocking threads use.

use super::error::StoreError;
use super::tables::{Table, date_label};
use arrow::array::RecordBatch;
use delta_kernel::expressions::Scalar;
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake_core::kernel::{Action, Add, Remove, StructType, Transaction};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::writer::{DeltaWriter, RecordBatchWriter, WriteMode};
use deltalake_core::{DeltaTable, DeltaTableError, TableProperty};
use parquet::file::properties::WriterProperties;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The partition column every history table is split by: the UTC date of its time column.
pub const DATE_COLUMN: &str = "date";

/// A data file of a table's current version.
#[derive(Debug, Clone)]
pub struct ActiveFile {
    /// Path in the history's object store ([`super::HistoryLocation::objects`]).
    pub path: object_store::path::Path,
    /// Path in the table's log (relative to the table).
    pub in_table: object_store::path::Path,
    /// Days since the epoch of its `date` partition.
    pub day: i64,
    pub size: u64,
    /// The largest `source_offset` in the file, from the log's statistics (raw tables).
    pub max_offset: Option<i64>,
    /// The source partition of every row, when the log's statistics show it is one.
    pub partition: Option<i32>,
    /// Written by compaction (its `add` carries [`COMPACTED_TAG`]), not by a batch.
    pub compacted: bool,
    /// For a raw file (a batch's or compaction's, both mix partitions): each source
    /// partition's largest offset among the rows its commit wrote for that day, from
    /// [`PARTITION_MAX_TAG`]. A file's own are no larger, so a reader that skips a file by
    /// them never skips rows it needs. The log's statistics give only the largest offset over
    /// all partitions, which says little about the others.
    pub partition_max: Option<Vec<(i32, i64)>>,
}

/// The `add` tag of a raw file: `partition:largest offset` pairs, comma-separated.
pub const PARTITION_MAX_TAG: &str = "slacap.partition_max";

/// `0:99,1:9` as pairs; `None` when any pair does not read.
pub(super) fn parse_partition_max(text: &str) -> Option<Vec<(i32, i64)>> {
    text.split(',')
        .map(|pair| {
            let (partition, offset) = pair.split_once(':')?;
            Some((partition.parse().ok()?, offset.parse().ok()?))
        })
        .collect()
}

/// The `add` tag that marks a file compaction wrote: a closed day is compacted until only such
/// files remain.
pub const COMPACTED_TAG: &str = "slacap.compacted";

/// What one commit does to a table besides adding files.
#[derive(Debug, Clone, Default)]
pub struct Replacing {
    /// Files of dates from this day on are replaced (their rows of `service` only, when set).
    pub from_day: Option<i64>,
    pub service: Option<String>,
}

pub(super) fn delta_error(table: Table) -> impl Fn(DeltaTableError) -> StoreError {
    move |source| StoreError::Delta {
        table: table.name(),
        source: Box::new(source),
    }
}

/// Opens a table at its place in `location`, creating it (with its schema and `date` partition)
/// if it is new.
pub(super) async fn open_or_create(
    table: Table,
    location: &super::HistoryLocation,
) -> Result<DeltaTable, StoreError> {
    let url = location.table_url(table);
    if let Some(dir) = location.local_dir() {
        let dir = dir.join(table.name());
        std::fs::create_dir_all(&dir).map_err(super::error::io(&dir))?;
    }
    let err = delta_error(table);
    let mut delta = location
        .delta_builder(table)
        .map_err(&err)?
        .build()
        .map_err(&err)?;
    match delta.load().await {
        Ok(()) => return Ok(delta),
        Err(DeltaTableError::NotATable(_)) => {}
        Err(e) => return Err(err(e)),
    }
    let mut schema: StructType = table.schema().as_ref().try_into_kernel().map_err(|e| {
        err(DeltaTableError::Generic(format!(
            "the {} schema has no Delta form: {e}",
            table.name()
        )))
    })?;
    let mut fields: Vec<_> = schema.fields().cloned().collect();
    fields.push(deltalake_core::kernel::StructField::new(
        DATE_COLUMN,
        deltalake_core::kernel::DataType::STRING,
        false,
    ));
    schema = StructType::try_new(fields).map_err(|e| err(e.into()))?;
    let created = delta
        .create()
        .with_location(url.as_str())
        .with_table_name(table.name())
        .with_columns(schema.fields().cloned())
        .with_partition_columns([DATE_COLUMN])
        // A checkpoint every 100 commits keeps start-up reads short. Commit files older than an
        // hour go at the next checkpoint: a batch every 200 ms makes some 18,000 an hour per
        // table, and each checkpoint's clean-up lists them all. Time travel further back is not
        // needed: the review journal and the history itself are the record, not the log; a
        // reader's files stay through `history.vacuum_grace`, which the log does not decide.
        // Statistics only for the columns readers prune by (time, service) and the start-up
        // reads (source offsets): each file's statistics are in the log, which every reader
        // and every start-up parses whole.
        .with_configuration_property(
            TableProperty::DataSkippingStatsColumns,
            Some(stats_columns(table)),
        )
        .with_configuration_property(TableProperty::CheckpointInterval, Some("100"))
        .with_configuration_property(
            TableProperty::LogRetentionDuration,
            Some("interval 1 hours"),
        )
        .with_configuration_property(
            TableProperty::DeletedFileRetentionDuration,
            Some("interval 1 days"),
        )
        .await;
    match created {
        Ok(t) => Ok(t),
        // Another writer created it first (the API and the pipeline start together).
        Err(_) => {
            let mut delta = location
                .delta_builder(table)
                .map_err(&err)?
                .build()
                .map_err(&err)?;
            delta.load().await.map_err(&err)?;
            Ok(delta)
        }
    }
}

/// The columns a table keeps file statistics for: its time column, `service`, and the source
/// offsets of a raw table.
fn stats_columns(table: Table) -> String {
    let schema = table.schema();
    let mut columns = vec![table.time_column()];
    for name in ["service", "source_partition", "source_offset"] {
        if schema.column_with_name(name).is_some() {
            columns.push(name);
        }
    }
    columns.join(",")
}

/// The files of the table's loaded version, with their dates.
pub(super) fn active_files(
    table: Table,
    delta: &DeltaTable,
    location: &super::HistoryLocation,
) -> Vec<ActiveFile> {
    let Ok(state) = delta.snapshot() else {
        return Vec::new();
    };
    state
        .log_data()
        .iter()
        .map(|f| {
            #[allow(deprecated)] // the tags are not exposed otherwise
            let tags = f.add_action().tags.unwrap_or_default();
            let date = f
                .partition_values_map()
                .get(DATE_COLUMN)
                .cloned()
                .flatten()
                .unwrap_or_default();
            let partition_max = tags
                .get(PARTITION_MAX_TAG)
                .cloned()
                .flatten()
                .and_then(|text| parse_partition_max(&text));
            // The tag says what the statistics would, without parsing them (a start-up lists
            // every file of a year).
            let (max_offset, partition) = match &partition_max {
                Some(maxima) => (
                    maxima.iter().map(|(_, offset)| *offset).max(),
                    match maxima[..] {
                        [(partition, _)] => Some(partition),
                        _ => None,
                    },
                ),
                None => (
                    f.max_values()
                        .and_then(|max| long_field(&max, "source_offset")),
                    one_partition(f.min_values(), f.max_values()),
                ),
            };
            let in_table = f.object_store_path();
            ActiveFile {
                path: location.table_file(table, &in_table),
                in_table,
                day: day_of_label(&date).unwrap_or(i64::MIN),
                size: f.size().max(0) as u64,
                max_offset,
                partition,
                compacted: tags.contains_key(COMPACTED_TAG),
                partition_max,
            }
        })
        .collect()
}

/// The file's only `source_partition`, when its minimum and maximum agree.
fn one_partition(
    min: Option<delta_kernel::expressions::Scalar>,
    max: Option<delta_kernel::expressions::Scalar>,
) -> Option<i32> {
    use delta_kernel::expressions::Scalar;
    let low = stat_field(&min?, "source_partition")?;
    let high = stat_field(&max?, "source_partition")?;
    match (low, high) {
        (Scalar::Integer(low), Scalar::Integer(high)) if low == high => Some(low),
        _ => None,
    }
}

/// A 64-bit integer field of a statistics struct.
fn long_field(stats: &delta_kernel::expressions::Scalar, name: &str) -> Option<i64> {
    match stat_field(stats, name)? {
        delta_kernel::expressions::Scalar::Long(v) => Some(v),
        _ => None,
    }
}

/// A field of a statistics struct (`minValues`, `maxValues`) by column name.
fn stat_field(
    stats: &delta_kernel::expressions::Scalar,
    name: &str,
) -> Option<delta_kernel::expressions::Scalar> {
    let delta_kernel::expressions::Scalar::Struct(fields) = stats else {
        return None;
    };
    fields
        .fields()
        .iter()
        .zip(fields.values())
        .find(|(field, _)| field.name() == name)
        .map(|(_, value)| value.clone())
}

/// Days since the epoch of a `YYYY-MM-DD` label.
pub fn day_of_label(label: &str) -> Option<i64> {
    let date = chrono::NaiveDate::parse_from_str(label, "%Y-%m-%d").ok()?;
    Some(
        date.signed_duration_since(chrono::NaiveDate::default())
            .num_days(),
    )
}

/// Encodes `parts` (one batch per date) as Parquet files in the table's folder and returns
/// their `add` actions (not yet committed).
pub(super) async fn write_files(
    table: Table,
    delta: &DeltaTable,
    parts: Vec<(i64, RecordBatch)>,
    properties: WriterProperties,
    target_file_size: Option<u64>,
) -> Result<Vec<Add>, StoreError> {
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let err = delta_error(table);
    let mut writer = RecordBatchWriter::for_table(delta)
        .map_err(&err)?
        .with_writer_properties(properties);
    if let Some(size) = target_file_size {
        writer = writer.with_target_file_size(size);
    }
    let mut maxima: HashMap<String, BTreeMap<i32, i64>> = HashMap::new();
    for (day, batch) in parts {
        if batch.num_rows() == 0 {
            continue;
        }
        if let Some(found) = partition_maxima(&batch) {
            let day_maxima = maxima.entry(date_label(day)).or_default();
            for (partition, offset) in found {
                let max = day_maxima.entry(partition).or_insert(offset);
                *max = (*max).max(offset);
            }
        }
        let partition: indexmap::IndexMap<String, Scalar> =
            [(DATE_COLUMN.to_string(), Scalar::String(date_label(day)))].into();
        writer
            .write_partition(batch, &partition, WriteMode::Default)
            .await
            .map_err(&err)?;
    }
    let mut adds = writer.flush().await.map_err(&err)?;
    for add in &mut adds {
        let day = add.partition_values.get(DATE_COLUMN).cloned().flatten();
        if let Some(found) = day.and_then(|d| maxima.get(&d)) {
            let text: Vec<String> = found.iter().map(|(p, o)| format!("{p}:{o}")).collect();
            add.tags
                .get_or_insert_with(Default::default)
                .insert(PARTITION_MAX_TAG.to_string(), Some(text.join(",")));
        }
    }
    Ok(adds)
}

/// Each source partition's largest offset in a raw table's rows (`None` for a derived table).
fn partition_maxima(batch: &RecordBatch) -> Option<BTreeMap<i32, i64>> {
    use arrow::array::AsArray;
    use arrow::datatypes::{Int32Type, Int64Type};
    let partitions = batch.column_by_name("source_partition")?;
    let offsets = batch.column_by_name("source_offset")?;
    let partitions = partitions.as_primitive_opt::<Int32Type>()?;
    let offsets = offsets.as_primitive_opt::<Int64Type>()?;
    let mut maxima = BTreeMap::<i32, i64>::new();
    for (partition, offset) in partitions.values().iter().zip(offsets.values().iter()) {
        let max = maxima.entry(*partition).or_insert(*offset);
        *max = (*max).max(*offset);
    }
    Some(maxima)
}

/// True when no commit follows the version `delta` holds: one existence check of the next
/// commit file, where a refresh would list the whole log directory (which holds a day of a
/// busy stream's commits between checkpoints' clean-ups).
pub(super) async fn is_latest(delta: &DeltaTable) -> bool {
    let Some(version) = delta.version() else {
        return false;
    };
    use deltalake_core::logstore::object_store::ObjectStoreExt;
    let next = delta
        .log_store()
        .log_path()
        .clone()
        .join(format!("{:020}.json", version + 1));
    matches!(
        delta.log_store().object_store(None).head(&next).await,
        Err(deltalake_core::ObjectStoreError::NotFound { .. })
    )
}

/// Commits `actions` (adds, removes, txns) as one new version; returns it.
///
/// The log's expired commit files are not cleaned up here but by the maintenance round
/// ([`cleanup_log`]): delta-rs's post-commit clean-up lists the whole `_delta_log` on every
/// commit (some 18,000 files per table at a batch every 200 ms and an hour's retention), and
/// whenever it deletes some it reloads the table's state from the last checkpoint. The
/// every-100-commits checkpoint stays with the commit, so readers never parse more than 99
/// JSON commits.
pub(super) async fn commit(
    table: Table,
    delta: &mut DeltaTable,
    actions: Vec<Action>,
    operation: DeltaOperation,
) -> Result<i64, StoreError> {
    let err = delta_error(table);
    let snapshot = delta.snapshot().map_err(&err)?;
    let properties = CommitProperties::default().with_cleanup_expired_logs(Some(false));
    let finalized = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(snapshot), delta.log_store(), operation)
        .await
        .map_err(err)?;
    let version = finalized.version();
    delta.state = Some(finalized.snapshot());
    Ok(version as i64)
}

/// True when [`append_at`] can commit to this table: its log store commits by conditional
/// puts of the log entry (the default store, local or S3 with conditional writes).
pub(super) fn appends_directly(delta: &DeltaTable) -> bool {
    delta.log_store().name() == "DefaultLogStore"
}

/// Commits `actions` (adds and txns, no removes) as version `version` by a conditional put of
/// the log entry, the atomic step of every Delta commit; `false` when that version exists
/// (another commit came first: the caller refreshes and commits through [`commit`], whose
/// conflict check decides).
///
/// Why not [`commit`]: delta-rs ends every commit by reading the new log entry back and
/// replaying it into the table's snapshot, which cost a sixth of ingest's CPU. A batch's append
/// needs none of it (the writer knows the version it wrote); the snapshot is brought up to date
/// when something reads it (a correction's removals, a start-up, a query, a log checkpoint).
pub(super) async fn append_at(
    table: Table,
    delta: &DeltaTable,
    version: i64,
    actions: Vec<Action>,
    operation: DeltaOperation,
) -> Result<bool, StoreError> {
    use deltalake_core::kernel::transaction::{CommitData, TransactionError};
    use deltalake_core::logstore::CommitOrBytes;
    let err = delta_error(table);
    let data = CommitData::new(actions, operation, HashMap::new(), Vec::new());
    let bytes = data.get_bytes().map_err(|e| err(e.into()))?;
    match delta
        .log_store()
        .write_commit_entry(
            version as u64,
            CommitOrBytes::LogBytes(bytes),
            uuid::Uuid::new_v4(),
        )
        .await
    {
        Ok(()) => Ok(true),
        Err(TransactionError::VersionAlreadyExists(_)) => Ok(false),
        Err(e) => Err(err(e.into())),
    }
}

/// True when the table's checkpoint interval asks for a log checkpoint at `version` (what
/// delta-rs's commit checks after committing; [`append_at`] leaves it to the caller).
pub(super) fn checkpoint_is_due(
    table: Table,
    delta: &DeltaTable,
    version: i64,
) -> Result<bool, StoreError> {
    use deltalake_core::table::config::TablePropertiesExt as _;
    let interval = delta
        .snapshot()
        .map_err(delta_error(table))?
        .table_config()
        .checkpoint_interval()
        .get();
    Ok((version as u64 + 1).is_multiple_of(interval))
}

/// Writes the log checkpoint of `delta`'s loaded version.
pub(super) async fn write_checkpoint(table: Table, delta: &DeltaTable) -> Result<(), StoreError> {
    deltalake_core::checkpoints::create_checkpoint(delta, None)
        .await
        .map_err(delta_error(table))
}

/// Deletes the log's commit files older than the table's `delta.logRetentionDuration` that a
/// checkpoint supersedes (one listing of `_delta_log`). Returns how many went.
pub(super) async fn cleanup_log(table: Table, delta: &DeltaTable) -> Result<usize, StoreError> {
    deltalake_core::checkpoints::cleanup_metadata(delta, None)
        .await
        .map_err(delta_error(table))
}

/// `remove` actions for the active files that `replacing` covers.
pub(super) fn removals(delta: &DeltaTable, replacing: &Replacing) -> Vec<(Remove, i64)> {
    let Some(from_day) = replacing.from_day else {
        return Vec::new();
    };
    let Ok(state) = delta.snapshot() else {
        return Vec::new();
    };
    let now = chrono::Utc::now().timestamp_millis();
    state
        .log_data()
        .iter()
        .filter_map(|f| {
            let day = f
                .partition_values_map()
                .get(DATE_COLUMN)
                .cloned()
                .flatten()
                .and_then(|d| day_of_label(&d))?;
            if day < from_day {
                return None;
            }
            let mut remove = f.remove_action(true);
            remove.deletion_timestamp = Some(now);
            Some((remove, day))
        })
        .collect()
}

/// The version a table's application transaction `app_id` last committed.
pub(super) async fn txn_version(
    table: Table,
    delta: &DeltaTable,
    app_id: &str,
) -> Result<Option<i64>, StoreError> {
    let err = delta_error(table);
    let state = delta.snapshot().map_err(&err)?;
    state
        .transaction_version(delta.log_store().as_ref(), app_id)
        .await
        .map_err(&err)
}

/// Withdraws what commits after `version` carrying a `txn` of `app_id` did: the files they
/// added are removed and the files they removed come back, in one new commit. Returns how many
/// files changed. This is how a batch the checkpoint does not cover is undone after a crash.
pub(super) async fn undo_after(
    table: Table,
    delta: &mut DeltaTable,
    version: i64,
    app_id: &str,
) -> Result<usize, StoreError> {
    let err = delta_error(table);
    let latest = delta.version().map_or(-1, |v| v as i64);
    if latest <= version {
        return Ok(0);
    }
    let version = version.max(-1);
    let store = delta.log_store();
    let mut added: Vec<String> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    for v in (version + 1) as u64..=latest as u64 {
        let Some(bytes) = store.read_commit_entry(v).await.map_err(&err)? else {
            continue;
        };
        let actions = deltalake_core::logstore::get_actions(v, &bytes).map_err(&err)?;
        let ours = actions
            .iter()
            .any(|a| matches!(a, Action::Txn(t) if t.app_id == app_id));
        if !ours {
            continue;
        }
        for action in actions {
            match action {
                Action::Add(a) => added.push(a.path),
                Action::Remove(r) => removed.push(r.path),
                _ => {}
            }
        }
    }
    if added.is_empty() && removed.is_empty() {
        return Ok(0);
    }
    let added: HashSet<String> = added.into_iter().collect();
    let now = chrono::Utc::now().timestamp_millis();
    let mut actions = Vec::new();
    let state = delta.snapshot().map_err(&err)?;
    let active: HashMap<String, deltalake_core::kernel::LogicalFileView> = state
        .log_data()
        .iter()
        .map(|f| (f.path().to_string(), f))
        .collect();
    for path in &added {
        if let Some(f) = active.get(path.as_str()).or_else(|| {
            let decoded = percent_decode(path);
            active.get(decoded.as_str())
        }) {
            let mut remove = f.remove_action(true);
            remove.deletion_timestamp = Some(now);
            actions.push(Action::Remove(remove));
        }
    }
    let restore: HashSet<String> = removed.into_iter().filter(|p| !added.contains(p)).collect();
    if !restore.is_empty() {
        let mut before = delta.clone();
        before
            .load_version(version.max(0) as u64)
            .await
            .map_err(&err)?;
        for f in before.snapshot().map_err(&err)?.log_data().iter() {
            let path = f.path().to_string();
            if restore.contains(&path) || restore.iter().any(|r| percent_decode(r) == path) {
                #[allow(deprecated)] // the whole `add` is wanted back, stats and all
                actions.push(Action::Add(f.add_action()));
            }
        }
    }
    let changed = actions.len();
    if changed > 0 {
        commit(
            table,
            delta,
            actions,
            DeltaOperation::Restore {
                version: Some(version.max(0) as u64),
                datetime: None,
            },
        )
        .await?;
    }
    Ok(changed)
}

fn percent_decode(path: &str) -> String {
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}

/// A `txn` action.
pub(super) fn txn(app_id: String, version: i64) -> Action {
    Action::Txn(Transaction::new_with_last_update(
        app_id,
        version,
        Some(chrono::Utc::now().timestamp_millis()),
    ))
}

/// The commit operation of an append, or of a replacement from a day on.
pub(super) fn write_operation(replacing: &Replacing) -> DeltaOperation {
    let predicate = replacing.from_day.map(|day| {
        let mut p = format!("{DATE_COLUMN} >= '{}'", date_label(day));
        if let Some(service) = &replacing.service {
            p.push_str(&format!(" AND service = '{}'", service.replace('\'', "''")));
        }
        p
    });
    DeltaOperation::Write {
        mode: if predicate.is_some() {
            SaveMode::Overwrite
        } else {
            SaveMode::Append
        },
        partition_by: Some(vec![DATE_COLUMN.to_string()]),
        predicate,
    }
}

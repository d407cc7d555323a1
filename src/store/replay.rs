//! Reads the raw event tables back, to rebuild the SLA state at start-up.

use super::error::StoreError;
use super::history::HistoryStore;
use super::tables::Table;
use crate::model::{TicketEvent, TicketStatus, TicketType};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One event read back from the history.
pub enum Replayed<'a> {
    Ticket {
        event: &'a TicketEvent,
        partition: i32,
    },
    Sample {
        service: &'a str,
        component: Option<&'a str>,
        metric: &'a str,
        time: i64,
        value: f64,
        partition: i32,
    },
}

impl Replayed<'_> {
    /// The event's time.
    pub fn time(&self) -> i64 {
        match self {
            Replayed::Ticket { event, .. } => event.time,
            Replayed::Sample { time, .. } => *time,
        }
    }
}

/// Where a start-up's replay of the raw tables stops: per stream and source partition, the
/// checkpoint's next offset (exclusive; 0 for a partition it does not know). The raw tables
/// may hold records beyond it (a batch whose commits landed but whose checkpoint was not
/// saved); those are consumed again and applied live, so their findings, alerts and dead
/// letters are emitted, though their rows are not appended twice. Kafka offsets are committed
/// only after the checkpoint, so the consumer resumes at or before the bound.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayBound {
    pub metrics: BTreeMap<i32, i64>,
    pub tickets: BTreeMap<i32, i64>,
}

impl ReplayBound {
    /// The bound a checkpoint sets, for the (metrics, tickets) topics. `None` when a log
    /// generation was reset (offsets alone cannot tell the generations' rows apart); a lost
    /// checkpoint file sets none either (the caller knows: [`checkpoint_lost`]).
    pub fn from_checkpoint(
        checkpoint: &super::checkpoint::Checkpoint,
        topics: (&str, &str),
    ) -> Option<ReplayBound> {
        if !checkpoint.generations.is_empty() {
            return None;
        }
        let of = |topic: &str| checkpoint.offsets.get(topic).cloned().unwrap_or_default();
        Some(ReplayBound {
            metrics: of(topics.0),
            tickets: of(topics.1),
        })
    }

    /// The exclusive end of a stream partition's replay.
    pub fn end(&self, stream: crate::model::StreamKind, partition: i32) -> i64 {
        let ends = match stream {
            crate::model::StreamKind::Metrics => &self.metrics,
            crate::model::StreamKind::Tickets => &self.tickets,
        };
        ends.get(&partition).copied().unwrap_or(0)
    }

    /// The rows of a raw table's batch before the bound.
    fn keep(&self, table: Table, batch: RecordBatch) -> Result<RecordBatch, StoreError> {
        let ends = match table {
            Table::Metrics => &self.metrics,
            _ => &self.tickets,
        };
        rows_where(batch, |partition, offset| {
            offset < ends.get(&partition).copied().unwrap_or(0)
        })
    }
}

/// The rows of a raw table's batch whose (source partition, offset) pass `keep`; the batch as
/// it is when all do or it has no such columns.
fn rows_where(
    batch: RecordBatch,
    keep: impl Fn(i32, i64) -> bool,
) -> Result<RecordBatch, StoreError> {
    let (Some(partition), Some(offset)) = (
        batch.column_by_name("source_partition"),
        batch.column_by_name("source_offset"),
    ) else {
        return Ok(batch);
    };
    let (partition, offset) = (
        partition.as_primitive::<Int32Type>(),
        offset.as_primitive::<Int64Type>(),
    );
    let kept: arrow::array::BooleanArray = (0..batch.num_rows())
        .map(|i| Some(keep(partition.value(i), offset.value(i))))
        .collect();
    if kept.true_count() == batch.num_rows() {
        return Ok(batch);
    }
    Ok(arrow::compute::filter_record_batch(&batch, &kept)?)
}

/// True when the history holds something but `data_dir`'s checkpoint file is gone: a
/// start-up then rebuilds the state from the whole raw tables, whose `txn` say what they hold.
pub fn checkpoint_lost(
    data_dir: &Path,
    location: &super::HistoryLocation,
) -> Result<bool, StoreError> {
    Ok(!super::checkpoint::path(data_dir).exists()
        && super::history::block_on(location.holds_anything())?)
}

/// Calls `apply` with every ticket event and every metric sample of the history (before
/// `bound`, when given), a day at a time, each day's rows in source order (partition, offset):
/// the order they arrived in. Returns the number of events replayed.
pub fn replay_events(
    store: &HistoryStore,
    bound: Option<&ReplayBound>,
    mut apply: impl FnMut(Replayed<'_>),
) -> Result<u64, StoreError> {
    let mut count = 0;
    let bounded = |table: Table, batch: RecordBatch| match bound {
        Some(bound) => bound.keep(table, batch),
        None => Ok(batch),
    };
    for_each_day_in_source_order(store, Table::TicketEvents, DaysFrom(None), |batch| {
        let batch = bounded(Table::TicketEvents, batch)?;
        for (event, partition) in tickets(&batch) {
            apply(Replayed::Ticket {
                event: &event,
                partition,
            });
            count += 1;
        }
        Ok(())
    })?;
    for_each_day_in_source_order(store, Table::Metrics, DaysFrom(None), |batch| {
        let batch = bounded(Table::Metrics, batch)?;
        count += samples(&batch, &mut apply);
        Ok(())
    })?;
    Ok(count)
}

/// Calls `apply` with each metric sample of `batch` (a `metrics` batch); returns how many.
fn samples(batch: &RecordBatch, apply: &mut impl FnMut(Replayed<'_>)) -> u64 {
    let service = batch
        .column_by_name("service")
        .map(|c| c.as_string::<i32>());
    let metric = batch.column_by_name("metric").map(|c| c.as_string::<i32>());
    let component = batch
        .column_by_name("component")
        .map(|c| c.as_string::<i32>());
    let time = batch
        .column_by_name("time")
        .map(|c| c.as_primitive::<TimestampMicrosecondType>());
    let value = batch
        .column_by_name("value")
        .map(|c| c.as_primitive::<Float64Type>());
    let partition = batch
        .column_by_name("source_partition")
        .map(|c| c.as_primitive::<Int32Type>());
    let (Some(service), Some(metric), Some(time), Some(value), Some(partition)) =
        (service, metric, time, value, partition)
    else {
        return 0;
    };
    for i in 0..batch.num_rows() {
        apply(Replayed::Sample {
            service: service.value(i),
            component: component.filter(|c| c.is_valid(i)).map(|c| c.value(i)),
            metric: metric.value(i),
            time: time.value(i),
            value: value.value(i),
            partition: partition.value(i),
        });
    }
    batch.num_rows() as u64
}

/// Calls `apply` with the raw events the history holds beyond `from`'s offsets (the tail after
/// a snapshot) and before `bound`, when given: ticket events, then metric samples, each in
/// source order. `topics` are the (metrics, tickets) topics whose offsets `from` tracks. Files
/// whose offset statistics lie wholly below the tail are skipped without reading their rows.
pub fn replay_tail(
    store: &HistoryStore,
    from: &super::checkpoint::Checkpoint,
    topics: (&str, &str),
    bound: Option<&ReplayBound>,
    mut apply: impl FnMut(Replayed<'_>),
) -> Result<u64, StoreError> {
    let mut count = 0;
    for (table, topic) in [(Table::TicketEvents, topics.1), (Table::Metrics, topics.0)] {
        let mut batch = tail_of(store, table, topic, from)?;
        if let Some(bound) = bound {
            batch = bound.keep(table, batch)?;
        }
        count += match table {
            Table::TicketEvents => {
                let events = tickets(&batch);
                for (event, partition) in &events {
                    apply(Replayed::Ticket {
                        event,
                        partition: *partition,
                    });
                }
                events.len() as u64
            }
            _ => samples(&batch, &mut apply),
        };
    }
    Ok(count)
}

/// The rows of a raw table at or beyond `from`'s next offset of their partition, in source
/// order, in the table's own schema. Files are chosen by the largest offset the log's
/// statistics give them, so a start-up opens only the files its tail is in.
fn tail_of(
    store: &HistoryStore,
    table: Table,
    topic: &str,
    from: &super::checkpoint::Checkpoint,
) -> Result<RecordBatch, StoreError> {
    let partitions = from.offsets.get(topic).cloned().unwrap_or_default();
    let lowest = partitions.values().copied().min().unwrap_or(0);
    let schema = table.schema();
    let mut kept = Vec::new();
    let listing = std::time::Instant::now();
    let files = store.files_by_day(table)?;
    let listed_ms = listing.elapsed().as_millis() as u64;
    let mut read_files = 0;
    for file in files {
        // A file of one partition is needed if it reaches that partition's next offset; a
        // mixed one (compacted) if it reaches the lowest of them.
        let from = file
            .partition
            .map_or(lowest, |p| partitions.get(&p).copied().unwrap_or(0));
        if file.max_offset.is_some_and(|max| max < from) {
            continue;
        }
        // A compacted file mixes partitions: skipped when each of them ends before its own
        // next offset.
        let next = |p: &i32| partitions.get(p).copied().unwrap_or(0);
        if file
            .partition_max
            .as_ref()
            .is_some_and(|maxima| maxima.iter().all(|(p, max)| *max < next(p)))
        {
            continue;
        }
        read_files += 1;
        for batch in read(store.location(), &file.path)? {
            let tail = rows_where(batch, |partition, offset| {
                offset >= partitions.get(&partition).copied().unwrap_or(0)
            })?;
            if tail.num_rows() > 0 {
                kept.push(tail);
            }
        }
    }
    tracing::debug!(
        table = table.name(),
        listed_ms,
        read_files,
        read_ms = listing.elapsed().as_millis() as u64 - listed_ms,
        "raw tail read"
    );
    let tail = arrow::compute::concat_batches(&schema, &kept)?;
    in_source_order(&tail)
}

/// `batch` sorted by source partition and offset.
fn in_source_order(batch: &RecordBatch) -> Result<RecordBatch, StoreError> {
    let columns = ["source_partition", "source_offset"]
        .iter()
        .filter_map(|c| batch.column_by_name(c))
        .map(|values| arrow::compute::SortColumn {
            values: values.clone(),
            options: None,
        })
        .collect::<Vec<_>>();
    if columns.len() < 2 || batch.num_rows() == 0 {
        return Ok(batch.clone());
    }
    let order = arrow::compute::lexsort_to_indices(&columns, None)?;
    Ok(arrow::compute::take_record_batch(batch, &order)?)
}

/// The events of the tickets `ids` (with their source partitions), in date and source order,
/// from the raw days from `from_day` (days since the epoch) on, or from every day: what the API
/// rebuilds tickets' clocks from once they have left the live state (closed before the open
/// windows). Reads the `ticket_events` table a day at a time.
pub fn tickets_history(
    store: &HistoryStore,
    ids: &std::collections::HashSet<String>,
    from_day: Option<i64>,
) -> Result<Vec<(TicketEvent, i32)>, StoreError> {
    let mut found = Vec::new();
    let days = DaysFrom(from_day);
    for_each_day_in_source_order(store, Table::TicketEvents, days, |day| {
        let Some(tickets_column) = day.column_by_name("ticket") else {
            return Ok(());
        };
        let ids_of_rows = tickets_column.as_string::<i32>();
        let wanted: arrow::array::BooleanArray = (0..ids_of_rows.len())
            .map(|i| Some(!ids_of_rows.is_null(i) && ids.contains(ids_of_rows.value(i))))
            .collect();
        if wanted.true_count() > 0 {
            found.extend(tickets(&arrow::compute::filter_record_batch(
                &day, &wanted,
            )?));
        }
        Ok(())
    })?;
    Ok(found)
}

/// The first day a raw-table walk reads (`None`: the first day of the history).
#[derive(Debug, Clone, Copy)]
struct DaysFrom(Option<i64>);

/// Calls `each` with one batch per date of a raw table, in date order, its rows sorted by
/// source partition and offset (a day's files come from different batches and compactions).
/// One day is in memory at a time.
fn for_each_day_in_source_order(
    store: &HistoryStore,
    table: Table,
    from: DaysFrom,
    mut each: impl FnMut(RecordBatch) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut by_day: std::collections::BTreeMap<i64, Vec<object_store::path::Path>> =
        Default::default();
    for file in store.files_by_day(table)? {
        if from.0.is_some_and(|first| file.day < first) {
            continue;
        }
        by_day.entry(file.day).or_default().push(file.path);
    }
    let schema = table.schema();
    for (_, paths) in by_day {
        let mut batches = Vec::new();
        for path in &paths {
            batches.extend(read(store.location(), path)?);
        }
        let day = arrow::compute::concat_batches(&schema, &batches)?;
        each(in_source_order(&day)?)?;
    }
    Ok(())
}

/// Reads a data file of the history whole (a day's file is a few MB; a local one comes from
/// the page cache, a remote one in one GET).
pub(super) async fn read_async(
    location: &super::HistoryLocation,
    path: &object_store::path::Path,
) -> Result<Vec<RecordBatch>, StoreError> {
    let bytes = location.get(path).await?;
    let parquet = |source| StoreError::Parquet {
        path: PathBuf::from(path.as_ref()),
        source,
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(parquet)?
        .with_batch_size(65_536)
        .build()
        .map_err(parquet)?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::Arrow)
}

/// [`read_async`] from synchronous code.
pub(super) fn read(
    location: &super::HistoryLocation,
    path: &object_store::path::Path,
) -> Result<Vec<RecordBatch>, StoreError> {
    super::history::block_on(read_async(location, path))
}

fn tickets(batch: &RecordBatch) -> Vec<(TicketEvent, i32)> {
    let text = |name: &str| {
        batch
            .column_by_name(name)
            .map(|c| c.as_string::<i32>().clone())
    };
    let (Some(service), Some(ticket), Some(kind), Some(priority), Some(status)) = (
        text("service"),
        text("ticket"),
        text("type"),
        text("priority"),
        text("status"),
    ) else {
        return Vec::new();
    };
    let Some(time) = batch
        .column_by_name("time")
        .map(|c| c.as_primitive::<TimestampMicrosecondType>().clone())
    else {
        return Vec::new();
    };
    let Some(partition) = batch
        .column_by_name("source_partition")
        .map(|c| c.as_primitive::<Int32Type>().clone())
    else {
        return Vec::new();
    };
    fn enum_of<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
        serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
    }
    let timestamps = |name: &str| {
        batch
            .column_by_name(name)
            .map(|c| c.as_primitive::<TimestampMicrosecondType>().clone())
    };
    let flags = |name: &str| batch.column_by_name(name).map(|c| c.as_boolean().clone());
    let (planned_start, planned_end) = (timestamps("planned_start"), timestamps("planned_end"));
    let (approved, outage) = (flags("approved"), flags("outage"));
    (0..batch.num_rows())
        .filter_map(|i| {
            let ticket_type: TicketType = enum_of(kind.value(i))?;
            let status: TicketStatus = enum_of(status.value(i))?;
            let mut event = TicketEvent::status_change(
                time.value(i),
                ticket.value(i),
                ticket_type,
                service.value(i),
                priority.value(i),
                status,
            );
            // What a change says about its planned outage (maintenance exclusions).
            event.planned_start = planned_start
                .as_ref()
                .filter(|c| c.is_valid(i))
                .map(|c| c.value(i));
            event.planned_end = planned_end
                .as_ref()
                .filter(|c| c.is_valid(i))
                .map(|c| c.value(i));
            event.approved = approved
                .as_ref()
                .filter(|c| c.is_valid(i))
                .map(|c| c.value(i));
            event.outage = outage
                .as_ref()
                .filter(|c| c.is_valid(i))
                .map(|c| c.value(i));
            Some((event, partition.value(i)))
        })
        .collect()
}

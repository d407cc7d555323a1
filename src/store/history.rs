//! The Parquet history on disk: `<data>/history/<table>/date=YYYY-MM-DD/<file>.parquet`.
//!
//! Raw tables (metrics, ticket events) are named by source topic, partition and offset range;
//! derived tables by batch sequence number. Both are covered by the offset checkpoint, so files
//! written after the last checkpoint (a crash between rename and checkpoint) are deleted at
//! start-up and rewritten by the replay: nothing is lost and nothing doubles.

use super::checkpoint::{self, Checkpoint};
use super::durable::{TEMP_SUFFIX, write_atomically};
use super::error::{StoreError, io};
use super::tables::{Table, date_label};
use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::path::{Path, PathBuf};

/// What a file in the history belongs to, parsed from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOrigin {
    /// `<topic>~p<partition>~<first>-<last>.parquet`
    Source {
        topic: String,
        partition: i32,
        first: i64,
        last: i64,
    },
    /// `batch-<seq>.parquet`
    Batch { seq: u64 },
    /// `recompute-<unix seconds>.parquet`: written by `slacap recompute`, not by the stream.
    Recompute { at: i64 },
    /// `fit-<unix micros>.parquet`: a forecast fit's points and plans (not derived from the
    /// stream's batches, so never removed at start-up).
    Fit { at: i64 },
    /// `review-<seq>.parquet`: one entry of the review register (its journal is the record;
    /// this file is its copy for BI).
    Review { seq: u64 },
}

impl FileOrigin {
    pub fn file_name(&self) -> String {
        match self {
            FileOrigin::Source {
                topic,
                partition,
                first,
                last,
            } => format!("{topic}~p{partition}~{first:019}-{last:019}.parquet"),
            FileOrigin::Batch { seq } => format!("batch-{seq:012}.parquet"),
            FileOrigin::Recompute { at } => format!("recompute-{at}.parquet"),
            FileOrigin::Fit { at } => format!("fit-{at}.parquet"),
            FileOrigin::Review { seq } => format!("review-{seq:012}.parquet"),
        }
    }

    pub fn parse(name: &str) -> Option<FileOrigin> {
        let stem = name.strip_suffix(".parquet")?;
        if let Some(seq) = stem.strip_prefix("batch-") {
            return seq.parse().ok().map(|seq| FileOrigin::Batch { seq });
        }
        if let Some(at) = stem.strip_prefix("recompute-") {
            return at.parse().ok().map(|at| FileOrigin::Recompute { at });
        }
        if let Some(seq) = stem.strip_prefix("review-") {
            return seq.parse().ok().map(|seq| FileOrigin::Review { seq });
        }
        if let Some(at) = stem.strip_prefix("fit-") {
            return at.parse().ok().map(|at| FileOrigin::Fit { at });
        }
        let mut parts = stem.rsplitn(3, '~');
        let (range, partition, topic) = (parts.next()?, parts.next()?, parts.next()?);
        let (first, last) = range.split_once('-')?;
        Some(FileOrigin::Source {
            topic: topic.to_string(),
            partition: partition.strip_prefix('p')?.parse().ok()?,
            first: first.parse().ok()?,
            last: last.parse().ok()?,
        })
    }

    /// True when the file's content is not covered by `checkpoint` (written after it).
    fn is_beyond(&self, checkpoint: &Checkpoint) -> bool {
        match self {
            FileOrigin::Source {
                topic,
                partition,
                first,
                ..
            } => !checkpoint.covers(topic, *partition, *first),
            FileOrigin::Batch { seq } => *seq > checkpoint.seq,
            FileOrigin::Recompute { .. } | FileOrigin::Fit { .. } | FileOrigin::Review { .. } => {
                false
            }
        }
    }
}

/// The day (since the epoch) of the `date=YYYY-MM-DD` folder a history file lies in.
fn partition_day(path: &Path) -> Option<i64> {
    let folder = path.parent()?.file_name()?.to_str()?;
    let date = chrono::NaiveDate::parse_from_str(folder.strip_prefix("date=")?, "%Y-%m-%d").ok()?;
    Some(
        date.signed_duration_since(chrono::NaiveDate::default())
            .num_days(),
    )
}

/// One file to add to the history.
pub struct PendingFile {
    pub table: Table,
    pub day: i64,
    pub origin: FileOrigin,
    pub batch: RecordBatch,
}

#[derive(Debug, Clone)]
pub struct HistoryStore {
    data_dir: PathBuf,
}

impl HistoryStore {
    /// Opens (or creates) the history under `data_dir`, deletes what a crash left beyond the
    /// checkpoint, and returns the checkpoint.
    pub fn open(data_dir: &Path) -> Result<(HistoryStore, Checkpoint), StoreError> {
        let store = HistoryStore {
            data_dir: data_dir.to_path_buf(),
        };
        for table in Table::ALL {
            let dir = store.table_dir(table);
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        }
        let checkpoint = checkpoint::load(data_dir)?;
        let removed = store.remove_uncommitted(&checkpoint)?;
        if removed > 0 {
            tracing::warn!(
                files = removed,
                "removed history files written after the last checkpoint; they will be rewritten from Kafka"
            );
        }
        Ok((store, checkpoint))
    }

    /// The history for reading only (queries): nothing is created or cleaned up, so it is safe
    /// next to a running pipeline.
    pub fn reader(data_dir: &Path) -> HistoryStore {
        HistoryStore {
            data_dir: data_dir.to_path_buf(),
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn table_dir(&self, table: Table) -> PathBuf {
        self.data_dir.join("history").join(table.name())
    }

    /// All Parquet files of a table, in path order.
    pub fn files(&self, table: Table) -> Result<Vec<PathBuf>, StoreError> {
        let mut files = Vec::new();
        let dir = self.table_dir(table);
        if !dir.exists() {
            return Ok(files);
        }
        for day in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let day = day.map_err(io(&dir))?.path();
            if !day.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&day).map_err(io(&day))? {
                let path = file.map_err(io(&day))?.path();
                if path.extension().is_some_and(|e| e == "parquet") {
                    files.push(path);
                }
            }
        }
        files.sort();
        Ok(files)
    }

    fn remove_uncommitted(&self, checkpoint: &Checkpoint) -> Result<usize, StoreError> {
        let mut removed = 0;
        for table in Table::ALL {
            let dir = self.table_dir(table);
            for day in std::fs::read_dir(&dir).map_err(io(&dir))? {
                let day = day.map_err(io(&dir))?.path();
                if !day.is_dir() {
                    continue;
                }
                for file in std::fs::read_dir(&day).map_err(io(&day))? {
                    let path = file.map_err(io(&day))?.path();
                    let name = path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or_default();
                    let stale = name.ends_with(TEMP_SUFFIX)
                        || FileOrigin::parse(name).is_some_and(|o| o.is_beyond(checkpoint));
                    if stale {
                        std::fs::remove_file(&path).map_err(io(&path))?;
                        removed += 1;
                    }
                }
            }
        }
        Ok(removed)
    }

    /// Writes each file durably (temp name, fsync, rename, fsync folder) and returns the bytes
    /// written. Call [`HistoryStore::save_checkpoint`] afterwards to make them count.
    pub fn write(&self, files: &[PendingFile]) -> Result<u64, StoreError> {
        let mut bytes = 0;
        for f in files {
            let dir = self
                .table_dir(f.table)
                .join(format!("date={}", date_label(f.day)));
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            let path = dir.join(f.origin.file_name());
            write_atomically(&path, |file| {
                let mut writer =
                    ArrowWriter::try_new(file, f.batch.schema(), Some(writer_properties(f.table)))
                        .map_err(|source| StoreError::Parquet {
                            path: path.clone(),
                            source,
                        })?;
                writer
                    .write(&f.batch)
                    .map_err(|source| StoreError::Parquet {
                        path: path.clone(),
                        source,
                    })?;
                writer.close().map_err(|source| StoreError::Parquet {
                    path: path.clone(),
                    source,
                })?;
                Ok(())
            })?;
            bytes += std::fs::metadata(&path).map_err(io(&path))?.len();
        }
        Ok(bytes)
    }

    /// Deletes every file of `table` in the date partitions from `first_day` on (days since the
    /// epoch). Returns how many files went.
    pub fn remove_from(&self, table: Table, first_day: i64) -> Result<usize, StoreError> {
        let mut removed = 0;
        for path in self.files(table)? {
            let day = partition_day(&path);
            if day.is_some_and(|d| d >= first_day) {
                std::fs::remove_file(&path).map_err(io(&path))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes the rows of `service` from every file of `table` in the date partitions from
    /// `first_day` on, rewriting each file durably (or deleting it when nothing is left).
    pub fn remove_service_from(
        &self,
        table: Table,
        first_day: i64,
        service: &str,
    ) -> Result<usize, StoreError> {
        use arrow::array::{Array, AsArray};
        let mut rewritten = 0;
        for path in self.files(table)? {
            let day = partition_day(&path);
            let (Some(day), Some(origin)) = (
                day.filter(|d| *d >= first_day),
                path.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(FileOrigin::parse),
            ) else {
                continue;
            };
            let mut kept = Vec::new();
            for batch in super::replay::read(&path)? {
                let Some(services) = batch.column_by_name("service") else {
                    continue;
                };
                let services = services.as_string::<i32>();
                let keep: arrow::array::BooleanArray = (0..services.len())
                    .map(|i| Some(services.is_null(i) || services.value(i) != service))
                    .collect();
                let filtered = arrow::compute::filter_record_batch(&batch, &keep)?;
                if filtered.num_rows() > 0 {
                    kept.push(filtered);
                }
            }
            std::fs::remove_file(&path).map_err(io(&path))?;
            if !kept.is_empty() {
                let batch = arrow::compute::concat_batches(&table.schema(), &kept)?;
                self.write(&[PendingFile {
                    table,
                    day,
                    origin,
                    batch,
                }])?;
            }
            rewritten += 1;
        }
        Ok(rewritten)
    }

    pub fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        checkpoint::save(&self.data_dir, checkpoint)
    }
}

/// zstd, statistics per page, and encodings that suit sorted event data: the time column as
/// deltas, the float values split by byte stream (both compress far better that way).
fn writer_properties(table: Table) -> WriterProperties {
    let time = ColumnPath::from(table.time_column());
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_column_dictionary_enabled(time.clone(), false)
        .set_column_encoding(time, Encoding::DELTA_BINARY_PACKED);
    if table == Table::Metrics || table == Table::TicketEvents {
        let offset = ColumnPath::from("source_offset");
        props = props
            .set_column_dictionary_enabled(offset.clone(), false)
            .set_column_encoding(offset, Encoding::DELTA_BINARY_PACKED);
    }
    props.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        for origin in [
            FileOrigin::Source {
                topic: "slacap.metrics".into(),
                partition: 2,
                first: 10,
                last: 99,
            },
            FileOrigin::Source {
                topic: "odd~topic".into(),
                partition: 0,
                first: 0,
                last: 0,
            },
            FileOrigin::Batch { seq: 42 },
        ] {
            assert_eq!(FileOrigin::parse(&origin.file_name()), Some(origin));
        }
    }

    #[test]
    fn files_beyond_the_checkpoint_are_uncommitted() {
        let mut cp = Checkpoint {
            seq: 3,
            ..Default::default()
        };
        cp.advance("t", 0, 100);
        let src = |first| FileOrigin::Source {
            topic: "t".into(),
            partition: 0,
            first,
            last: first + 10,
        };
        assert!(!src(90).is_beyond(&cp));
        assert!(src(100).is_beyond(&cp));
        assert!(
            FileOrigin::Source {
                topic: "t".into(),
                partition: 1,
                first: 0,
                last: 1
            }
            .is_beyond(&cp)
        );
        assert!(!FileOrigin::Batch { seq: 3 }.is_beyond(&cp));
        assert!(FileOrigin::Batch { seq: 4 }.is_beyond(&cp));
    }
}

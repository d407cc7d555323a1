//! The offset checkpoint: which source offsets, which batch sequence number and which derived
//! table versions are durable in the history. It is written after a batch's commits and before
//! the offsets are committed to Kafka. The raw tables' own transactions (`txn` per source
//! partition) also say which records they hold, so losing this file doubles no raw row.

use super::durable::write_atomically;
use super::error::{StoreError, io};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Sequence number of the last durable batch (0 before the first).
    pub seq: u64,
    /// topic → partition → next offset to consume (one past the last durable record).
    pub offsets: BTreeMap<String, BTreeMap<i32, i64>>,
    /// The SLA watermark (event time, µs) after the last durable batch: everything behind it
    /// has been written and alerted, so a restart resumes there without repeating findings.
    #[serde(default)]
    pub watermark: Option<i64>,
    /// topic → partition → generation, for partitions whose log was replaced (topic re-created,
    /// broker data loss) and reset by `pipeline.on_offset_regression = "reset"`. A partition of
    /// generation g > 0 is tracked, and its history files named, as `<topic>~g<g>`, so the new
    /// log's offsets never collide with the old log's files. (`~` is not legal in topic names.)
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub generations: BTreeMap<String, BTreeMap<i32, u32>>,
    /// Derived table → its Delta version once the batch was committed. Commits of the stream's
    /// batches beyond these versions are withdrawn at start-up (their records are replayed).
    #[serde(default)]
    pub versions: BTreeMap<String, i64>,
}

/// The Kafka topic of a source key (`topic` or `topic~g<generation>`).
pub fn kafka_topic(source_key: &str) -> &str {
    source_key.split("~g").next().unwrap_or(source_key)
}

impl Checkpoint {
    /// The key under which a Kafka partition's offsets and files are tracked.
    pub fn source_key(&self, topic: &str, partition: i32) -> String {
        match self.generations.get(topic).and_then(|p| p.get(&partition)) {
            Some(g) if *g > 0 => format!("{topic}~g{g}"),
            _ => topic.to_string(),
        }
    }

    /// Starts a new generation for a partition whose log was replaced: its next offset is 0
    /// again, and the old generation's files and offsets stay as they were.
    pub fn start_generation(&mut self, topic: &str, partition: i32) -> String {
        *self
            .generations
            .entry(topic.to_string())
            .or_default()
            .entry(partition)
            .or_insert(0) += 1;
        self.source_key(topic, partition)
    }

    pub fn next_offset(&self, topic: &str, partition: i32) -> i64 {
        self.offsets
            .get(topic)
            .and_then(|p| p.get(&partition))
            .copied()
            .unwrap_or(0)
    }

    /// True when the record is already durable (a replay after a crash delivers it again).
    pub fn covers(&self, topic: &str, partition: i32, offset: i64) -> bool {
        offset < self.next_offset(topic, partition)
    }

    pub fn advance(&mut self, topic: &str, partition: i32, next: i64) {
        let slot = self
            .offsets
            .entry(topic.to_string())
            .or_default()
            .entry(partition)
            .or_insert(0);
        *slot = (*slot).max(next);
    }
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("checkpoint.json")
}

pub fn load(data_dir: &Path) -> Result<Checkpoint, StoreError> {
    let file = path(data_dir);
    match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Checkpoint {
            path: file,
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Checkpoint::default()),
        Err(e) => Err(io(&file)(e)),
    }
}

pub fn save(data_dir: &Path, checkpoint: &Checkpoint) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec_pretty(checkpoint).map_err(|e| StoreError::Checkpoint {
        path: path(data_dir),
        message: e.to_string(),
    })?;
    write_atomically(&path(data_dir), |file| {
        std::io::Write::write_all(file, &bytes).map_err(io(&path(data_dir)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_generation_starts_from_offset_zero_and_keeps_the_old_one() {
        let mut c = Checkpoint::default();
        c.advance("m", 0, 500);
        assert!(c.covers("m", 0, 10));
        let key = c.start_generation("m", 0);
        assert_eq!(key, "m~g1");
        assert_eq!(c.source_key("m", 0), "m~g1");
        assert_eq!(c.source_key("m", 1), "m");
        assert!(!c.covers(&key, 0, 10), "the new log's records are new");
        assert!(c.covers("m", 0, 10), "the old log's files stay covered");
        assert_eq!(kafka_topic(&key), "m");
    }
}

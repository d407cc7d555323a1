//! Snapshots of the SLA state, kept with the history under `<data>/history/_snapshots/`: the
//! engine's state after a checkpointed batch, and that checkpoint (offsets, watermark, derived
//! table versions). A restart loads the newest and replays only the raw rows after its offsets;
//! a late event rebuilds from the newest one taken before its day.
//!
//! A file is MessagePack (with field names, so fields added later read back as defaults)
//! compressed with zstd, written to a temporary name, fsynced and renamed (one PUT in object
//! storage): a reader sees a whole snapshot or none. Its name carries the batch sequence number and the
//! watermark, so choosing one needs no reading.

use super::checkpoint::Checkpoint;
use super::error::{StoreError, io};
use super::history::{HistoryStore, block_on};
use crate::model::Micros;
use crate::sla::EngineSnapshot;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// 2: the state is bounded by the open windows (`live_from`); a format 1 snapshot is not
/// read (the history is replayed once instead).
const FORMAT: u32 = 2;
const DAY: Micros = 86_400_000_000;

#[derive(Serialize, Deserialize)]
pub struct Snapshot {
    format: u32,
    /// The checkpoint the state corresponds to.
    pub checkpoint: Checkpoint,
    /// Wall-clock time it was taken (unix µs).
    pub taken_at: Micros,
    /// The (metrics, tickets) topics the checkpoint's offsets belong to.
    pub topics: (String, String),
    pub engine: EngineSnapshot,
}

/// The newest snapshot, read and decoded while the history's tables load: the two are the
/// largest costs of a start and need nothing from each other. Whether it is usable (its
/// offsets, its SLA definitions) is still decided by the rebuild, as for any other snapshot.
pub struct SnapshotPrefetch(Option<std::thread::JoinHandle<Option<PrefetchedSnapshot>>>);

/// A snapshot file and what reading it gave.
pub type PrefetchedSnapshot = (SnapshotInfo, Result<Snapshot, StoreError>);

impl SnapshotPrefetch {
    /// Nothing prefetched: the rebuild reads the snapshots itself.
    pub fn none() -> SnapshotPrefetch {
        SnapshotPrefetch(None)
    }

    /// Waits for the read; `None` when there is no snapshot (or the thread could not start).
    pub fn take(self) -> Option<PrefetchedSnapshot> {
        self.0?.join().ok().flatten()
    }
}

/// A snapshot file, from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Its file name in `_snapshots/`.
    pub name: String,
    /// Where it is, for messages (a path, or a URL in object storage).
    pub path: PathBuf,
    pub seq: u64,
    /// The engine's watermark when it was taken.
    pub watermark: Option<Micros>,
}

fn parse_name(name: String, path: PathBuf) -> Option<SnapshotInfo> {
    let stem = name.strip_suffix(".snapshot")?;
    let (seq, watermark) = stem.split_once('-')?;
    Some(SnapshotInfo {
        seq: seq.parse().ok()?,
        watermark: match watermark {
            "none" => None,
            w => Some(w.parse().ok()?),
        },
        name,
        path,
    })
}

const SNAPSHOTS: &str = "_snapshots";

impl HistoryStore {
    /// The snapshots' folder (a path, or a URL in object storage).
    pub fn snapshot_dir(&self) -> PathBuf {
        self.location().display(SNAPSHOTS)
    }

    /// Writes a snapshot of `engine` at `checkpoint`; returns its size in bytes. Then keeps the
    /// newest three, the newest of each watermark day of the last 35 days, and the newest of
    /// each week as far back as `keep_days` (what late events up to that age rebuild from).
    pub fn save_snapshot(
        &self,
        checkpoint: &Checkpoint,
        engine: EngineSnapshot,
        topics: (String, String),
        keep_days: i64,
    ) -> Result<u64, StoreError> {
        let watermark = engine.watermark;
        let snapshot = Snapshot {
            format: FORMAT,
            checkpoint: checkpoint.clone(),
            taken_at: chrono::Utc::now().timestamp_micros(),
            topics,
            engine,
        };
        let name = format!(
            "{:012}-{}.snapshot",
            checkpoint.seq,
            watermark.map_or("none".to_string(), |w| w.to_string())
        );
        let relative = format!("{SNAPSHOTS}/{name}");
        let path = self.location().display(&relative);
        let bad = |message: String| StoreError::Checkpoint {
            path: path.clone(),
            message,
        };
        let packed = rmp_serde::to_vec_named(&snapshot).map_err(|e| bad(e.to_string()))?;
        let compressed = zstd::encode_all(&packed[..], 3).map_err(io(&path))?;
        let size = compressed.len() as u64;
        block_on(self.location().put_whole(&relative, compressed.into()))?;
        self.prune_snapshots(keep_days)?;
        Ok(size)
    }

    /// The snapshots on disk, oldest first.
    pub fn snapshots(&self) -> Result<Vec<SnapshotInfo>, StoreError> {
        let names = block_on(self.location().list_names(SNAPSHOTS))?;
        let mut found: Vec<SnapshotInfo> = names
            .into_iter()
            .filter_map(|name| {
                let path = self.location().display(&format!("{SNAPSHOTS}/{name}"));
                parse_name(name, path)
            })
            .collect();
        found.sort_by_key(|s| s.seq);
        Ok(found)
    }

    pub fn load_snapshot(&self, info: &SnapshotInfo) -> Result<Snapshot, StoreError> {
        let bad = |message: String| StoreError::Checkpoint {
            path: info.path.clone(),
            message,
        };
        let at = self
            .location()
            .object_path(&format!("{SNAPSHOTS}/{}", info.name));
        let compressed = block_on(self.location().get(&at))?;
        let packed = zstd::decode_all(&compressed[..]).map_err(io(&info.path))?;
        let snapshot: Snapshot =
            rmp_serde::from_slice(&packed).map_err(|e| bad(format!("unreadable snapshot: {e}")))?;
        if snapshot.format != FORMAT {
            return Err(bad(format!("snapshot format {}", snapshot.format)));
        }
        Ok(snapshot)
    }

    /// Starts reading and decoding the newest snapshot on a thread of its own (see
    /// [`SnapshotPrefetch`]).
    pub fn prefetch_newest_snapshot(&self) -> SnapshotPrefetch {
        let store = self.clone();
        SnapshotPrefetch(
            std::thread::Builder::new()
                .name("slacap-snapshot".into())
                .spawn(move || {
                    let newest = store.snapshots().ok()?.pop()?;
                    let loaded = store.load_snapshot(&newest);
                    Some((newest, loaded))
                })
                .ok(),
        )
    }

    fn prune_snapshots(&self, keep_days: i64) -> Result<(), StoreError> {
        let all = self.snapshots()?;
        let Some(newest_day) = all
            .iter()
            .rev()
            .find_map(|s| s.watermark)
            .map(|w| w.div_euclid(DAY))
        else {
            return Ok(());
        };
        let mut kept = std::collections::HashSet::new();
        let count = all.len();
        for (i, info) in all.iter().enumerate().rev() {
            let recent = count - i <= 3;
            let day = info.watermark.map(|w| w.div_euclid(DAY));
            // Daily for the last 35 days, weekly before that.
            let bucket = |d: i64| {
                if newest_day - d <= 35 {
                    (0, d)
                } else {
                    (1, d.div_euclid(7))
                }
            };
            let keep = recent
                || day.is_some_and(|d| newest_day - d <= keep_days && kept.insert(bucket(d)));
            if !keep {
                block_on(
                    self.location()
                        .delete(&format!("{SNAPSHOTS}/{}", info.name)),
                )?;
            }
        }
        Ok(())
    }
}

//! The persisted outbox between the pipeline and the webhooks.
//!
//! `<data_dir>/outbox/<webhook>/pending/<hash of alert id>.json` holds one alert waiting for one
//! webhook, written durably before the batch's checkpoint (so a crash loses none);
//! `<data_dir>/outbox/<webhook>/sent.log` lists the alert ids the webhook has acknowledged.
//! Enqueueing an id that is pending (same file name) or already sent does nothing, so a batch
//! replayed after a crash does not send its alerts twice. Ingest never waits for a webhook: it
//! only writes files; a sender task per webhook drains them. An alert the webhook refuses for
//! good moves to `<data_dir>/outbox/<webhook>/failed/` (with `failed.log` saying why); moving it
//! back into `pending/` sends it again.

use crate::config::Webhook;
use crate::model::{Micros, format_rfc3339};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// An alert as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxAlert {
    /// The alert's stable id: the idempotency key.
    pub id: String,
    /// A line a person can read (the `text` format sends only this).
    pub summary: String,
    /// The alert record (the `json` format sends this).
    pub record: serde_json::Value,
    /// When the outbox took it (wall clock), for order and for latency figures.
    pub enqueued_at: String,
    /// Failed deliveries so far. Kept in the file, so a restart does not give an alert
    /// `alerts.max_attempts` more tries; zero again in `failed/`, so an alert moved back to
    /// `pending/` gets them all.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl OutboxAlert {
    /// From the JSON payload the alerts topic carries (it has a `summary` field).
    pub fn from_payload(id: &str, payload: &str, now: Micros) -> OutboxAlert {
        let record: serde_json::Value =
            serde_json::from_str(payload).unwrap_or(serde_json::Value::String(payload.into()));
        let summary = record
            .get("summary")
            .and_then(|s| s.as_str())
            .unwrap_or(id)
            .to_string();
        OutboxAlert {
            id: id.to_string(),
            summary,
            record,
            enqueued_at: format_rfc3339(now),
            attempts: 0,
        }
    }
}

/// One webhook's queue on disk.
#[derive(Debug)]
pub struct Queue {
    pub webhook: Webhook,
    pending: PathBuf,
    failed: PathBuf,
    sent_log: PathBuf,
    sent: Mutex<HashSet<String>>,
    max_pending: usize,
    pub dropped: AtomicU64,
}

/// Writes `alert` to `path` through a temp file and a rename, so a reader sees the old
/// content or the new, never half of it. The directory is synced by the caller.
fn write_durably(path: &Path, alert: &OutboxAlert) -> std::io::Result<()> {
    let temp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(&serde_json::to_vec(alert).map_err(std::io::Error::other)?)?;
    file.sync_all()?;
    std::fs::rename(&temp, path)
}

fn file_name(id: &str) -> String {
    let digest = Sha256::digest(id.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.json")
}

impl Queue {
    pub fn open(data_dir: &Path, webhook: Webhook, max_pending: usize) -> std::io::Result<Queue> {
        let dir = data_dir.join("outbox").join(&webhook.name);
        let pending = dir.join("pending");
        std::fs::create_dir_all(&pending)?;
        let failed = dir.join("failed");
        std::fs::create_dir_all(&failed)?;
        // A crash mid-write leaves a temp file; its alert is queued again by the replay.
        for entry in std::fs::read_dir(&pending)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                std::fs::remove_file(&path)?;
            }
        }
        let sent_log = dir.join("sent.log");
        let sent = std::fs::read_to_string(&sent_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        Ok(Queue {
            webhook,
            pending,
            failed,
            sent_log,
            sent: Mutex::new(sent),
            max_pending,
            dropped: AtomicU64::new(0),
        })
    }

    fn was_sent(&self, id: &str) -> bool {
        self.sent.lock().map(|s| s.contains(id)).unwrap_or(false)
    }

    /// Writes the alerts not yet sent or pending, durably. Returns how many were added.
    pub fn enqueue(&self, alerts: &[OutboxAlert]) -> std::io::Result<usize> {
        let mut added = 0;
        let mut count = std::fs::read_dir(&self.pending)?
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
            })
            .count();
        for alert in alerts {
            let path = self.pending.join(file_name(&alert.id));
            if self.was_sent(&alert.id) || path.exists() {
                continue;
            }
            if count >= self.max_pending {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!(webhook = %self.webhook.name, id = %alert.id, "webhook outbox full; alert dropped for this webhook (it is on the alerts topic)");
                continue;
            }
            write_durably(&path, alert)?;
            added += 1;
            count += 1;
        }
        if added > 0 {
            std::fs::File::open(&self.pending)?.sync_all()?;
        }
        Ok(added)
    }

    /// The pending alerts, oldest first.
    pub fn pending(&self) -> std::io::Result<Vec<(PathBuf, OutboxAlert)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.pending)? {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            match std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<OutboxAlert>(&b).ok())
            {
                Some(alert) => out.push((path, alert)),
                None => tracing::warn!(path = %path.display(), "unreadable outbox file skipped"),
            }
        }
        out.sort_by(|a, b| (&a.1.enqueued_at, &a.1.id).cmp(&(&b.1.enqueued_at, &b.1.id)));
        Ok(out)
    }

    /// Moves a refused alert out of the queue into `failed/`, with a line in `failed.log`.
    pub fn failed(&self, path: &Path, alert: &OutboxAlert, reason: &str) -> std::io::Result<()> {
        let Some(name) = path.file_name() else {
            return Ok(());
        };
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.failed.join("failed.log"))?;
        let line = serde_json::json!({
            "id": alert.id,
            "reason": reason,
            "at": format_rfc3339(chrono::Utc::now().timestamp_micros()),
        });
        log.write_all(format!("{line}\n").as_bytes())?;
        log.sync_data()?;
        let fresh = OutboxAlert {
            attempts: 0,
            ..alert.clone()
        };
        write_durably(&self.failed.join(name), &fresh)?;
        std::fs::File::open(&self.failed)?.sync_all()?;
        std::fs::remove_file(path)?;
        std::fs::File::open(&self.pending)?.sync_all()
    }

    /// Records one more failed delivery of the pending alert at `path`; returns the count.
    pub fn failed_attempt(&self, path: &Path, alert: &OutboxAlert) -> std::io::Result<u32> {
        let tried = OutboxAlert {
            attempts: alert.attempts.saturating_add(1),
            ..alert.clone()
        };
        write_durably(path, &tried)?;
        std::fs::File::open(&self.pending)?.sync_all()?;
        Ok(tried.attempts)
    }

    /// Records a delivery: the id joins `sent.log` (fsynced), then the pending file goes.
    pub fn delivered(&self, path: &Path, id: &str) -> std::io::Result<()> {
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.sent_log)?;
        log.write_all(format!("{id}\n").as_bytes())?;
        log.sync_data()?;
        if let Ok(mut sent) = self.sent.lock() {
            sent.insert(id.to_string());
        }
        std::fs::remove_file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WebhookFormat;

    fn queue(dir: &Path, max_pending: usize) -> Queue {
        let webhook = Webhook {
            name: "ops".into(),
            url: "http://127.0.0.1:1/".into(),
            secret: "0123456789abcdef".into(),
            ca_file: None,
            format: WebhookFormat::Json,
        };
        Queue::open(dir, webhook, max_pending).unwrap()
    }

    fn alert(id: &str, at: Micros) -> OutboxAlert {
        OutboxAlert::from_payload(id, r#"{"summary":"s","x":1}"#, at)
    }

    #[test]
    fn an_alert_is_queued_once_and_never_again_after_delivery() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path(), 10);
        assert_eq!(q.enqueue(&[alert("a", 2), alert("b", 1)]).unwrap(), 2);
        assert_eq!(q.enqueue(&[alert("a", 3)]).unwrap(), 0, "already pending");
        let pending = q.pending().unwrap();
        assert_eq!(pending[0].1.id, "b", "oldest first");
        q.delivered(&pending[0].0, "b").unwrap();
        // After a restart, a replayed batch does not queue the delivered alert again.
        let q = queue(dir.path(), 10);
        assert_eq!(q.enqueue(&[alert("b", 4)]).unwrap(), 0);
        assert_eq!(q.pending().unwrap().len(), 1);
        assert_eq!(q.pending().unwrap()[0].1.summary, "s");
    }

    #[test]
    fn failed_attempts_outlive_a_restart_and_start_again_in_failed() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path(), 10);
        q.enqueue(&[alert("a", 1)]).unwrap();
        let (path, pending) = q.pending().unwrap().remove(0);
        assert_eq!(pending.attempts, 0);
        assert_eq!(q.failed_attempt(&path, &pending).unwrap(), 1);
        let (path, pending) = q.pending().unwrap().remove(0);
        assert_eq!(q.failed_attempt(&path, &pending).unwrap(), 2);
        // A restart reads the count back.
        let q = queue(dir.path(), 10);
        let (path, pending) = q.pending().unwrap().remove(0);
        assert_eq!(pending.attempts, 2);
        assert_eq!(pending.summary, "s");
        q.failed(&path, &pending, "out of attempts").unwrap();
        assert!(q.pending().unwrap().is_empty());
        // Moved back by hand, it has every attempt again.
        let name = path.file_name().unwrap();
        std::fs::rename(dir.path().join("outbox/ops/failed").join(name), &path).unwrap();
        let (_, back) = q.pending().unwrap().remove(0);
        assert_eq!(back.attempts, 0);
        assert_eq!(back.id, "a");
    }

    #[test]
    fn a_full_outbox_drops_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path(), 1);
        assert_eq!(q.enqueue(&[alert("a", 1), alert("b", 2)]).unwrap(), 1);
        assert_eq!(q.dropped.load(Ordering::Relaxed), 1);
    }
}

//! Alerts beyond the Kafka topic, and the breach review register.
//!
//! - [`outbox`]: alerts persisted per webhook until delivered (no loss across restarts, no
//!   duplicates from replays);
//! - [`webhook`]: the senders (HMAC-signed, idempotency key, retries with backoff);
//! - [`register`]: the append-only review trail of every breach;
//! - [`overdue`]: breaches not reviewed in time raise an overdue-review alert;
//! - [`periodic`]: the task that raises overdue-review and problem-candidate alerts.

pub mod outbox;
pub mod overdue;
pub mod periodic;
pub mod register;
pub mod webhook;

use crate::config::AlertSettings;
use outbox::{OutboxAlert, Queue};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use webhook::WebhookCounters;

/// Every configured webhook's outbox queue, and the signal that wakes their senders.
#[derive(Debug, Default)]
pub struct AlertSink {
    /// Each queue with the signal that wakes its sender (a permit is kept if it is busy).
    queues: Vec<(Arc<Queue>, Arc<Notify>)>,
    max_backoff: std::time::Duration,
    pub counters: Arc<WebhookCounters>,
}

impl AlertSink {
    /// Opens the outbox of each webhook under `data_dir` (pending alerts of an earlier run are
    /// picked up by the senders).
    pub fn open(data_dir: &Path, settings: &AlertSettings) -> std::io::Result<AlertSink> {
        let queues = settings
            .webhooks
            .iter()
            .map(|w| {
                Queue::open(data_dir, w.clone(), settings.max_pending)
                    .map(|q| (Arc::new(q), Arc::new(Notify::new())))
            })
            .collect::<Result<_, _>>()?;
        Ok(AlertSink {
            queues,
            max_backoff: settings.max_backoff,
            counters: Arc::default(),
        })
    }

    /// True when no webhook is configured.
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// Persists `alerts` for every webhook (blocking file I/O) and wakes the senders.
    pub fn enqueue(&self, alerts: &[OutboxAlert]) -> std::io::Result<()> {
        if alerts.is_empty() {
            return Ok(());
        }
        for (queue, notify) in &self.queues {
            if queue.enqueue(alerts)? > 0 {
                notify.notify_one();
            }
        }
        Ok(())
    }

    /// Alerts dropped because a webhook's outbox was full.
    pub fn dropped(&self) -> u64 {
        self.queues
            .iter()
            .map(|(q, _)| q.dropped.load(std::sync::atomic::Ordering::Relaxed))
            .sum()
    }

    /// Starts one sender per webhook; they stop when `stop` turns true.
    pub fn spawn(&self, stop: &watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        self.queues
            .iter()
            .map(|(queue, notify)| {
                tokio::spawn(webhook::run_sender(
                    queue.clone(),
                    notify.clone(),
                    self.max_backoff,
                    self.counters.clone(),
                    stop.clone(),
                ))
            })
            .collect()
    }
}

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
    /// Each webhook's TLS client configuration (Mozilla's roots plus its `ca_file`).
    tls: Vec<rustls::ClientConfig>,
    max_backoff: std::time::Duration,
    max_attempts: u32,
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
        let tls = settings
            .webhooks
            .iter()
            .map(|w| crate::tls::client_config(w.ca_file.as_deref()))
            .collect::<Result<_, _>>()
            .map_err(std::io::Error::other)?;
        Ok(AlertSink {
            queues,
            tls,
            max_backoff: settings.max_backoff,
            max_attempts: settings.max_attempts,
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
            .zip(&self.tls)
            .map(|((queue, notify), tls)| {
                let sender = webhook::Sender {
                    queue: queue.clone(),
                    notify: notify.clone(),
                    tls: tls.clone(),
                    max_backoff: self.max_backoff,
                    max_attempts: self.max_attempts,
                    counters: self.counters.clone(),
                };
                tokio::spawn(sender.run(stop.clone()))
            })
            .collect()
    }
}

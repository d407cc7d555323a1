//! Kafka client settings and the consumer context (readiness and lag).

use crate::config::KafkaSettings;
use crate::telemetry::Counters;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::statistics::Statistics;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Consumer settings: a group member that never commits on its own. Offsets are committed by the
/// pipeline only after the history holding the records is durable.
pub fn consumer_config(kafka: &KafkaSettings) -> ClientConfig {
    let session_ms = kafka.session_timeout.as_millis().max(1000);
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", &kafka.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", session_ms.to_string())
        .set(
            "heartbeat.interval.ms",
            (session_ms / 3).min(3000).to_string(),
        )
        .set("statistics.interval.ms", "1000")
        .set("client.id", "slacap");
    for (key, value) in kafka.client.iter() {
        config.set(key, value);
    }
    config
}

/// Producer settings for dead letters and alerts: idempotent, acknowledged by all replicas.
pub fn producer_config(kafka: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &kafka.brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000")
        .set("client.id", "slacap");
    for (key, value) in kafka.client.iter() {
        config.set(key, value);
    }
    config
}

/// Tracks whether the consumer has partitions (for `/healthz`) and its lag (for `/metrics`).
pub struct IngestContext {
    pub assigned: Arc<AtomicBool>,
    pub counters: Arc<Counters>,
    /// The partitions this instance owns now: (topic, partition).
    pub assignment: super::batch::Assignment,
    /// Each partition's high watermark from the latest fetch responses (via statistics), with
    /// when it was read: the log end that offset regressions are judged by.
    pub high_watermarks: HighWatermarks,
}

/// (topic, partition) → (high watermark, when the statistics reported it).
pub type HighWatermarks = Arc<Mutex<HashMap<(String, i32), (i64, Instant)>>>;

impl ClientContext for IngestContext {
    fn stats(&self, statistics: Statistics) {
        let now = Instant::now();
        if let Ok(mut marks) = self.high_watermarks.lock() {
            for (topic, t) in &statistics.topics {
                for (id, p) in &t.partitions {
                    if *id >= 0 && p.hi_offset >= 0 {
                        marks.insert((topic.clone(), *id), (p.hi_offset, now));
                    }
                }
            }
        }
        let lag: i64 = statistics
            .topics
            .values()
            .flat_map(|t| t.partitions.iter())
            .filter(|(id, _)| **id >= 0)
            .map(|(_, p)| p.consumer_lag.max(0))
            .sum();
        self.counters.consumer_lag.store(lag, Ordering::Relaxed);
        // Each owned partition's lag (partitions in the statistics but not owned are left out).
        let mut owned = self
            .counters
            .partitions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (key, partition_lag) in owned.iter_mut() {
            if let Some(p) = statistics
                .topics
                .get(&key.0)
                .and_then(|t| t.partitions.get(&key.1))
            {
                *partition_lag = p.consumer_lag.max(0);
            }
        }
    }
}

impl ConsumerContext for IngestContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                tracing::info!(partitions = partitions.count(), "partitions assigned");
                let owned: Vec<(String, i32)> = partitions
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition()))
                    .collect();
                *self
                    .counters
                    .partitions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = owned
                    .iter()
                    .map(|key: &(String, i32)| (key.clone(), 0))
                    .collect();
                *self.assignment.lock().unwrap_or_else(|p| p.into_inner()) = owned;
                self.assigned
                    .store(partitions.count() > 0, Ordering::Relaxed);
            }
            Rebalance::Revoke(_) => {
                self.counters
                    .partitions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
                self.assignment
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
                self.assigned.store(false, Ordering::Relaxed);
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance failed"),
        }
    }
}

/// Refuses topics partitioned unlike each other: the SLA state of a service is kept per source
/// partition, and its metrics and tickets must arrive on the same partition number (both keyed
/// by service, with the same partition count) for the partition that owns it to see both.
/// Topics that do not exist yet are not judged (they are checked at the next start).
pub fn check_co_partitioned<C: ConsumerContext>(
    consumer: &StreamConsumer<C>,
    metrics: &str,
    tickets: &str,
) -> Result<(), super::PipelineError> {
    let count = |topic: &str| -> Option<usize> {
        let metadata = consumer
            .fetch_metadata(Some(topic), std::time::Duration::from_secs(10))
            .map_err(
                |error| tracing::warn!(%error, topic, "no topic metadata for the partition check"),
            )
            .ok()?;
        let found = metadata.topics().iter().find(|t| t.name() == topic)?;
        if found.error().is_some() || found.partitions().is_empty() {
            return None;
        }
        Some(found.partitions().len())
    };
    let (Some(metrics_partitions), Some(tickets_partitions)) = (count(metrics), count(tickets))
    else {
        return Ok(());
    };
    if metrics_partitions != tickets_partitions {
        return Err(super::PipelineError::NotCoPartitioned {
            metrics: metrics.to_string(),
            metrics_partitions,
            tickets: tickets.to_string(),
            tickets_partitions,
        });
    }
    Ok(())
}

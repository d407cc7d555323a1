//! Delivery of a batch's findings before its checkpoint: dead letters to the dead-letter
//! topic (spilled to disk when the broker refuses them), alerts to the alerts topic and the
//! webhooks' outboxes, each acknowledged before the batch counts as durable.

use super::batch::DeadLetter;
use super::dead_letter;
use super::pipeline::PipelineError;
use crate::config::Config;
use crate::model::format_rfc3339;
use crate::sla::{Breach, TicketWarning};
use crate::telemetry::{Counters, add};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::sync::Arc;
use std::time::Duration;

/// What a batch needs to hand its findings on: cheap to clone into the task that finishes it.
#[derive(Clone)]
pub struct Delivery {
    pub(super) config: Arc<Config>,
    pub(super) producer: FutureProducer,
    pub(super) alerts: Arc<crate::alert::AlertSink>,
    pub(super) counters: Arc<Counters>,
}

impl Delivery {
    /// Sends dead letters and alerts and waits until the broker has acknowledged all of them.
    ///
    /// A batch's alerts (breaches, warnings, burn-rate transitions) are first written to
    /// `<data_dir>/alerts-in-flight.json`, which goes once the batch's checkpoint is saved. A
    /// crash between the alerts topic and the webhooks' outboxes would otherwise leave an alert
    /// on one side only: the restart applies the batch's records again, but where late events
    /// fall into other batches, the same warning need not be found again. A start delivers
    /// what the file holds to both before it consumes.
    pub async fn deliver(
        &self,
        dead_letters: &[DeadLetter],
        alerts: &[Breach],
        notices: &[(String, String)],
    ) -> Result<(), PipelineError> {
        self.deliver_dead_letters(dead_letters).await?;
        let mut outgoing: Vec<(String, String)> = alerts
            .iter()
            .map(|breach| {
                tracing::debug!(id = %breach.id, service = %breach.service, kind = breach.kind.as_str(), "breach");
                (breach.id.clone(), alert_payload(breach))
            })
            .collect();
        // Warnings and burn-rate transitions: (key, payload).
        outgoing.extend(notices.iter().cloned());
        if outgoing.is_empty() {
            return Ok(());
        }
        let journal = in_flight_path(&self.config.settings.data_dir);
        let bytes = serde_json::to_vec(&outgoing).unwrap_or_default();
        tokio::task::spawn_blocking(move || {
            crate::store::write_atomically(&journal, |file| {
                std::io::Write::write_all(file, &bytes).map_err(crate::store::error::io(&journal))
            })
        })
        .await??;
        self.publish_alerts(&outgoing).await
    }

    /// Delivers the alerts a crashed run had in flight (see [`Delivery::deliver`]), if any.
    pub async fn redeliver_in_flight(&self) -> Result<(), PipelineError> {
        let journal = in_flight_path(&self.config.settings.data_dir);
        let Ok(bytes) = std::fs::read(&journal) else {
            return Ok(());
        };
        let outgoing: Vec<(String, String)> = match serde_json::from_slice(&bytes) {
            Ok(outgoing) => outgoing,
            Err(error) => {
                // Written atomically, so only a damaged disk or a hand edit gets here. Keep the
                // bytes for the operator rather than start with a silent gap in the alerts.
                let kept = journal.with_extension("json.unreadable");
                tracing::error!(%error, path = %kept.display(), "the alerts in flight at the last stop cannot be read; their file is kept for inspection and the batch's alerts are raised again only if its records are");
                std::fs::rename(&journal, &kept).map_err(PipelineError::Outbox)?;
                return Ok(());
            }
        };
        tracing::warn!(
            alerts = outgoing.len(),
            "delivering the alerts of a batch that was not checkpointed before the last stop"
        );
        self.publish_alerts(&outgoing).await?;
        remove_in_flight(&self.config.settings.data_dir);
        Ok(())
    }

    /// Publishes (id, payload) alerts to the alerts topic, waits for the broker, then queues
    /// them in the webhooks' outboxes.
    async fn publish_alerts(&self, outgoing: &[(String, String)]) -> Result<(), PipelineError> {
        let topics = &self.config.settings.kafka.topics;
        let counters = self.counters.clone();
        let mut pending = Vec::new();
        for (key, payload) in outgoing {
            let record = FutureRecord::to(&topics.alerts)
                .key(key.as_bytes())
                .payload(payload.as_bytes());
            pending.push((topics.alerts.clone(), self.enqueue(record).await?));
        }
        for (topic, delivery) in pending {
            match delivery.await {
                Ok(Ok(_)) => {
                    if topic == topics.alerts {
                        add(&counters.alerts_published_total, 1);
                    }
                }
                Ok(Err((error, _))) => return Err(PipelineError::Delivery { topic, error }),
                Err(_) => {
                    return Err(PipelineError::Delivery {
                        topic,
                        error: KafkaError::Canceled,
                    });
                }
            }
        }
        // The webhooks' outboxes, durable before the checkpoint: a crash after this re-sends
        // nothing twice (the outbox knows what it holds and what it sent), and one before it
        // replays the batch and queues the alerts then.
        if !self.alerts.is_empty() && !outgoing.is_empty() {
            let now = chrono::Utc::now().timestamp_micros();
            let outgoing: Vec<crate::alert::outbox::OutboxAlert> = outgoing
                .iter()
                .map(|(key, payload)| {
                    crate::alert::outbox::OutboxAlert::from_payload(key, payload, now)
                })
                .collect();
            let sink = self.alerts.clone();
            tokio::task::spawn_blocking(move || sink.enqueue(&outgoing))
                .await?
                .map_err(PipelineError::Outbox)?;
        }
        Ok(())
    }

    /// Sends the dead letters (truncated where too large) and waits for the broker's
    /// acknowledgement; a letter it cannot take is written whole to `<data_dir>/dead-letter/`.
    /// Only a failure to write that file stops the pipeline (the disk is then the problem).
    async fn deliver_dead_letters(&self, dead_letters: &[DeadLetter]) -> Result<(), PipelineError> {
        let settings = &self.config.settings;
        let counters = self.counters.clone();
        let mut pending = Vec::new();
        let mut undelivered = Vec::new();
        for dead in dead_letters {
            let sent = dead_letter::letter(dead, settings.pipeline.dead_letter_max_bytes);
            if sent.truncated {
                add(&counters.dead_letters_truncated_total, 1);
            }
            let mut record: FutureRecord<[u8], [u8]> =
                FutureRecord::to(&settings.kafka.topics.dead_letter)
                    .headers(sent.headers)
                    .payload(sent.payload);
            if let Some(key) = sent.key {
                record = record.key(key);
            }
            tracing::debug!(topic = %dead.record.topic, partition = dead.record.partition, offset = dead.record.offset, reason = %dead.reason, "dead letter");
            match self.enqueue(record).await {
                Ok(delivery) => pending.push((dead, delivery)),
                Err(error) => undelivered.push((dead, error.to_string())),
            }
        }
        for (dead, delivery) in pending {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => undelivered.push((dead, error.to_string())),
                Err(_) => undelivered.push((dead, KafkaError::Canceled.to_string())),
            }
        }
        if undelivered.is_empty() {
            return Ok(());
        }
        let data_dir = settings.data_dir.clone();
        let owned: Vec<(DeadLetter, String)> = undelivered
            .into_iter()
            .map(|(d, e)| (d.clone(), e))
            .collect();
        let spilled = tokio::task::spawn_blocking(move || {
            for (dead, error) in &owned {
                let path = dead_letter::spill(&data_dir, dead, error).map_err(|message| {
                    PipelineError::Outbox(std::io::Error::other(format!(
                        "cannot keep an undeliverable dead letter: {message}"
                    )))
                })?;
                tracing::error!(topic = %dead.record.topic, partition = dead.record.partition, offset = dead.record.offset, %error, path = %path.display(), "dead letter not deliverable; kept on disk");
            }
            Ok::<usize, PipelineError>(owned.len())
        })
        .await??;
        add(&counters.dead_letters_spilled_total, spilled as u64);
        Ok(())
    }

    /// Queues a record, waiting while the producer's queue is full.
    async fn enqueue<
        K: rdkafka::message::ToBytes + ?Sized,
        P: rdkafka::message::ToBytes + ?Sized,
    >(
        &self,
        mut record: FutureRecord<'_, K, P>,
    ) -> Result<rdkafka::producer::DeliveryFuture, PipelineError> {
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((
                    KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    back,
                )) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err((error, _)) => return Err(error.into()),
            }
        }
    }
}

/// Where a batch's alerts wait until its checkpoint is saved.
fn in_flight_path(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("alerts-in-flight.json")
}

pub(super) fn remove_in_flight(data_dir: &std::path::Path) {
    match std::fs::remove_file(in_flight_path(data_dir)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(%error, "could not remove alerts-in-flight.json"),
    }
}

/// A message: the record as JSON, with `kind` (when given) and `summary`, a line a person can
/// read.
fn payload(record: &impl serde::Serialize, kind: Option<&str>, summary: String) -> String {
    let mut value = serde_json::to_value(record).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        if let Some(kind) = kind {
            object.insert("kind".into(), kind.into());
        }
        object.insert("summary".into(), summary.into());
    }
    value.to_string()
}

/// The alert message: the breach record plus a line a person can read.
pub fn alert_payload(breach: &Breach) -> String {
    let summary = match (&breach.ticket, &breach.slo) {
        (Some(ticket), _) => format!(
            "{}: ticket {} breached its {} target of {}s (at {})",
            breach.service,
            ticket,
            breach.kind.as_str().trim_start_matches("ticket_"),
            breach.target,
            format_rfc3339(breach.detected_at)
        ),
        (None, Some(slo)) => format!(
            "{}: SLO {} ({}) has spent its error budget: attained {:.5} against {}",
            breach.service,
            slo,
            breach.slo_window.as_deref().unwrap_or(""),
            breach.observed,
            breach.target
        ),
        _ => format!("{}: breach {}", breach.service, breach.id),
    };
    payload(breach, None, summary)
}

/// The warning message: `kind` = `ticket_warning`, the warning record, and a readable line.
pub fn warning_payload(warning: &TicketWarning) -> String {
    let summary = format!(
        "{}: ticket {} has used {}% of its {} target of {}s (at {})",
        warning.service,
        warning.ticket,
        warning.percent,
        warning.metric,
        warning.target_seconds,
        format_rfc3339(warning.at)
    );
    payload(warning, Some("ticket_warning"), summary)
}

/// The burn-rate message: `kind` = `burn_rate`, the transition, and a readable line.
pub fn burn_payload(alert: &crate::sla::burn::BurnAlert) -> String {
    let summary = format!(
        "{}: SLO {} error budget burning at {:.1}x (rule {}, threshold {:.1}x): {} at {}",
        alert.service,
        alert.slo,
        alert.long_window_burn_rate,
        alert.rule,
        alert.threshold,
        alert.state,
        format_rfc3339(alert.at)
    );
    payload(alert, Some("burn_rate"), summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreadable_in_flight_file_is_kept_aside_not_dropped() {
        let data = tempfile::tempdir().unwrap();
        let settings = crate::demo::settings_for(
            "127.0.0.1:1".into(),
            "group",
            Default::default(),
            data.path().to_path_buf(),
            "127.0.0.1:0".parse().unwrap(),
        );
        let producer = super::super::kafka::producer_config(&settings.kafka)
            .create()
            .unwrap();
        let alerts =
            Arc::new(crate::alert::AlertSink::open(data.path(), &settings.alerts).unwrap());
        let config = Arc::new(Config {
            settings,
            catalogue: crate::demo::sample_catalogue().unwrap(),
            source: "<test>".into(),
        });
        let delivery = Delivery {
            config,
            producer,
            alerts,
            counters: Arc::default(),
        };
        let journal = in_flight_path(data.path());
        std::fs::write(&journal, b"[[\"INC-1:response\", tru").unwrap();
        delivery.redeliver_in_flight().await.unwrap();
        assert!(!journal.exists());
        let kept = data.path().join("alerts-in-flight.json.unreadable");
        assert_eq!(
            std::fs::read(kept).unwrap(),
            b"[[\"INC-1:response\", tru".to_vec()
        );
    }
}

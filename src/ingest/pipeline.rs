//! The ingest loop: consume a batch, process it on a blocking thread, deliver dead letters and
//! alerts, save the checkpoint, then commit the offsets. A crash at any point replays from the
//! last checkpoint into the same file names, so nothing is lost and nothing doubles.

use super::batch::{BatchOutcome, DeadLetter, Processor, RawRecord};
use super::dead_letter;
use super::decode::Stream;
use super::kafka::{IngestContext, consumer_config, producer_config};
use crate::config::Config;
use crate::config::OffsetRegression;
use crate::model::format_rfc3339;
use crate::sla::{Breach, SlaEngine, TicketWarning};
use crate::store::{HistoryStore, StoreError, kafka_topic};
use crate::telemetry::{Counters, add};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("history: {0}")]
    Store(#[from] StoreError),
    #[error("delivering to `{topic}` failed: {error}")]
    Delivery { topic: String, error: KafkaError },
    #[error("batch worker failed: {0}")]
    Worker(#[from] tokio::task::JoinError),
    #[error("webhook outbox: {0}")]
    Outbox(std::io::Error),
    #[error(
        "{topic} partition {partition}: the log ends at offset {log_end}, below the checkpoint's {checkpoint} (topic re-created or broker data lost); ingest halted (pipeline.on_offset_regression = \"reset\" consumes the new log from its start)"
    )]
    OffsetRegression {
        topic: String,
        partition: i32,
        log_end: i64,
        checkpoint: i64,
    },
}

/// Shared handles the API reads while the pipeline runs.
#[derive(Clone)]
pub struct PipelineHandles {
    pub engine: Arc<RwLock<SlaEngine>>,
    pub counters: Arc<Counters>,
    /// True while the consumer holds partitions.
    pub assigned: Arc<AtomicBool>,
    /// The webhooks' outboxes: every alert is persisted there before the batch's checkpoint.
    pub alerts: Arc<crate::alert::AlertSink>,
    /// Whether the SLA state is rebuilt yet, and how far the replay got.
    pub startup: Arc<super::startup::Startup>,
}

pub struct Pipeline {
    alerts: Arc<crate::alert::AlertSink>,
    config: Arc<Config>,
    consumer: Arc<StreamConsumer<IngestContext>>,
    producer: FutureProducer,
    processor: Option<Processor>,
    engine: Arc<RwLock<SlaEngine>>,
    startup: Arc<super::startup::Startup>,
    /// The checkpoint's watermark: where the rebuilt state resumes.
    restored_watermark: Option<i64>,
    /// Where the restored state's replay of the raw tables stopped (the checkpoint).
    restored_bound: Option<crate::store::ReplayBound>,
    /// The last snapshot of the SLA state written.
    snapshots: SnapshotMark,
    /// When each partition's log end was last compared with the checkpoint.
    offsets_checked: HashMap<(Arc<str>, i32), Instant>,
    /// Partitions that delivered records the checkpoint covers, since when: judged once a
    /// high watermark newer than that is known.
    suspects: HashMap<(Arc<str>, i32), Instant>,
}

/// When, at which batch and at which watermark day the last snapshot was written.
struct SnapshotMark {
    at: Instant,
    seq: u64,
    day: Option<i64>,
}

/// A partition's log end is compared with the checkpoint at most this often.
const OFFSET_CHECK_INTERVAL: Duration = Duration::from_secs(30);

impl Pipeline {
    /// Opens the history (withdrawing what a crash left beyond the checkpoint) and connects to
    /// Kafka. The SLA state is rebuilt by [`Pipeline::restore`] before [`Pipeline::run`].
    pub fn open(config: Arc<Config>, handles: &PipelineHandles) -> Result<Pipeline, PipelineError> {
        let lost = crate::store::checkpoint_lost(&config.settings.data_dir);
        let (store, checkpoint) = HistoryStore::open(&config.settings.data_dir)?;
        let watermark = checkpoint.watermark;
        let topics = &config.settings.kafka.topics;
        let bound = crate::store::ReplayBound::from_checkpoint(
            &checkpoint,
            (&topics.metrics, &topics.tickets),
        )
        .filter(|_| !lost);
        let assignment = Arc::new(std::sync::Mutex::new(Vec::new()));
        let context = IngestContext {
            assigned: handles.assigned.clone(),
            counters: handles.counters.clone(),
            assignment: assignment.clone(),
            high_watermarks: Default::default(),
        };
        let consumer: StreamConsumer<IngestContext> =
            consumer_config(&config.settings.kafka).create_with_context(context)?;
        consumer.subscribe(&[&topics.metrics, &topics.tickets])?;
        let producer: FutureProducer = producer_config(&config.settings.kafka).create()?;
        let catalogue = Arc::new(config.catalogue.clone());
        let idle_after = config.settings.pipeline.idle_partition_timeout;
        let mut processor = Processor::new(
            catalogue,
            handles.engine.clone(),
            store,
            checkpoint,
            handles.counters.clone(),
            idle_after,
        );
        processor.follow_assignment(assignment, config.settings.kafka.topics.metrics.clone());
        let limits = &config.settings.pipeline;
        processor.bound_inputs(limits);
        processor.follow_wall_clock(limits.idle_watermark_follows_clock);
        processor.resume_after(bound.clone());
        Ok(Pipeline {
            config,
            consumer: Arc::new(consumer),
            producer,
            processor: Some(processor),
            offsets_checked: Default::default(),
            suspects: Default::default(),
            alerts: handles.alerts.clone(),
            engine: handles.engine.clone(),
            startup: handles.startup.clone(),
            restored_watermark: watermark,
            restored_bound: bound,
            snapshots: SnapshotMark {
                at: Instant::now(),
                seq: 0,
                day: None,
            },
        })
    }

    /// Opens the history and rebuilds the SLA state (both blocking: call from a blocking
    /// thread), ready to run.
    pub fn start(
        config: Arc<Config>,
        handles: &PipelineHandles,
    ) -> Result<Pipeline, PipelineError> {
        let pipeline = Pipeline::open(config, handles)?;
        pipeline.restore()?;
        Ok(pipeline)
    }

    /// Rebuilds the SLA state from the history into a fresh engine, swaps it in and marks the
    /// start-up ready. Blocking: call from a blocking thread. Readers of the shared engine are
    /// not held up meanwhile (the API answers 503 `starting` until ready).
    pub fn restore(&self) -> Result<(), PipelineError> {
        let rebuilt = restore(
            self.store(),
            &self.config,
            self.restored_watermark,
            self.restored_bound.as_ref(),
            &self.startup,
        )?;
        *self.engine.write().unwrap_or_else(|p| p.into_inner()) = rebuilt;
        self.startup.mark_ready();
        Ok(())
    }

    /// The history this pipeline writes.
    pub fn store(&self) -> &HistoryStore {
        match &self.processor {
            Some(p) => p.store(),
            None => unreachable!("the processor is only taken while a batch is in flight"),
        }
    }

    /// Runs until `shutdown` turns true; the batch in hand is finished before returning.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), PipelineError> {
        let settings = self.config.settings.pipeline.clone();
        let metrics_topic = self.config.settings.kafka.topics.metrics.clone();
        let (metrics_name, tickets_name): (Arc<str>, Arc<str>) = (
            metrics_topic.as_str().into(),
            self.config.settings.kafka.topics.tickets.as_str().into(),
        );
        let counters = self.counters();
        self.redeliver_in_flight().await?;
        let mut last_flush = Instant::now();
        loop {
            let mut records = Vec::new();
            let deadline = Instant::now() + settings.batch_max_wait;
            let mut stopping = *shutdown.borrow();
            while !stopping && records.len() < settings.batch_max_records {
                tokio::select! {
                    changed = shutdown.changed() => stopping = changed.is_err() || *shutdown.borrow(),
                    received = tokio::time::timeout_at(deadline, self.consumer.recv()) => match received {
                        Err(_) => break,
                        Ok(Ok(message)) => {
                            let topic = message.topic();
                            let (stream, name) = if topic == metrics_topic { (Stream::Metrics, metrics_name.clone()) } else { (Stream::Tickets, tickets_name.clone()) };
                            records.push(RawRecord {
                                stream,
                                topic: name,
                                partition: message.partition(),
                                offset: message.offset(),
                                key: message.key().map(<[u8]>::to_vec),
                                payload: message.payload().map(<[u8]>::to_vec),
                            });
                        }
                        Ok(Err(error)) => {
                            add(&counters.consumer_errors_total, 1);
                            tracing::warn!(%error, "consumer error");
                        }
                    }
                }
            }
            if !records.is_empty() || last_flush.elapsed() >= settings.idle_partition_timeout {
                match self.flush(records).await {
                    Err(error @ PipelineError::OffsetRegression { .. }) => {
                        // Stay up, unhealthy, so the operator sees why in /healthz and /metrics.
                        counters
                            .ingest_halted
                            .store(1, std::sync::atomic::Ordering::Relaxed);
                        let _ = shutdown.wait_for(|stop| *stop).await;
                        return Err(error);
                    }
                    other => other?,
                }
                last_flush = Instant::now();
            }
            self.maybe_snapshot(stopping).await?;
            if stopping {
                tracing::info!("pipeline stopped");
                return Ok(());
            }
        }
    }

    /// Writes a snapshot of the SLA state when one is due: every `history.snapshot_every`,
    /// when the watermark enters a new day (so a late event finds one taken before its day; at
    /// most one per 10 s), and at shutdown. The state is the checkpoint's: no batch is in flight here.
    async fn maybe_snapshot(&mut self, stopping: bool) -> Result<(), PipelineError> {
        let Some(processor) = self.processor.as_ref() else {
            return Ok(());
        };
        let checkpoint = processor.checkpoint().clone();
        if checkpoint.seq == 0 || checkpoint.seq == self.snapshots.seq {
            return Ok(());
        }
        let day = checkpoint.watermark.map(|w| w.div_euclid(86_400_000_000));
        let history = &self.config.settings.history;
        let since = self.snapshots.at.elapsed();
        // A new watermark day gets its snapshot, but a backfill crossing a day every few
        // batches gets one at most every 10 seconds.
        let due = stopping
            || since >= history.snapshot_every
            || (day != self.snapshots.day && since >= Duration::from_secs(10));
        if !due {
            return Ok(());
        }
        let engine = self.engine.clone();
        let store = processor.store().clone();
        let topics = &self.config.settings.kafka.topics;
        let topics = (topics.metrics.clone(), topics.tickets.clone());
        let keep_days = (self.config.settings.pipeline.max_event_age.as_secs() / 86_400) as i64 + 1;
        let started = std::time::Instant::now();
        let saved = checkpoint.clone();
        let bytes = tokio::task::spawn_blocking(move || {
            let state = engine.read().unwrap_or_else(|p| p.into_inner()).snapshot();
            store.save_snapshot(&saved, state, topics, keep_days)
        })
        .await??;
        add(&self.counters().snapshots_total, 1);
        tracing::debug!(
            seq = checkpoint.seq,
            bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "snapshot of the SLA state written"
        );
        self.snapshots = SnapshotMark {
            at: Instant::now(),
            seq: checkpoint.seq,
            day,
        };
        Ok(())
    }

    fn counters(&self) -> Arc<Counters> {
        self.consumer.context().counters.clone()
    }

    /// Records the checkpoint already covers arrive after a restart or a rebalance, and when a
    /// partition's log was replaced (its offsets start again below the checkpoint's). Tell the
    /// two apart by the log end: below the checkpoint's next offset, the log is not the one the
    /// checkpoint describes, and skipping its records as replays would lose them silently.
    ///
    /// The log end is the high watermark of fetch responses (from librdkafka's statistics),
    /// taken only once it is newer than the suspect records: a broker's ListOffsets answer is
    /// not relied on (some Kafka-protocol brokers report it wrong for multi-record batches).
    /// Skipping the suspect records meanwhile loses nothing: `reset` seeks back to the start.
    fn check_offsets(&mut self, records: &[RawRecord]) -> Result<(), PipelineError> {
        let Some(processor) = self.processor.as_mut() else {
            return Ok(());
        };
        let arrived = Instant::now();
        for record in records {
            let key = (record.topic.clone(), record.partition);
            let due = self
                .offsets_checked
                .get(&key)
                .is_none_or(|at| at.elapsed() >= OFFSET_CHECK_INTERVAL);
            if due && !self.suspects.contains_key(&key) && processor.covers(record) {
                self.suspects.insert(key, arrived);
            }
        }
        if self.suspects.is_empty() {
            return Ok(());
        }
        let marks = self
            .consumer
            .context()
            .high_watermarks
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        let judged: Vec<((Arc<str>, i32), i64)> = self
            .suspects
            .iter()
            .filter_map(|(key, since)| {
                let (high, at) = marks.get(&(key.0.to_string(), key.1))?;
                (*at > since.into_std()).then_some((key.clone(), *high))
            })
            .collect();
        for ((topic, partition), log_end) in judged {
            self.suspects.remove(&(topic.clone(), partition));
            self.offsets_checked
                .insert((topic.clone(), partition), Instant::now());
            let checkpoint = processor.next_offset(&topic, partition);
            if log_end >= checkpoint {
                continue;
            }
            add(
                &self.consumer.context().counters.offset_regressions_total,
                1,
            );
            let error = PipelineError::OffsetRegression {
                topic: topic.to_string(),
                partition,
                log_end,
                checkpoint,
            };
            match self.config.settings.pipeline.on_offset_regression {
                OffsetRegression::Halt => {
                    tracing::error!(%error, "offset regression");
                    return Err(error);
                }
                OffsetRegression::Reset => {
                    let key = processor.start_generation(&topic, partition);
                    tracing::error!(%topic, partition, log_end, checkpoint, source_key = %key, "offset regression: the partition's new log is consumed from its start as a new generation");
                    self.consumer.seek(
                        &topic,
                        partition,
                        Offset::Beginning,
                        Duration::from_secs(10),
                    )?;
                }
            }
        }
        Ok(())
    }

    async fn flush(&mut self, records: Vec<RawRecord>) -> Result<(), PipelineError> {
        self.check_offsets(&records)?;
        let Some(mut processor) = self.processor.take() else {
            return Ok(());
        };
        let (mut processor, result) = tokio::task::spawn_blocking(move || {
            let result = processor.process(records);
            (processor, result)
        })
        .await?;
        let outcome = match result {
            Ok(Some(outcome)) => outcome,
            Ok(None) => {
                self.processor = Some(processor);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let BatchOutcome {
            dead_letters,
            alerts,
            warnings,
            burn_alerts,
            checkpoint,
            commits,
            records,
        } = outcome;
        if !alerts.is_empty() || !dead_letters.is_empty() {
            tracing::info!(
                breaches = alerts.len(),
                dead_letters = dead_letters.len(),
                "batch findings"
            );
        }
        let mut notices: Vec<(String, String)> = warnings
            .iter()
            .map(|w| (w.id.clone(), warning_payload(w)))
            .collect();
        notices.extend(
            burn_alerts
                .iter()
                .map(|b| (format!("{}:{}", b.id, b.state), burn_payload(b))),
        );
        self.deliver(&dead_letters, &alerts, &notices).await?;
        let store = processor.store().clone();
        let saved = checkpoint.clone();
        let data_dir = self.config.settings.data_dir.clone();
        tokio::task::spawn_blocking(move || {
            store.save_checkpoint(&saved)?;
            remove_in_flight(&data_dir);
            Ok::<_, crate::store::StoreError>(())
        })
        .await??;
        processor.checkpoint_saved(checkpoint);
        self.processor = Some(processor);

        let counters = self.counters();
        add(&counters.batches_total, 1);
        add(&counters.records_durable_total, records);
        if commits.is_empty() {
            return Ok(());
        }
        let mut offsets = TopicPartitionList::new();
        for (topic, partition, next) in &commits {
            offsets.add_partition_offset(kafka_topic(topic), *partition, Offset::Offset(*next))?;
        }
        // The checkpoint already makes the batch durable; the Kafka commit lets other group
        // members (and tools) see progress. A refused commit is superseded by the next one.
        match self.consumer.commit(&offsets, CommitMode::Async) {
            Ok(()) => add(&counters.offsets_committed_total, commits.len() as u64),
            Err(error) => {
                add(&counters.commit_errors_total, 1);
                tracing::warn!(%error, "offset commit failed");
            }
        }
        Ok(())
    }

    /// Sends dead letters and alerts and waits until the broker has acknowledged all of them.
    ///
    /// A batch's alerts (breaches, warnings, burn-rate transitions) are first written to
    /// `<data_dir>/alerts-in-flight.json`, which goes once the batch's checkpoint is saved. A
    /// crash between the alerts topic and the webhooks' outboxes would otherwise leave an alert
    /// on one side only: the restart applies the batch's records again, but where late events
    /// fall into other batches, the same warning need not be found again. A start delivers
    /// what the file holds to both before it consumes.
    async fn deliver(
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

    /// Delivers the alerts a crashed run had in flight (see [`Pipeline::deliver`]), if any.
    async fn redeliver_in_flight(&self) -> Result<(), PipelineError> {
        let journal = in_flight_path(&self.config.settings.data_dir);
        let Ok(bytes) = std::fs::read(&journal) else {
            return Ok(());
        };
        let outgoing: Vec<(String, String)> = serde_json::from_slice(&bytes).unwrap_or_default();
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
        let counters = self.counters();
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
        let counters = self.counters();
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

fn remove_in_flight(data_dir: &std::path::Path) {
    match std::fs::remove_file(in_flight_path(data_dir)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(%error, "could not remove alerts-in-flight.json"),
    }
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
    let mut value = serde_json::to_value(breach).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("summary".into(), summary.into());
    }
    value.to_string()
}

/// The warning message: `kind` = `ticket_warning`, the warning record, and a readable line.
pub fn warning_payload(warning: &TicketWarning) -> String {
    let mut value = serde_json::to_value(warning).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("kind".into(), "ticket_warning".into());
        let summary = format!(
            "{}: ticket {} has used {}% of its {} target of {}s (at {})",
            warning.service,
            warning.ticket,
            warning.percent,
            warning.metric,
            warning.target_seconds,
            format_rfc3339(warning.at)
        );
        object.insert("summary".into(), summary.into());
    }
    value.to_string()
}

/// The burn-rate message: `kind` = `burn_rate`, the transition, and a readable line.
pub fn burn_payload(alert: &crate::sla::burn::BurnAlert) -> String {
    let mut value = serde_json::to_value(alert).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("kind".into(), "burn_rate".into());
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
        object.insert("summary".into(), summary.into());
    }
    value.to_string()
}

/// Rebuilds the SLA state from the history, without emitting anything: every finding up to the
/// restored watermark was written (and alerted) before the restart.
fn restore(
    store: &HistoryStore,
    config: &Config,
    watermark: Option<i64>,
    bound: Option<&crate::store::ReplayBound>,
    startup: &super::startup::Startup,
) -> Result<SlaEngine, StoreError> {
    let started = std::time::Instant::now();
    let (mut engine, count) = crate::recompute::state_from_history(
        store,
        Arc::new(config.catalogue.clone()),
        config.settings.pipeline.allowed_lateness,
        None,
        bound,
        |events| startup.count_replayed(events),
    )?;
    if let Some(watermark) = watermark {
        engine.restore_watermark(watermark);
    }
    let silent = engine.settle();
    tracing::info!(
        events = count,
        findings_restored = silent.slices.len() + silent.outcomes.len() + silent.breaches.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "state rebuilt from history"
    );
    Ok(engine)
}

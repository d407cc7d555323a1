//! The ingest loop: consume a batch, apply it to the SLA state on a blocking thread, then write
//! it, deliver its dead letters and alerts, save its checkpoint and commit its offsets, while the
//! next batch is consumed and applied. A crash at any point replays from the
//! last checkpoint into the same file names, so nothing is lost and nothing doubles.

use super::batch::{Applied, BatchOutcome, Processor, RawRecord, Writer};
use super::decode::Stream;
use super::delivery::{Delivery, burn_payload, remove_in_flight, warning_payload};
use super::kafka::{IngestContext, consumer_config, producer_config};
use crate::config::Config;
use crate::config::OffsetRegression;
use crate::sla::SlaEngine;
use crate::store::{Checkpoint, HistoryStore, StoreError, kafka_topic};
use crate::telemetry::{Counters, add};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;
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
    #[error(
        "kafka.topics.metrics `{metrics}` has {metrics_partitions} partitions but kafka.topics.tickets `{tickets}` has {tickets_partitions}: a service's metrics and tickets must land on the same partition number, so both topics need the same partition count"
    )]
    NotCoPartitioned {
        metrics: String,
        metrics_partitions: usize,
        tickets: String,
        tickets_partitions: usize,
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
    config: Arc<Config>,
    consumer: Arc<StreamConsumer<IngestContext>>,
    delivery: Delivery,
    /// Stage one: decodes batches and applies them to the SLA state (taken while it runs).
    processor: Option<Processor>,
    /// Stage two of the batch before: written, delivered and checkpointed by its own task.
    writing: Option<tokio::task::JoinHandle<Result<Durable, PipelineError>>>,
    /// The checkpoint of the last durable batch.
    durable: Checkpoint,
    engine: Arc<RwLock<SlaEngine>>,
    startup: Arc<super::startup::Startup>,
    /// The checkpoint's watermark: where the rebuilt state resumes.
    restored_watermark: Option<i64>,
    /// Where the restored state's replay of the raw tables stopped (the checkpoint).
    restored_bound: Option<crate::store::ReplayBound>,
    /// The last snapshot of the SLA state written.
    snapshots: SnapshotMark,
    /// The newest snapshot, read while the history's tables loaded (taken by the restore).
    prefetched: Option<crate::store::SnapshotPrefetch>,
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

/// While a backlog is caught up, a batch also closes when no record has come for this long:
/// the backlog is drained, and waiting out `batch_max_wait` would only delay its last batch.
const CATCH_UP_GAP: Duration = Duration::from_millis(10);

impl Pipeline {
    /// Opens the history (withdrawing what a crash left beyond the checkpoint) and connects to
    /// Kafka. The SLA state is rebuilt by [`Pipeline::restore`] before [`Pipeline::run`].
    pub fn open(config: Arc<Config>, handles: &PipelineHandles) -> Result<Pipeline, PipelineError> {
        let lost = crate::store::checkpoint_lost(
            &config.settings.data_dir,
            &config.settings.history_location(),
        )?;
        let prefetched = HistoryStore::reader_for(&config.settings).prefetch_newest_snapshot();
        let (store, checkpoint) = HistoryStore::open_for(&config.settings)?;
        let watermark = checkpoint.watermark;
        let topics = &config.settings.kafka.topics;
        let bound = crate::store::ReplayBound::from_checkpoint(
            &checkpoint,
            (&topics.metrics, &topics.tickets),
        )
        .filter(|_| !lost);
        let assignment = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log_ends: super::kafka::HighWatermarks = Default::default();
        let context = IngestContext {
            assigned: handles.assigned.clone(),
            counters: handles.counters.clone(),
            assignment: assignment.clone(),
            high_watermarks: log_ends.clone(),
        };
        let consumer: StreamConsumer<IngestContext> =
            consumer_config(&config.settings.kafka).create_with_context(context)?;
        super::kafka::check_co_partitioned(&consumer, &topics.metrics, &topics.tickets)?;
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
        processor.follow_log_ends(log_ends);
        let limits = &config.settings.pipeline;
        processor.bound_inputs(limits);
        processor.follow_wall_clock(limits.idle_watermark_follows_clock);
        // Late-event corrections rebuild up to each batch's checkpoint only when the checkpoint
        // knows every partition the raw tables hold, as the restore's bound does; otherwise
        // (a lost checkpoint file, a reset log generation) from every raw row.
        if bound.is_some() {
            processor.name_topics(topics.metrics.clone(), topics.tickets.clone());
        }
        processor.resume_after(bound.clone());
        let delivery = Delivery {
            config: config.clone(),
            producer,
            alerts: handles.alerts.clone(),
            counters: handles.counters.clone(),
        };
        handles
            .counters
            .set_history_watermark(processor.checkpoint().watermark);
        Ok(Pipeline {
            config,
            consumer: Arc::new(consumer),
            delivery,
            durable: processor.checkpoint().clone(),
            processor: Some(processor),
            writing: None,
            offsets_checked: Default::default(),
            suspects: Default::default(),
            engine: handles.engine.clone(),
            startup: handles.startup.clone(),
            restored_watermark: watermark,
            restored_bound: bound,
            snapshots: SnapshotMark {
                at: Instant::now(),
                seq: 0,
                day: None,
            },
            prefetched: Some(prefetched),
        })
    }

    /// Opens the history and rebuilds the SLA state (both blocking: call from a blocking
    /// thread), ready to run.
    pub fn start(
        config: Arc<Config>,
        handles: &PipelineHandles,
    ) -> Result<Pipeline, PipelineError> {
        let mut pipeline = Pipeline::open(config, handles)?;
        pipeline.restore()?;
        Ok(pipeline)
    }

    /// Rebuilds the SLA state from the history into a fresh engine, swaps it in and marks the
    /// start-up ready. Blocking: call from a blocking thread. Readers of the shared engine are
    /// not held up meanwhile (the API answers 503 `starting` until ready).
    pub fn restore(&mut self) -> Result<(), PipelineError> {
        let prefetched = self
            .prefetched
            .take()
            .and_then(crate::store::SnapshotPrefetch::take);
        let (rebuilt, replayed) = restore(
            self.store(),
            &self.config,
            self.restored_watermark,
            self.restored_bound.as_ref(),
            prefetched,
            &self.startup,
        )?;
        // Restored from the newest snapshot with nothing replayed after it: that snapshot is
        // this state, so a stop before the next batch need not write it again.
        let seq = self.processor.as_ref().map_or(0, |p| p.checkpoint().seq);
        if replayed == 0
            && seq > 0
            && self
                .store()
                .snapshots()
                .ok()
                .and_then(|all| all.last().map(|s| s.seq))
                == Some(seq)
        {
            self.snapshots.seq = seq;
        }
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
        self.delivery.redeliver_in_flight().await?;
        let mut last_flush = Instant::now();
        // A start finds a backlog as a rule; a live stream is caught up once a batch closes
        // before it is full, and then gathers for `batch_max_wait`.
        let mut catching_up = true;
        loop {
            let mut records = Vec::new();
            let deadline = Instant::now() + settings.batch_max_wait;
            let mut stopping = *shutdown.borrow();
            let mut bytes = 0usize;
            let full = |records: &Vec<RawRecord>, bytes: usize| {
                records.len() >= settings.batch_max_records || bytes >= settings.batch_max_bytes
            };
            while !stopping && !full(&records, bytes) {
                let until = if catching_up && !records.is_empty() {
                    deadline.min(Instant::now() + CATCH_UP_GAP)
                } else {
                    deadline
                };
                tokio::select! {
                    changed = shutdown.changed() => stopping = changed.is_err() || *shutdown.borrow(),
                    received = tokio::time::timeout_at(until, self.consumer.recv()) => match received {
                        Err(_) => break,
                        Ok(Ok(message)) => {
                            let topic = message.topic();
                            let (stream, name) = if topic == metrics_topic { (Stream::Metrics, metrics_name.clone()) } else { (Stream::Tickets, tickets_name.clone()) };
                            bytes += message.payload_len() + message.key_len();
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
            catching_up = full(&records, bytes);
            if !records.is_empty() || last_flush.elapsed() >= settings.idle_partition_timeout {
                match self.flush(records).await {
                    Err(error @ PipelineError::OffsetRegression { .. }) => {
                        // Stay up, unhealthy, so the operator sees why in /healthz and /metrics.
                        counters
                            .ingest_halted
                            .store(1, std::sync::atomic::Ordering::Relaxed);
                        self.settle().await?;
                        let _ = shutdown.wait_for(|stop| *stop).await;
                        return Err(error);
                    }
                    other => other?,
                }
                last_flush = Instant::now();
            }
            self.maybe_snapshot(stopping).await?;
            if stopping {
                self.settle().await?;
                tracing::info!("pipeline stopped");
                return Ok(());
            }
        }
    }

    /// Writes a snapshot of the SLA state when one is due: every `history.snapshot_every`,
    /// when the watermark enters a new day (so a late event finds one taken before its day; at
    /// most one per 10 s), and at shutdown. The batch being written is let finish first, so
    /// the state is the saved checkpoint's.
    async fn maybe_snapshot(&mut self, stopping: bool) -> Result<(), PipelineError> {
        let Some(processor) = self.processor.as_ref() else {
            return Ok(());
        };
        let applied = processor.checkpoint();
        if applied.seq == 0 || applied.seq == self.snapshots.seq {
            return Ok(());
        }
        let day = applied.watermark.map(|w| w.div_euclid(86_400_000_000));
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
        let store = processor.store().clone();
        self.settle().await?;
        let checkpoint = self.durable.clone();
        let engine = self.engine.clone();
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
        self.counters().last_snapshot_unix.store(
            chrono::Utc::now().timestamp(),
            std::sync::atomic::Ordering::Relaxed,
        );
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

    /// Applies a batch (stage one, on a blocking thread) while the batch before it is still
    /// being written, then hands it to the writer once that one is durable.
    async fn flush(&mut self, records: Vec<RawRecord>) -> Result<(), PipelineError> {
        self.check_offsets(&records)?;
        let Some(mut processor) = self.processor.take() else {
            return Ok(());
        };
        let (processor, applied) = tokio::task::spawn_blocking(move || {
            let applied = processor.apply(records);
            (processor, applied)
        })
        .await?;
        let writer = processor.writer();
        self.processor = Some(processor);
        let applied = applied?;
        // Batches are written, delivered and checkpointed in order: the one before first.
        self.settle().await?;
        let Some(applied) = applied else {
            return Ok(());
        };
        let rebuilds_state = applied.rebuilds_state();
        self.writing = Some(tokio::spawn(finish(writer, self.delivery.clone(), applied)));
        if rebuilds_state {
            // Its late-event correction replaces the SLA state: nothing may be applied first.
            self.settle().await?;
        }
        Ok(())
    }

    /// Waits for the batch being written, if any, to be durable; then commits its offsets to
    /// Kafka.
    async fn settle(&mut self) -> Result<(), PipelineError> {
        let Some(writing) = self.writing.take() else {
            return Ok(());
        };
        let Durable {
            checkpoint,
            commits,
        } = writing.await??;
        self.durable = checkpoint;
        if commits.is_empty() {
            return Ok(());
        }
        let counters = self.counters();
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
}

/// A batch made durable: its saved checkpoint and the offsets to commit to Kafka.
struct Durable {
    checkpoint: Checkpoint,
    commits: Vec<(Arc<str>, i32, i64)>,
}

/// Stage two of a batch, as a task of its own: writes it to the history (on a blocking
/// thread), delivers its dead letters and alerts, and saves its checkpoint.
async fn finish(
    writer: Writer,
    delivery: Delivery,
    applied: Applied,
) -> Result<Durable, PipelineError> {
    let started = Instant::now();
    let store = writer.store().clone();
    let BatchOutcome {
        dead_letters,
        alerts,
        warnings,
        burn_alerts,
        checkpoint,
        commits,
        records,
    } = tokio::task::spawn_blocking(move || writer.write(applied)).await??;
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
    let written = Instant::now();
    delivery.deliver(&dead_letters, &alerts, &notices).await?;
    let delivered = Instant::now();
    let saved = checkpoint.clone();
    let data_dir = delivery.config.settings.data_dir.clone();
    tokio::task::spawn_blocking(move || {
        store.save_checkpoint(&saved)?;
        remove_in_flight(&data_dir);
        Ok::<_, StoreError>(())
    })
    .await??;
    let ms = |from: Instant, to: Instant| to.duration_since(from).as_secs_f64() * 1e3;
    tracing::debug!(
        seq = checkpoint.seq,
        write_ms = ms(started, written),
        deliver_ms = ms(written, delivered),
        checkpoint_ms = ms(delivered, Instant::now()),
        alerts = alerts.len() + notices.len(),
        "batch durable"
    );
    add(&delivery.counters.batches_total, 1);
    delivery
        .counters
        .set_history_watermark(checkpoint.watermark);
    add(&delivery.counters.records_durable_total, records);
    Ok(Durable {
        checkpoint,
        commits,
    })
}

/// Rebuilds the SLA state from the history, without emitting anything: every finding up to the
/// restored watermark was written (and alerted) before the restart.
fn restore(
    store: &HistoryStore,
    config: &Config,
    watermark: Option<i64>,
    bound: Option<&crate::store::ReplayBound>,
    prefetched: Option<crate::store::PrefetchedSnapshot>,
    startup: &super::startup::Startup,
) -> Result<(SlaEngine, u64), StoreError> {
    let started = std::time::Instant::now();
    let (mut engine, count) = crate::recompute::state_from_history_with(
        store,
        Arc::new(config.catalogue.clone()),
        config.settings.pipeline.allowed_lateness,
        None,
        bound,
        prefetched,
        |events| startup.count_replayed(events),
    )?;
    if let Some(watermark) = watermark {
        engine.restore_watermark(watermark);
    }
    let silent = engine.settle_without_slices();
    tracing::info!(
        events = count,
        findings_restored = silent.slices.len() + silent.outcomes.len() + silent.breaches.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "state rebuilt from history"
    );
    Ok((engine, count))
}

//! One batch through the CPU-bound part of the pipeline: decode, apply to the SLA state, encode
//! Parquet and write it durably. Runs on a blocking thread, never on the async workers.

use super::decode::{Bounds, Stream, decode, unknown_service_in};
use crate::config::Catalogue;
use crate::model::Micros;
use crate::model::{Event, MetricEvent, Source, SourcePosition, StreamKind, TicketEvent};
use crate::recompute::correct_late_events;
use crate::sla::burn::BurnAlert;
use crate::sla::{Breach, Findings, SlaEngine, TicketWarning};
use crate::store::{
    Checkpoint, FileOrigin, HistoryStore, PendingFile, StoreError, Table, derived_files,
    metrics_batches, ticket_batches,
};
use crate::telemetry::{Counters, add};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// (topic, partition) of a source record.
type PartitionKey = (Arc<str>, i32);

/// The consumer's current assignment as (topic, partition), shared with its rebalance callback.
pub type Assignment = Arc<Mutex<Vec<(String, i32)>>>;

/// A Kafka record, detached from the consumer so it can cross to a blocking thread.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub stream: Stream,
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
}

/// A record the pipeline could not use, with the reason.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub record: RawRecord,
    pub reason: String,
}

/// What a processed batch leaves for the async side to do before the checkpoint.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub dead_letters: Vec<DeadLetter>,
    pub alerts: Vec<Breach>,
    pub warnings: Vec<TicketWarning>,
    pub burn_alerts: Vec<BurnAlert>,
    /// The checkpoint to save once dead letters and alerts are delivered.
    pub checkpoint: Checkpoint,
    /// (topic, partition, next offset) to commit to Kafka after the checkpoint.
    pub commits: Vec<(Arc<str>, i32, i64)>,
    /// Records of the batch that were new (not replays): durable once the checkpoint is saved.
    pub records: u64,
}

pub struct Processor {
    catalogue: Arc<Catalogue>,
    engine: Arc<RwLock<SlaEngine>>,
    store: HistoryStore,
    checkpoint: Checkpoint,
    counters: Arc<Counters>,
    /// When each source partition last delivered a record (processing time).
    last_seen: HashMap<Source, Instant>,
    /// A partition silent for longer stops holding the watermark back.
    idle_after: Duration,
    /// The consumer's current assignment and the metrics topic's name (to tell the streams apart).
    assignment: Option<(Assignment, String)>,
    /// Event-time window (`max_event_age`, `max_clock_skew`) and longest outage exclusion
    /// (`max_exclusion`) of inbound events. `None` accepts anything (tests that replay fixed
    /// months).
    input_limits: Option<(Duration, Duration, Duration)>,
    /// With every partition idle, the watermark follows the wall clock.
    follow_wall_clock: bool,
    /// Source partitions whose raw table's `txn` has been read since start-up.
    consulted: std::collections::HashSet<(Arc<str>, i32)>,
    /// Where the restored SLA state's replay of the raw tables stopped (`None`: it replayed
    /// them whole).
    resumed_after: Option<crate::store::ReplayBound>,
    /// Source partition → the offset the raw table holds records up to (exclusive), when it
    /// is beyond the checkpoint the state was restored from: such records are applied again
    /// but not appended again.
    held_by_raw: HashMap<(Arc<str>, i32), i64>,
    /// The (metrics, tickets) topics, so a late-event correction can rebuild up to the batch's
    /// checkpoint only (`None`: from every raw row).
    topics: Option<(String, String)>,
    /// Each Kafka partition's log end from the consumer's fetch statistics: a partition whose
    /// log end is beyond what was applied is lagging, not idle, however long it was silent.
    log_ends: Option<super::kafka::HighWatermarks>,
}

/// A lagging partition silent for this many idle timeouts goes idle all the same: its log end
/// may count records it will never deliver (aborted transactions under `read_committed`).
const LAGGING_IDLE_FACTOR: u32 = 4;

impl Processor {
    pub fn new(
        catalogue: Arc<Catalogue>,
        engine: Arc<RwLock<SlaEngine>>,
        store: HistoryStore,
        checkpoint: Checkpoint,
        counters: Arc<Counters>,
        idle_after: Duration,
    ) -> Self {
        Processor {
            catalogue,
            engine,
            store,
            checkpoint,
            counters,
            last_seen: HashMap::new(),
            idle_after,
            assignment: None,
            input_limits: None,
            follow_wall_clock: false,
            consulted: Default::default(),
            resumed_after: None,
            held_by_raw: HashMap::new(),
            topics: None,
            log_ends: None,
        }
    }

    /// Reads the partitions' log ends from `marks` (the consumer's fetch statistics), so that
    /// a partition with records still to deliver is not taken for idle. During a catch-up the
    /// consumer serves some partitions' backlogs seconds before others'; a starved partition
    /// taken for idle let the watermark run ahead of it and turned its records into late
    /// events, each a correction that rebuilds the state from the history.
    pub fn follow_log_ends(&mut self, marks: super::kafka::HighWatermarks) {
        self.log_ends = Some(marks);
    }

    /// The assigned partitions whose log end is beyond the next offset to apply. One offset
    /// of slack: a transactional producer's commit marker takes an offset no record fills.
    fn lagging_sources(&self) -> std::collections::HashSet<Source> {
        let (Some(marks), Some((assignment, metrics_topic))) = (&self.log_ends, &self.assignment)
        else {
            return Default::default();
        };
        let marks = marks.lock().unwrap_or_else(|p| p.into_inner());
        let owned = assignment.lock().unwrap_or_else(|p| p.into_inner());
        owned
            .iter()
            .filter(|(topic, partition)| {
                marks
                    .get(&(topic.clone(), *partition))
                    .is_some_and(|(end, _)| *end > self.next_offset(topic, *partition) + 1)
            })
            .map(|(topic, partition)| source_of(metrics_topic, topic, *partition))
            .collect()
    }

    /// Names the (metrics, tickets) topics whose offsets the checkpoint tracks: a late-event
    /// correction then rebuilds from the raw rows up to its batch's checkpoint, leaving out
    /// rows a crash left beyond it that are not consumed again yet (they are applied live).
    pub fn name_topics(&mut self, metrics: String, tickets: String) {
        self.topics = Some((metrics, tickets));
    }

    /// The restored SLA state holds the raw tables' rows up to `bound` only: records beyond it
    /// that the raw tables already hold are applied again (their findings emitted) without
    /// being appended again.
    pub fn resume_after(&mut self, bound: Option<crate::store::ReplayBound>) {
        self.resumed_after = bound;
    }

    /// Makes every assigned partition hold the watermark until it delivers or goes idle, so a
    /// partition that is merely slower to fetch cannot have its events judged late.
    pub fn follow_assignment(&mut self, assignment: Assignment, metrics_topic: String) {
        self.assignment = Some((assignment, metrics_topic));
    }

    /// Dead-letters events outside the pipeline settings' event-time window, and approved
    /// outage changes longer than their `max_exclusion`.
    pub fn bound_inputs(&mut self, settings: &crate::config::PipelineSettings) {
        self.input_limits = Some((
            settings.max_event_age,
            settings.max_clock_skew,
            settings.max_exclusion,
        ));
    }

    /// Lets the watermark of a quiet stream follow the wall clock.
    pub fn follow_wall_clock(&mut self, follow: bool) {
        self.follow_wall_clock = follow;
    }

    fn assigned_sources(&self) -> Vec<Source> {
        let Some((assignment, metrics_topic)) = &self.assignment else {
            return Vec::new();
        };
        let owned = assignment.lock().unwrap_or_else(|p| p.into_inner());
        owned
            .iter()
            .map(|(topic, partition)| source_of(metrics_topic, topic, *partition))
            .collect()
    }

    /// The checkpoint's next offset for a Kafka partition (of its current generation).
    pub fn next_offset(&self, topic: &str, partition: i32) -> i64 {
        let key = self.checkpoint.source_key(topic, partition);
        self.checkpoint.next_offset(&key, partition)
    }

    /// True when the record is one the history already holds (a replay).
    pub fn covers(&self, record: &RawRecord) -> bool {
        record.offset < self.next_offset(&record.topic, record.partition)
    }

    /// Consumes a replaced log from its start: a new generation of the partition (saved with the
    /// next batch's checkpoint). Returns the new source key.
    pub fn start_generation(&mut self, topic: &str, partition: i32) -> String {
        self.checkpoint.start_generation(topic, partition)
    }

    /// The checkpoint of the batches applied so far: the saved one, or one batch ahead of it
    /// while a batch is being written.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    pub fn store(&self) -> &HistoryStore {
        &self.store
    }

    /// The raw table's own record of a source partition: its `txn` names the last offset it
    /// holds. Records up to there are never appended again, even when the checkpoint file was
    /// lost or is older than the table.
    fn consult_raw_table(
        &mut self,
        stream: Stream,
        source_key: &str,
        partition: i32,
    ) -> Result<(), StoreError> {
        let table = match stream {
            Stream::Metrics => Table::Metrics,
            Stream::Tickets => Table::TicketEvents,
        };
        let app = crate::store::source_app(source_key, partition);
        if let Some(last) = self.store.claim_source(table, &app)? {
            let next = self.checkpoint.next_offset(source_key, partition);
            let replayed_to = self
                .resumed_after
                .as_ref()
                .map(|bound| bound.end(stream, partition));
            if last + 1 > next && replayed_to == Some(next) {
                tracing::info!(
                    source = source_key,
                    partition,
                    checkpoint = next,
                    table_holds_until = last,
                    "the raw table holds records beyond the checkpoint; they are applied again, not appended again"
                );
                self.held_by_raw
                    .insert((source_key.into(), partition), last + 1);
            } else if last + 1 > next {
                tracing::info!(
                    source = source_key,
                    partition,
                    checkpoint = next,
                    table_holds_until = last,
                    "the raw table holds records beyond the checkpoint; they are not appended again"
                );
                self.checkpoint.advance(source_key, partition, last + 1);
            }
        }
        Ok(())
    }

    /// The raw rows to append, with their files' origin: all of them but after a crash
    /// between a batch's commits and its checkpoint, where the raw table already holds some.
    fn to_append<T>(
        &self,
        ranges: &BTreeMap<(Arc<str>, i32), (i64, i64)>,
        rows: BTreeMap<PartitionKey, Vec<(SourcePosition, T)>>,
    ) -> Vec<(FileOrigin, Vec<(SourcePosition, T)>)> {
        rows.into_iter()
            .map(|((topic, partition), mut rows)| {
                if let Some(&held) = self.held_by_raw.get(&(topic.clone(), partition)) {
                    rows.retain(|(p, _)| p.offset >= held);
                }
                (source_origin(ranges, &topic, partition), rows)
            })
            .collect()
    }

    /// Decodes, applies and writes one batch, in one go (see [`Processor::apply`] and
    /// [`Writer::write`], which the pipeline runs on two threads, one batch apart).
    pub fn process(&mut self, records: Vec<RawRecord>) -> Result<Option<BatchOutcome>, StoreError> {
        match self.apply(records)? {
            Some(applied) => self.writer().write(applied).map(Some),
            None => Ok(None),
        }
    }

    /// What writes this processor's batches.
    pub fn writer(&self) -> Writer {
        Writer {
            store: self.store.clone(),
            engine: self.engine.clone(),
            counters: self.counters.clone(),
            topics: self.topics.clone(),
        }
    }

    /// Stage one of a batch: decodes it and applies it to the SLA state. An empty batch is an
    /// idle tick: partitions that went quiet stop holding the watermark back. Returns `None`
    /// when there is nothing new (every record was already durable, or nothing moved).
    ///
    /// The processor's checkpoint moves on at once (offsets, sequence number, watermark), so
    /// the next batch can be applied while this one is written; the batch carries the
    /// checkpoint to save once it is durable.
    pub fn apply(&mut self, records: Vec<RawRecord>) -> Result<Option<Applied>, StoreError> {
        let mut ranges: BTreeMap<(Arc<str>, i32), (i64, i64)> = BTreeMap::new();
        let mut new_records = 0u64;
        let mut metrics: BTreeMap<PartitionKey, Vec<(SourcePosition, MetricEvent)>> =
            BTreeMap::new();
        let mut tickets: BTreeMap<PartitionKey, Vec<(SourcePosition, TicketEvent)>> =
            BTreeMap::new();
        let mut dead_letters = Vec::new();
        let mut unknown_services = Vec::new();
        let mut events = Vec::new();
        add(&self.counters.records_in_total, records.len() as u64);
        let arrived = Instant::now();
        let bounds = match self.input_limits {
            Some((max_age, max_skew, longest)) => {
                Bounds::around(chrono::Utc::now().timestamp_micros(), max_age, max_skew)
                    .with_max_exclusion(longest)
            }
            None => Bounds::UNBOUNDED,
        };
        let assigned = self.assigned_sources();
        for source in &assigned {
            self.last_seen.entry(*source).or_insert(arrived);
        }
        for record in records {
            // Offsets and files are tracked per source key: the topic, or `topic~g<generation>`
            // once a replaced log was reset.
            let source_key: Arc<str> = if self.checkpoint.generations.is_empty() {
                record.topic.clone()
            } else {
                self.checkpoint
                    .source_key(&record.topic, record.partition)
                    .into()
            };
            if self
                .consulted
                .insert((source_key.clone(), record.partition))
            {
                self.consult_raw_table(record.stream, &source_key, record.partition)?;
            }
            if self
                .checkpoint
                .covers(&source_key, record.partition, record.offset)
            {
                add(&self.counters.records_replayed_total, 1);
                continue;
            }
            new_records += 1;
            self.last_seen.insert(
                Source {
                    stream: record.stream,
                    partition: record.partition,
                },
                arrived,
            );
            let key = (source_key, record.partition);
            let range = ranges
                .entry(key.clone())
                .or_insert((record.offset, record.offset));
            range.0 = range.0.min(record.offset);
            range.1 = range.1.max(record.offset);
            events.clear();
            let payload = record.payload.as_deref().unwrap_or_default();
            if let Err(reason) =
                decode(record.stream, payload, &self.catalogue, bounds, &mut events)
            {
                if let Some(service) = unknown_service_in(&reason) {
                    unknown_services.push(service.to_string());
                }
                dead_letters.push(DeadLetter { record, reason });
                continue;
            }
            let position = SourcePosition {
                partition: record.partition,
                offset: record.offset,
            };
            // One lookup per record: its events all come from one topic.
            match record.stream {
                Stream::Metrics => {
                    let rows = metrics.entry(key).or_default();
                    rows.extend(events.drain(..).filter_map(|event| match event {
                        Event::Metric(m) => Some((position, m)),
                        Event::Ticket(_) => None,
                    }));
                }
                Stream::Tickets => {
                    let rows = tickets.entry(key).or_default();
                    rows.extend(events.drain(..).filter_map(|event| match event {
                        Event::Ticket(t) => Some((position, t)),
                        Event::Metric(_) => None,
                    }));
                }
            }
        }
        let decoded_at = Instant::now();
        let lagging = self.lagging_sources();
        let decoded: usize = metrics.values().map(Vec::len).sum::<usize>()
            + tickets.values().map(Vec::len).sum::<usize>();
        add(&self.counters.events_decoded_total, decoded as u64);
        add(
            &self.counters.records_dead_lettered_total,
            dead_letters.len() as u64,
        );

        let (findings, watermark, late, earliest_late) = {
            let mut engine = self
                .engine
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for service in &unknown_services {
                engine.record_unknown_service(service);
            }
            for source in &assigned {
                engine.track(*source);
            }
            for ((_, partition), rows) in &metrics {
                let source = Source {
                    stream: StreamKind::Metrics,
                    partition: *partition,
                };
                for (_, m) in rows {
                    engine.apply_metric(m, source);
                }
            }
            for ((_, partition), rows) in &tickets {
                let source = Source {
                    stream: StreamKind::Tickets,
                    partition: *partition,
                };
                for (_, t) in rows {
                    engine.apply_ticket(t, source);
                }
            }
            for (source, seen) in &self.last_seen {
                let silent = arrived.duration_since(*seen);
                let limit = if lagging.contains(source) {
                    self.idle_after * LAGGING_IDLE_FACTOR
                } else {
                    self.idle_after
                };
                engine.set_idle(*source, silent > limit);
            }
            if self.follow_wall_clock {
                engine.set_wall_clock(chrono::Utc::now().timestamp_micros());
            }
            let (late, earliest_late) = engine.take_late_events();
            add(&self.counters.late_events_total, late);
            let findings = engine.advance();
            (findings, engine.watermark(), late, earliest_late)
        };
        if ranges.is_empty() && findings.is_empty() && watermark == self.checkpoint.watermark {
            return Ok(None); // a replay of durable records, or an idle tick with nothing new
        }
        add(
            &self.counters.breaches_total,
            findings.breaches.len() as u64,
        );
        add(
            &self.counters.warnings_total,
            findings.warnings.len() as u64,
        );
        add(
            &self.counters.burn_alerts_total,
            findings.burn_alerts.len() as u64,
        );

        let metrics = self.to_append(&ranges, metrics);
        let tickets = self.to_append(&ranges, tickets);
        self.checkpoint.seq += 1;
        self.checkpoint.watermark = watermark;
        let mut commits = Vec::new();
        for ((topic, partition), (_, last)) in ranges {
            self.checkpoint.advance(&topic, partition, last + 1);
            commits.push((topic, partition, last + 1));
        }
        let ms = |from: Instant, to: Instant| to.duration_since(from).as_secs_f64() * 1e3;
        tracing::debug!(
            records = new_records,
            events = decoded,
            decode_ms = ms(arrived, decoded_at),
            apply_ms = ms(decoded_at, Instant::now()),
            "batch applied"
        );
        Ok(Some(Applied {
            metrics,
            tickets,
            dead_letters,
            findings,
            late,
            earliest_late,
            checkpoint: self.checkpoint.clone(),
            commits,
            records: new_records,
        }))
    }
}

/// A batch decoded and applied to the SLA state, its rows not yet written.
pub struct Applied {
    metrics: Vec<(FileOrigin, Vec<(SourcePosition, MetricEvent)>)>,
    tickets: Vec<(FileOrigin, Vec<(SourcePosition, TicketEvent)>)>,
    dead_letters: Vec<DeadLetter>,
    findings: Findings,
    late: u64,
    earliest_late: Option<Micros>,
    /// The checkpoint once this batch is durable (the derived tables' versions are filled in
    /// when it is written).
    checkpoint: Checkpoint,
    commits: Vec<(Arc<str>, i32, i64)>,
    records: u64,
}

impl Applied {
    /// True when the batch carried events behind the watermark: writing it rebuilds the SLA
    /// state from the history, so no later batch may be applied before it is written.
    pub fn rebuilds_state(&self) -> bool {
        self.earliest_late.is_some()
    }
}

/// Stage two of a batch: encodes its rows and findings as Parquet and commits them to the
/// history, then corrects the history for late events. Batches are written in the order they
/// were applied, each after the one before it is checkpointed.
#[derive(Clone)]
pub struct Writer {
    store: HistoryStore,
    engine: Arc<RwLock<SlaEngine>>,
    counters: Arc<Counters>,
    topics: Option<(String, String)>,
}

impl Writer {
    pub fn store(&self) -> &HistoryStore {
        &self.store
    }

    pub fn write(&self, applied: Applied) -> Result<BatchOutcome, StoreError> {
        let started = Instant::now();
        let Applied {
            metrics,
            tickets,
            dead_letters,
            mut findings,
            late,
            earliest_late,
            mut checkpoint,
            commits,
            records,
        } = applied;
        let seq = checkpoint.seq;
        let mut files = Vec::new();
        for (origin, rows) in &metrics {
            for (day, batch) in metrics_batches(rows)? {
                files.push(PendingFile {
                    table: Table::Metrics,
                    day,
                    origin: origin.clone(),
                    batch,
                });
            }
        }
        for (origin, rows) in &tickets {
            for (day, batch) in ticket_batches(rows)? {
                files.push(PendingFile {
                    table: Table::TicketEvents,
                    day,
                    origin: origin.clone(),
                    batch,
                });
            }
        }
        files.extend(derived_files(&findings, &FileOrigin::Batch { seq })?);
        let encoded_at = Instant::now();
        let bytes = self.store.write(&files)?;
        let written_at = Instant::now();
        add(&self.counters.files_written_total, files.len() as u64);
        add(&self.counters.bytes_written_total, bytes);

        // Events behind the watermark: rebuild from the history, which now holds them, replace
        // the derived rows from their day on, record what changed, and carry on with the
        // corrected state.
        if let Some(earliest) = earliest_late {
            let bound = self.topics.as_ref().and_then(|(metrics, tickets)| {
                crate::store::ReplayBound::from_checkpoint(&checkpoint, (metrics, tickets))
            });
            let correction = {
                let engine = self
                    .engine
                    .read()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                correct_late_events(
                    &self.store,
                    &engine,
                    late,
                    earliest,
                    &FileOrigin::Batch { seq },
                    bound.as_ref(),
                )?
            };
            tracing::warn!(
                late_events = late,
                corrections = correction.records.len(),
                "late events corrected the history"
            );
            add(
                &self.counters.corrections_total,
                correction.records.len() as u64,
            );
            add(
                &self.counters.breaches_total,
                correction.new_breaches.len() as u64,
            );
            findings.breaches.extend(correction.new_breaches);
            add(
                &self.counters.burn_alerts_total,
                correction.new_burn_alerts.len() as u64,
            );
            findings.burn_alerts.extend(correction.new_burn_alerts);
            let mut engine = self
                .engine
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut corrected = correction.engine;
            corrected.carry_over_from(&engine);
            *engine = corrected;
        }

        checkpoint.versions = self.store.versions(&crate::store::DERIVED)?;
        let ms = |from: Instant, to: Instant| to.duration_since(from).as_secs_f64() * 1e3;
        tracing::debug!(
            seq,
            files = files.len(),
            encode_ms = ms(started, encoded_at),
            commit_ms = ms(encoded_at, written_at),
            finish_ms = ms(written_at, Instant::now()),
            "batch written"
        );
        Ok(BatchOutcome {
            dead_letters,
            alerts: findings.breaches,
            warnings: findings.warnings,
            burn_alerts: findings.burn_alerts,
            checkpoint,
            commits,
            records,
        })
    }
}

/// The source a Kafka partition feeds: the metrics topic's or the tickets topic's.
fn source_of(metrics_topic: &str, topic: &str, partition: i32) -> Source {
    let stream = if topic == metrics_topic {
        StreamKind::Metrics
    } else {
        StreamKind::Tickets
    };
    Source { stream, partition }
}

fn source_origin(
    ranges: &BTreeMap<(Arc<str>, i32), (i64, i64)>,
    topic: &Arc<str>,
    partition: i32,
) -> FileOrigin {
    let (first, last) = ranges
        .get(&(topic.clone(), partition))
        .copied()
        .unwrap_or_default();
    FileOrigin::Source {
        topic: topic.to_string(),
        partition,
        first,
        last,
    }
}

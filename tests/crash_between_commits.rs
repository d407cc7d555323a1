//! A crash after a batch's Delta commits but before its checkpoint: the raw tables hold the
//! batch (their `txn` says so), the checkpoint does not. The restarted pipeline rebuilds the
//! state up to the checkpoint only and applies the batch again as it is consumed again, so
//! its alerts and dead letters are raised (not lost to a silent rebuild), its raw rows are not
//! appended twice, and the derived history ends up as an uninterrupted run's. Snapshots are
//! written along the way, so the restart goes through a snapshot and the raw tail after it.

use slacap::demo::generator::generate_month;
use slacap::ingest::{Processor, RawRecord};
use slacap::model::StreamKind;
use slacap::sla::SlaEngine;
use slacap::store::{HistoryQuery, HistoryStore, ReplayBound};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

const METRICS: &str = "slacap.metrics";
const TICKETS: &str = "slacap.tickets";
const LATENESS: Duration = Duration::from_secs(300);

/// The first days of the demo month as consumed records: metrics and tickets on partition 0 of
/// their topics, offsets in production order, and every 97th ticket record malformed.
fn records() -> Vec<RawRecord> {
    let end = slacap::model::parse_rfc3339("2026-11-08T00:00:00Z").unwrap();
    let (mut metrics, mut tickets, mut seen) = (0i64, 0i64, 0u32);
    generate_month(2026, 11)
        .unwrap()
        .into_iter()
        .filter(|m| m.time < end)
        .flat_map(|m| {
            seen += u32::from(m.stream == StreamKind::Tickets);
            let malformed = (m.stream == StreamKind::Tickets && seen % 97 == 0).then(|| {
                slacap::demo::generator::Message {
                    stream: m.stream,
                    key: m.key.clone(),
                    payload: b"{\"ticket\": 42".to_vec(),
                    time: m.time,
                }
            });
            malformed.into_iter().chain([m])
        })
        .map(|m| {
            let (topic, offset) = match m.stream {
                StreamKind::Metrics => (METRICS, &mut metrics),
                StreamKind::Tickets => (TICKETS, &mut tickets),
            };
            *offset += 1;
            RawRecord {
                stream: m.stream,
                topic: topic.into(),
                partition: 0,
                offset: *offset - 1,
                key: Some(m.key.into_bytes()),
                payload: Some(m.payload),
            }
        })
        .collect()
}

/// A processor over the history in `data`, its state rebuilt as `slacap run` rebuilds it (from
/// the newest snapshot and the raw rows after it, when there is one), and its shared state.
fn start(data: &Path) -> (Processor, Arc<RwLock<SlaEngine>>) {
    let lost = slacap::store::checkpoint_lost(
        data,
        &slacap::store::HistoryLocation::local(&data.join("history")),
    )
    .unwrap();
    let (store, checkpoint) = HistoryStore::open(data).unwrap();
    let catalogue = Arc::new(slacap::demo::sample_catalogue().unwrap());
    let bound = ReplayBound::from_checkpoint(&checkpoint, (METRICS, TICKETS)).filter(|_| !lost);
    let (mut engine, _) = slacap::recompute::state_from_history(
        &store,
        catalogue.clone(),
        LATENESS,
        None,
        bound.as_ref(),
        |_| {},
    )
    .unwrap();
    if let Some(watermark) = checkpoint.watermark {
        engine.restore_watermark(watermark);
    }
    engine.settle();
    let engine = Arc::new(RwLock::new(engine));
    let mut processor = Processor::new(
        catalogue,
        engine.clone(),
        store,
        checkpoint,
        Arc::default(),
        Duration::from_secs(3600),
    );
    processor.resume_after(bound);
    (processor, engine)
}

/// Feeds `records` in batches of `size`; a batch's alert ids count once its checkpoint is saved
/// (as the pipeline delivers them before it saves). After every `SNAPSHOT_EVERY`-th batch, a
/// snapshot of the state is written with its checkpoint. With `crash_at`, that batch commits
/// but the process dies before its checkpoint. Returns each batch's alert ids.
fn run(
    (processor, engine): &mut (Processor, Arc<RwLock<SlaEngine>>),
    records: &[RawRecord],
    size: usize,
    crash_at: Option<usize>,
) -> Vec<Vec<String>> {
    const SNAPSHOT_EVERY: usize = 7;
    let mut batches = Vec::new();
    for (n, chunk) in records.chunks(size).enumerate() {
        let Some(outcome) = processor.process(chunk.to_vec()).unwrap() else {
            batches.push(Vec::new());
            continue;
        };
        if crash_at == Some(n) {
            break;
        }
        let ids = outcome.alerts.iter().map(|b| b.id.clone());
        let ids = ids.chain(outcome.warnings.iter().map(|w| w.id.clone()));
        let dead = outcome.dead_letters.iter();
        let dead = dead.map(|d| format!("dead letter {}:{}", d.record.topic, d.record.offset));
        batches.push(ids.chain(dead).collect());
        processor
            .store()
            .save_checkpoint(&outcome.checkpoint)
            .unwrap();
        if n % SNAPSHOT_EVERY == SNAPSHOT_EVERY - 1 {
            let state = engine.read().unwrap().snapshot();
            let topics = (METRICS.to_string(), TICKETS.to_string());
            processor
                .store()
                .save_snapshot(&outcome.checkpoint, state, topics, 60)
                .unwrap();
        }
    }
    batches
}

fn counts(data: &Path) -> Vec<(String, i64)> {
    let store = HistoryStore::reader(data);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    [
        "metrics",
        "ticket_events",
        "ticket_sla_outcomes",
        "breaches",
    ]
    .iter()
    .map(|table| {
        let rows = rt
            .block_on(async {
                HistoryQuery::new(&store)
                    .unwrap()
                    .sql_json(&format!("SELECT count(*) AS n FROM {table}"))
                    .await
            })
            .unwrap()
            .rows;
        (table.to_string(), rows[0][0].as_i64().unwrap())
    })
    .collect()
}

#[test]
fn a_crash_between_the_commits_and_the_checkpoint_loses_no_alert_and_doubles_no_row() {
    let records = records();
    let size = 50;

    let whole = tempfile::tempdir().unwrap();
    let per_batch = run(&mut start(whole.path()), &records, size, None);
    let expected: BTreeSet<String> = per_batch.iter().flatten().cloned().collect();
    assert!(expected.len() > 10, "{} alerts", expected.len());
    // The crash hits a batch (after the first) that dead-lettered a record and raised alerts.
    let crash_at = (1..per_batch.len())
        .max_by_key(|n| {
            let ids = &per_batch[*n];
            (
                ids.iter().any(|id| id.starts_with("dead letter")),
                ids.len(),
            )
        })
        .unwrap();

    // ... and the very first batch, before any checkpoint but the history's initial one.
    for crash_at in [crash_at, 0] {
        let crashed = tempfile::tempdir().unwrap();
        let mut delivered: Vec<String> =
            run(&mut start(crashed.path()), &records, size, Some(crash_at))
                .into_iter()
                .flatten()
                .collect();
        // Restarted: Kafka delivers again from the checkpoint's offsets (the crashed batch on).
        let mut processor = start(crashed.path());
        let resume = crash_at * size;
        assert_eq!(
            processor.0.next_offset(METRICS, 0) + processor.0.next_offset(TICKETS, 0),
            resume as i64,
            "the checkpoint is the one before the crashed batch"
        );
        delivered.extend(
            run(&mut processor, &records[resume..], size, None)
                .into_iter()
                .flatten(),
        );
        let delivered: BTreeSet<String> = delivered.into_iter().collect();
        assert_eq!(
            expected.difference(&delivered).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "alerts and dead letters lost by a crash in batch {crash_at}"
        );
        assert_eq!(delivered, expected);
        assert_eq!(counts(crashed.path()), counts(whole.path()));
    }
}

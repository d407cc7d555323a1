//! A partition the consumer has not caught up on is lagging, not idle: during a catch-up the
//! consumer serves some partitions' backlogs seconds before others', and a starved partition
//! taken for idle would let the watermark run ahead of its records (each then a late event and
//! a correction). Its log end, from the consumer's fetch statistics, tells the two apart.

use slacap::ingest::{Processor, RawRecord, Stream};
use slacap::sla::SlaEngine;
use slacap::store::HistoryStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

const METRICS: &str = "slacap.metrics";
const IDLE_AFTER: Duration = Duration::from_millis(100);

fn probe(partition: i32, offset: i64, time: &str) -> RawRecord {
    RawRecord {
        stream: Stream::Metrics,
        topic: METRICS.into(),
        partition,
        offset,
        key: Some(b"payments".to_vec()),
        payload: Some(
            format!(r#"{{"time":"{time}","service":"payments","component":"probe","metric":"up","value":1}}"#)
                .into_bytes(),
        ),
    }
}

/// Partition 0 delivers an event, then one an hour later after partition 1 has been silent
/// for longer than the idle timeout. Partition 1's log ends at `log_end` and it has delivered
/// nothing. Returns the watermark after the second batch, and after an idle tick once
/// partition 1 has been silent for five idle timeouts.
fn watermarks_with_partition_1_ending_at(log_end: i64) -> (Option<i64>, Option<i64>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, checkpoint) = HistoryStore::open(dir.path()).expect("history");
    let catalogue = Arc::new(slacap::demo::sample_catalogue().expect("catalogue"));
    let engine = Arc::new(RwLock::new(SlaEngine::new(
        catalogue.clone(),
        Duration::ZERO,
    )));
    let mut processor = Processor::new(
        catalogue,
        engine.clone(),
        store,
        checkpoint,
        Arc::default(),
        IDLE_AFTER,
    );
    let assignment = Arc::new(Mutex::new(vec![
        (METRICS.to_string(), 0),
        (METRICS.to_string(), 1),
    ]));
    processor.follow_assignment(assignment, METRICS.to_string());
    let log_ends = Arc::new(Mutex::new(HashMap::from([
        ((METRICS.to_string(), 0), (2, Instant::now())),
        ((METRICS.to_string(), 1), (log_end, Instant::now())),
    ])));
    processor.follow_log_ends(log_ends);

    processor
        .apply(vec![probe(0, 0, "2026-11-02T00:00:00Z")])
        .expect("first batch");
    std::thread::sleep(IDLE_AFTER * 2);
    processor
        .apply(vec![probe(0, 1, "2026-11-02T01:00:00Z")])
        .expect("second batch");
    let after_second = engine.read().unwrap().watermark();
    std::thread::sleep(IDLE_AFTER * 3);
    processor.apply(Vec::new()).expect("idle tick");
    let after_tick = engine.read().unwrap().watermark();
    (after_second, after_tick)
}

#[test]
fn a_silent_partition_with_records_still_to_deliver_holds_the_watermark() {
    let an_hour_in = slacap::model::parse_rfc3339("2026-11-02T01:00:00Z");

    // Caught up (its log is empty): silent past the timeout, it is idle and holds nothing.
    let (caught_up, _) = watermarks_with_partition_1_ending_at(0);
    assert_eq!(
        caught_up, an_hour_in,
        "an idle, caught-up partition holds the watermark back"
    );

    // A commit marker's offset of slack: still caught up.
    let (marker, _) = watermarks_with_partition_1_ending_at(1);
    assert_eq!(
        marker, an_hour_in,
        "one offset of slack for a transaction marker"
    );

    // 500 records it has not delivered yet: lagging, so it keeps holding the watermark...
    let (lagging, later) = watermarks_with_partition_1_ending_at(500);
    assert!(
        lagging.is_none_or(|w| w < an_hour_in.unwrap()),
        "a lagging partition was taken for idle: the watermark moved to {lagging:?}"
    );
    // ...until it has been silent for four idle timeouts (records it may never deliver).
    assert_eq!(
        later, an_hour_in,
        "a lagging partition silent for long never goes idle"
    );
}

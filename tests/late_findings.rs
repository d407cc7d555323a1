//! A ticket whose events all arrive behind the watermark is alerted like any other: its
//! breaches and warnings are raised once, in the batch that brings it (whose late-event
//! correction rebuilds the state from the history), and never again after the rebuilt state
//! is swapped in.

use slacap::ingest::{Processor, RawRecord, Stream};
use slacap::sla::SlaEngine;
use slacap::store::HistoryStore;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

fn opened(offset: i64, ticket: &str, time: &str) -> RawRecord {
    RawRecord {
        stream: Stream::Tickets,
        topic: "slacap.tickets".into(),
        partition: 0,
        offset,
        key: Some(ticket.as_bytes().to_vec()),
        payload: Some(
            format!(
                r#"{{"time":"{time}","ticket":"{ticket}","type":"incident","service":"payments","priority":"P1","status":"new"}}"#
            )
            .into_bytes(),
        ),
    }
}

#[test]
fn a_ticket_that_arrives_late_is_warned_and_breached() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, checkpoint) = HistoryStore::open(dir.path()).expect("history");
    let catalogue = Arc::new(slacap::demo::sample_catalogue().expect("catalogue"));
    let engine = Arc::new(RwLock::new(SlaEngine::new(
        catalogue.clone(),
        Duration::ZERO,
    )));
    let counters: Arc<slacap::telemetry::Counters> = Arc::default();
    let mut processor = Processor::new(
        catalogue,
        engine.clone(),
        store,
        checkpoint,
        counters.clone(),
        Duration::from_secs(3600),
    );

    // P1 incidents: response 15 minutes, resolution 4 hours, warnings at 50, 75 and 90 %.
    // INC-A's clocks both run out before the watermark (20:00, INC-B's opening).
    let first = processor
        .process(vec![
            opened(0, "INC-A", "2026-11-02T10:00:00Z"),
            opened(1, "INC-B", "2026-11-02T20:00:00Z"),
        ])
        .expect("first batch")
        .expect("something new");
    let tickets = |ids: Vec<&str>| {
        let mut ids: Vec<String> = ids.into_iter().map(str::to_string).collect();
        ids.sort();
        ids
    };
    assert_eq!(
        first.alerts.len(),
        2,
        "INC-A breached both clocks: {:?}",
        first.alerts
    );
    assert_eq!(first.warnings.len(), 6, "{:?}", first.warnings);

    // INC-C opened at 12:00 but arrives after the watermark passed 20:00: a late event. The
    // correction's rebuild finds both its clocks run out, and every warning on the way.
    let second = processor
        .process(vec![opened(2, "INC-C", "2026-11-02T12:00:00Z")])
        .expect("second batch")
        .expect("something new");
    assert_eq!(counters.late_events_total.load(Ordering::Relaxed), 1);
    let breached: Vec<&str> = second.alerts.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(breached.len(), 2, "{breached:?}");
    assert!(
        breached.iter().all(|id| id.starts_with("INC-C")),
        "{breached:?}"
    );
    let warned = tickets(second.warnings.iter().map(|w| w.id.as_str()).collect());
    assert_eq!(
        warned,
        [
            "INC-C:resolution:50",
            "INC-C:resolution:75",
            "INC-C:resolution:90",
            "INC-C:response:50",
            "INC-C:response:75",
            "INC-C:response:90",
        ],
        "the late ticket's warnings are raised, and nothing already raised is raised again"
    );

    // The corrected state knows it warned: a third batch raises none of them again.
    let third = processor
        .process(vec![opened(3, "INC-D", "2026-11-02T21:00:00Z")])
        .expect("third batch")
        .expect("something new");
    assert!(
        third
            .warnings
            .iter()
            .all(|w| !w.id.starts_with("INC-C") && !w.id.starts_with("INC-A")),
        "{:?}",
        third.warnings
    );
}

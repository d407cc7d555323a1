//! Findings that only late events reveal are alerted like any other: a ticket whose events all
//! arrive behind the watermark has its breaches and warnings raised once, and a burst of
//! errors that arrives late has its burn-rate alerts raised, in the batch that brings them
//! (whose late-event correction rebuilds the state from the history), and never again after
//! the rebuilt state is swapped in.

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

/// A batch processor over the sample catalogue with a fresh history in `dir`, no allowed
/// lateness and an hour before a quiet partition counts as idle; and its counters.
fn processor_over_the_sample_catalogue(
    dir: &std::path::Path,
) -> (Processor, Arc<slacap::telemetry::Counters>) {
    let (store, checkpoint) = HistoryStore::open(dir).expect("history");
    let catalogue = Arc::new(slacap::demo::sample_catalogue().expect("catalogue"));
    let engine = Arc::new(RwLock::new(SlaEngine::new(
        catalogue.clone(),
        Duration::ZERO,
    )));
    let counters: Arc<slacap::telemetry::Counters> = Arc::default();
    let processor = Processor::new(
        catalogue,
        engine,
        store,
        checkpoint,
        counters.clone(),
        Duration::from_secs(3600),
    );
    (processor, counters)
}

#[test]
fn a_ticket_that_arrives_late_is_warned_and_breached() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut processor, counters) = processor_over_the_sample_catalogue(dir.path());

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

/// One minute of the payments service's request counts.
fn requests(offset: i64, minute: &str, total: u32, good: u32) -> RawRecord {
    let time = format!("2026-11-02T{minute}:00Z");
    RawRecord {
        stream: Stream::Metrics,
        topic: "slacap.metrics".into(),
        partition: 0,
        offset,
        key: Some(b"payments".to_vec()),
        payload: Some(
            format!(
                r#"[{{"time":"{time}","service":"payments","metric":"requests_total","value":{total}}},{{"time":"{time}","service":"payments","metric":"requests_good","value":{good}}}]"#
            )
            .into_bytes(),
        ),
    }
}

#[test]
fn a_burst_of_errors_that_arrives_late_raises_its_burn_rate_alerts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut processor, counters) = processor_over_the_sample_catalogue(dir.path());
    // (id, state) of every burn-rate alert the batches hand over for publishing.
    let mut published: Vec<(String, String)> = Vec::new();
    fn publish(published: &mut Vec<(String, String)>, outcome: slacap::ingest::BatchOutcome) {
        published.extend(
            outcome
                .burn_alerts
                .into_iter()
                .map(|a| (a.id, a.state.to_string())),
        );
    }

    // Two clean hours: 100 requests a minute, all good (request-success targets 99.5 %).
    let clean: Vec<RawRecord> = (0..120)
        .map(|m| requests(m, &format!("{:02}:{:02}", 10 + m / 60, m % 60), 100, 100))
        .collect();
    publish(
        &mut published,
        processor.process(clean).expect("clean hours").expect("new"),
    );
    assert!(published.is_empty(), "{published:?}");

    // A burst of 1,000 failed requests at 11:03 arrives after the watermark passed 11:59: at
    // 66 % errors over five minutes and 14 % over the hour it burns the budget far faster
    // than the 14.4x of the one-hour rule.
    let late = processor
        .process(vec![requests(120, "11:03", 1000, 0)])
        .expect("late burst")
        .expect("new");
    assert_eq!(counters.late_events_total.load(Ordering::Relaxed), 2);
    publish(&mut published, late);
    let fired: Vec<&str> = published
        .iter()
        .filter(|(_, state)| state == "firing")
        .map(|(id, _)| id.as_str())
        .collect();
    assert!(
        fired.iter().any(|id| id.contains(":burn-1h:")),
        "the late burst's one-hour burn is alerted: {published:?}"
    );

    // Later hours: the burst leaves every window; each firing resolves, and nothing is
    // raised twice.
    let later: Vec<RawRecord> = (0..300)
        .map(|m| {
            requests(
                121 + m,
                &format!("{:02}:{:02}", 12 + m / 60, m % 60),
                100,
                100,
            )
        })
        .collect();
    publish(
        &mut published,
        processor.process(later).expect("later hours").expect("new"),
    );
    let mut seen = std::collections::HashSet::new();
    for (id, state) in &published {
        assert!(
            seen.insert((id, state)),
            "{id} {state} raised twice: {published:?}"
        );
        if state == "resolved" {
            assert!(
                seen.contains(&(id, &"firing".to_string())),
                "{id} resolved without having fired: {published:?}"
            );
        }
    }
    assert!(
        published
            .iter()
            .any(|(id, state)| id.contains(":burn-1h:") && state == "resolved"),
        "{published:?}"
    );
}

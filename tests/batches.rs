//! Derived rows do not depend on how, when or in what batches they were computed: the stream
//! (an advance after every event), the same stream cut into random batches with restarts in
//! between (each restart rebuilds the state from the events so far and settles silently at the
//! last watermark, as `slacap run` does from the history and its checkpoint), and a recompute
//! (everything at once) give the same slices, ticket outcomes, warnings, breaches (ticket,
//! month, rolling and ratio) and burn-rate transitions, row for row. Restarts rebuild either
//! from all events or from a snapshot of the state plus the events after it. Over a business calendar
//! with a lunch break, a weekend, a holiday and the end of daylight saving time.

use proptest::prelude::*;
use slacap::config::Catalogue;
use slacap::model::{
    MICROS_PER_SECOND, Micros, Source, StreamKind, TicketEvent, TicketStatus, TicketType,
};
use slacap::sla::{Findings, SlaEngine};
use std::sync::Arc;
use std::time::Duration;

const MIN: Micros = 60 * MICROS_PER_SECOND;
/// Four days of event time.
const SPAN_MINUTES: i64 = 4 * 1440;

const CATALOGUE: &str = r#"
[[service]]
id = "svc"
name = "Service"
time_zone = "Europe/Berlin"
  [[service.slo]]
  id = "up"
  target = 0.99
  windows = ["month", "rolling:1d"]
  sli = { kind = "probe", metric = "up", timeslice = "5m" }
  [[service.slo]]
  id = "ok"
  target = 0.95
  windows = ["month", "rolling:1d"]
  sli = { kind = "ratio", good = "good", total = "total" }

[[ticket_policy]]
type = "incident"
priority = "P1"
response = "30m"
resolution = "3h"
calendar = "office"

[[ticket_policy]]
type = "request"
priority = "P3"
response = "1h"
resolution = "5h"
on_reopen = "restart"

[[calendar]]
id = "office"
time_zone = "Europe/Berlin"
holidays = ["2026-10-26"]
  [calendar.hours]
  mon = ["08:00-12:00", "13:00-17:00"]
  tue = ["08:00-12:00", "13:00-17:00"]
  wed = ["08:00-12:00", "13:00-17:00"]
  thu = ["08:00-12:00", "13:00-17:00"]
  fri = ["08:00-12:00", "13:00-17:00"]
"#;

/// An input event: a probe sample, a ratio sample, or a ticket status change.
#[derive(Debug, Clone)]
enum Input {
    Probe(Micros, bool),
    Ratio(Micros, f64, f64),
    Ticket(TicketEvent),
}

impl Input {
    fn time(&self) -> Micros {
        match self {
            Input::Probe(t, _) | Input::Ratio(t, _, _) => *t,
            Input::Ticket(e) => e.time,
        }
    }
}

fn status() -> impl Strategy<Value = TicketStatus> {
    prop_oneof![
        3 => Just(TicketStatus::New),
        2 => Just(TicketStatus::Acknowledged),
        2 => Just(TicketStatus::InProgress),
        2 => Just(TicketStatus::OnHold),
        2 => Just(TicketStatus::Resolved),
        1 => Just(TicketStatus::Reopened),
        1 => Just(TicketStatus::Cancelled),
    ]
}

/// Friday 23 October 2026, 06:00 UTC: the weekend, the end of summer time (25 October) and a
/// holiday (Monday 26) follow.
fn base() -> Micros {
    slacap::model::parse_rfc3339("2026-10-23T06:00:00Z").unwrap()
}

fn input() -> impl Strategy<Value = Input> {
    let minute = 0..SPAN_MINUTES;
    prop_oneof![
        4 => (minute.clone(), prop::bool::weighted(0.8))
            .prop_map(|(m, up)| Input::Probe(base() + m * MIN, up)),
        2 => (minute.clone(), 0u32..50, 0u32..10).prop_map(|(m, good, bad)| {
            Input::Ratio(base() + m * MIN, f64::from(good), f64::from(good + bad))
        }),
        3 => (minute, 0u8..6, status()).prop_map(|(m, n, status)| {
            let (id, kind, priority) = if n < 4 {
                (format!("INC-{n}"), TicketType::Incident, "P1")
            } else {
                (format!("REQ-{n}"), TicketType::Request, "P3")
            };
            Input::Ticket(TicketEvent::status_change(
                base() + m * MIN,
                &id,
                kind,
                "svc",
                priority,
                status,
            ))
        }),
    ]
}

const SOURCE: Source = Source {
    stream: StreamKind::Metrics,
    partition: 0,
};

fn catalogue() -> Catalogue {
    toml::from_str(CATALOGUE).unwrap()
}

fn engine() -> SlaEngine {
    SlaEngine::new(Arc::new(catalogue()), Duration::ZERO)
}

fn apply(engine: &mut SlaEngine, input: &Input) {
    match input {
        Input::Probe(t, up) => {
            engine.apply_sample("svc", "up", *t, if *up { 1.0 } else { 0.0 }, SOURCE)
        }
        Input::Ratio(t, good, total) => {
            engine.apply_sample("svc", "good", *t, *good, SOURCE);
            engine.apply_sample("svc", "total", *t, *total, SOURCE);
        }
        Input::Ticket(e) => engine.apply_ticket(e, SOURCE),
    }
}

/// Every derived row of `f`, as text.
fn rows(f: &Findings, out: &mut Vec<String>) {
    out.extend(f.slices.iter().map(|s| {
        format!(
            "slice {} {} {} {} {} {}",
            s.slo, s.start, s.state, s.good, s.total, s.excluded_seconds
        )
    }));
    out.extend(f.outcomes.iter().map(|o| {
        format!(
            "outcome {} {} {:?} {} {} {}",
            o.ticket, o.metric, o.outcome, o.decided_at, o.elapsed_seconds, o.priority
        )
    }));
    out.extend(f.breaches.iter().map(|b| {
        format!(
            "breach {} {} {:.9} {}",
            b.id, b.detected_at, b.observed, b.target
        )
    }));
    out.extend(
        f.warnings
            .iter()
            .map(|w| format!("warning {} {}", w.id, w.at)),
    );
    out.extend(
        f.burn_alerts
            .iter()
            .map(|a| format!("burn {} {} {}", a.id, a.state, a.at)),
    );
}

/// The inputs in event-time order, then one sample far later that closes everything.
fn timeline(mut inputs: Vec<Input>) -> Vec<Input> {
    inputs.sort_by_key(Input::time);
    inputs.push(Input::Probe(base() + (SPAN_MINUTES + 2 * 1440) * MIN, true));
    inputs
}

/// The stream: an advance after every event.
fn streamed(inputs: &[Input]) -> (Vec<String>, Micros) {
    let mut e = engine();
    let mut out = Vec::new();
    for input in inputs {
        apply(&mut e, input);
        rows(&e.advance(), &mut out);
    }
    out.sort();
    (out, e.watermark().unwrap())
}

/// The same stream in batches (`cuts` are batch sizes), restarting where `restarts` says.
/// A snapshot of the state is taken after the batches `snapshots` marks (and round-tripped
/// through its file encoding); a restart rebuilds from the newest one plus the events after it,
/// or from all events when there is none yet.
fn batched(inputs: &[Input], cuts: &[usize], restarts: &[bool], snapshots: &[bool]) -> Vec<String> {
    let mut e = engine();
    let mut out = Vec::new();
    let mut snapshot: Option<(usize, Vec<u8>)> = None;
    let (mut done, mut batch) = (0, 0);
    while done < inputs.len() {
        let size = cuts[batch % cuts.len()].max(1);
        let end = (done + size).min(inputs.len());
        for input in &inputs[done..end] {
            apply(&mut e, input);
        }
        rows(&e.advance(), &mut out);
        done = end;
        if snapshots[batch % snapshots.len()] {
            snapshot = Some((done, rmp_serde::to_vec(&e.snapshot()).unwrap()));
        }
        if restarts[batch % restarts.len()]
            && let Some(watermark) = e.watermark()
        {
            // A restart: the state rebuilt from the newest snapshot and the events after it (or
            // from all events), settled silently at the checkpoint.
            let from = match &snapshot {
                Some((at, bytes)) => {
                    e = SlaEngine::from_snapshot(
                        Arc::new(catalogue()),
                        Duration::ZERO,
                        rmp_serde::from_slice(bytes).unwrap(),
                    )
                    .unwrap();
                    *at
                }
                None => {
                    e = engine();
                    0
                }
            };
            for input in &inputs[from..done] {
                apply(&mut e, input);
            }
            e.restore_watermark(watermark);
            let _ = e.settle();
        }
        batch += 1;
    }
    out.sort();
    out
}

/// A recompute: everything applied, then settled once at the stream's last watermark.
fn recomputed(inputs: &[Input], watermark: Micros) -> Vec<String> {
    let mut e = engine();
    for input in inputs {
        apply(&mut e, input);
    }
    e.restore_watermark(watermark);
    let mut out = Vec::new();
    rows(&e.settle(), &mut out);
    out.sort();
    out
}

fn difference(a: &[String], b: &[String]) -> (Vec<String>, Vec<String>) {
    (
        a.iter().filter(|x| !b.contains(x)).cloned().collect(),
        b.iter().filter(|x| !a.contains(x)).cloned().collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn stream_batches_with_restarts_and_recompute_give_the_same_rows(
        inputs in prop::collection::vec(input(), 1..120),
        cuts in prop::collection::vec(1usize..40, 1..8),
        restarts in prop::collection::vec(prop::bool::weighted(0.3), 1..8),
        snapshots in prop::collection::vec(prop::bool::weighted(0.4), 1..8),
    ) {
        let inputs = timeline(inputs);
        let (stream, watermark) = streamed(&inputs);
        let batches = batched(&inputs, &cuts, &restarts, &snapshots);
        let (only_stream, only_batches) = difference(&stream, &batches);
        prop_assert!(
            only_stream.is_empty() && only_batches.is_empty(),
            "stream only: {:#?}\nbatches only: {:#?}", only_stream, only_batches
        );
        let recompute = recomputed(&inputs, watermark);
        let (only_stream, only_recompute) = difference(&stream, &recompute);
        prop_assert!(
            only_stream.is_empty() && only_recompute.is_empty(),
            "stream only: {:#?}\nrecompute only: {:#?}", only_stream, only_recompute
        );
    }
}

/// The cases above must hold something to compare: a hand-made month has every kind of row.
#[test]
fn the_compared_rows_include_every_kind() {
    let mut inputs = Vec::new();
    for m in 0..SPAN_MINUTES {
        inputs.push(Input::Probe(base() + m * MIN, !(600..1200).contains(&m)));
        if m % 10 == 0 {
            inputs.push(Input::Ratio(
                base() + m * MIN,
                10.0,
                if m < 900 { 30.0 } else { 10.0 },
            ));
        }
    }
    for (m, status) in [(0, TicketStatus::New), (500, TicketStatus::Resolved)] {
        inputs.push(Input::Ticket(TicketEvent::status_change(
            base() + m * MIN,
            "INC-1",
            TicketType::Incident,
            "svc",
            "P1",
            status,
        )));
    }
    let inputs = timeline(inputs);
    let (stream, watermark) = streamed(&inputs);
    for kind in [
        "slice ",
        "outcome ",
        "warning ",
        "breach svc:up:month",
        "breach svc:up:rolling:1d",
        "breach svc:ok:month",
        "breach INC-1:response",
        "burn ",
    ] {
        assert!(
            stream.iter().any(|r| r.starts_with(kind)),
            "no `{kind}` row"
        );
    }
    assert_eq!(
        batched(&inputs, &[7, 300, 1], &[false, true], &[false]),
        stream
    );
    assert_eq!(
        batched(&inputs, &[7, 300, 1], &[false, true], &[true, false]),
        stream,
        "restarts from snapshots"
    );
    assert_eq!(recomputed(&inputs, watermark), stream);
}

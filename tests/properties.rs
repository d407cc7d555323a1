//! Properties of the SLA core that must hold for any input, checked on generated cases.

use proptest::prelude::*;
use slacap::config::{Catalogue, MissingPolicy};
use slacap::model::{
    MICROS_PER_SECOND, Micros, Source, StreamKind, TicketEvent, TicketStatus, TicketType,
};
use slacap::sla::SlaEngine;
use slacap::sla::availability::ProbeTracker;
use slacap::sla::calendar::Calendar;
use slacap::sla::ticket_clock::evaluate;
use slacap::sla::window::Interval;
use std::sync::Arc;
use std::time::Duration;

const MIN: Micros = 60 * MICROS_PER_SECOND;

fn status() -> impl Strategy<Value = TicketStatus> {
    prop_oneof![
        Just(TicketStatus::New),
        Just(TicketStatus::Acknowledged),
        Just(TicketStatus::InProgress),
        Just(TicketStatus::OnHold),
        Just(TicketStatus::AwaitingCustomer),
        Just(TicketStatus::Resolved),
        Just(TicketStatus::Reopened),
        Just(TicketStatus::Closed),
        Just(TicketStatus::Cancelled),
    ]
}

proptest! {
    /// While the resolution clock has never stopped, paused + counted = time since creation.
    #[test]
    fn paused_plus_counted_is_elapsed(steps in prop::collection::vec((1i64..600, status()), 1..20)) {
        let mut t = 0;
        let mut history = vec![(0, TicketStatus::New)];
        for (gap, s) in steps {
            if matches!(s, TicketStatus::Resolved | TicketStatus::Closed | TicketStatus::Cancelled) {
                continue;
            }
            t += gap * MIN;
            history.push((t, s));
        }
        let now = t + 30 * MIN;
        let pausing = [TicketStatus::OnHold, TicketStatus::AwaitingCustomer];
        let c = evaluate(&history, 15 * MIN, 240 * MIN, &pausing, &Calendar::always(), now).unwrap();
        prop_assert_eq!(c.resolution.elapsed + c.resolution.paused, now);
    }

    /// Attainment stays within 0..1 and the seconds add up, whatever the samples and policy.
    #[test]
    fn attainment_is_a_fraction_and_seconds_add_up(
        samples in prop::collection::vec((0i64..1440, prop::bool::ANY), 0..300),
        missing in prop_oneof![Just(MissingPolicy::Exclude), Just(MissingPolicy::Good), Just(MissingPolicy::Bad)],
        window_start in 0i64..720,
        window_len in 1i64..1440,
        now in 0i64..1500,
    ) {
        let mut p = ProbeTracker::new(MIN, missing);
        for (minute, up) in samples {
            p.record(minute * MIN + 5 * MICROS_PER_SECOND, if up { 1.0 } else { 0.0 });
        }
        let window = Interval { start: window_start * MIN, end: (window_start + window_len) * MIN };
        let a = p.attainment(window, now * MIN, 0.99, &[]);
        if let Some(x) = a.attained {
            prop_assert!((0.0..=1.0).contains(&x));
        }
        prop_assert!(a.no_data_seconds >= 0);
        prop_assert!(a.good_seconds.unwrap() + a.no_data_seconds <= a.total_seconds);
    }

    /// The order in which events arrive, within the allowed lateness, never changes a finding.
    #[test]
    fn arrival_order_inside_the_lateness_bound_does_not_matter(
        events in prop::collection::vec((0i64..720, 0u8..4, prop::bool::ANY), 1..120),
        jitter in prop::collection::vec(0i64..10, 120),
    ) {
        let catalogue: Arc<Catalogue> = Arc::new(toml::from_str(r#"
            [[service]]
            id = "svc"
            name = "Service"
            [[service.slo]]
            id = "up"
            target = 0.99
            windows = ["month", "rolling:1d"]
            sli = { kind = "probe", metric = "up", timeslice = "1m" }
            [[ticket_policy]]
            type = "incident"
            priority = "P1"
            response = "15m"
            resolution = "2h"
        "#).unwrap());
        let lateness = Duration::from_secs(10 * 60);
        // Each event: a probe sample, or a status change of one of a few tickets.
        let base = slacap::model::parse_rfc3339("2026-11-02T00:00:00Z").unwrap();
        let make = |&(minute, kind, up): &(i64, u8, bool)| -> (Micros, Option<TicketEvent>, f64) {
            let time = base + minute * MIN;
            match kind {
                0 | 1 => (time, None, if up { 1.0 } else { 0.0 }),
                _ => {
                    let status = if up { TicketStatus::Acknowledged } else { TicketStatus::Resolved };
                    let id = format!("INC-{}", minute % 3);
                    let s = if minute % 7 == 0 { TicketStatus::New } else { status };
                    (time, Some(TicketEvent::status_change(time, &id, TicketType::Incident, "svc", "P1", s)), 0.0)
                }
            }
        };
        let run = |order: &[usize]| {
            let mut engine = SlaEngine::new(catalogue.clone(), lateness);
            let source = Source { stream: StreamKind::Metrics, partition: 0 };
            let mut findings = Vec::new();
            for &i in order {
                let (time, ticket, value) = make(&events[i]);
                match ticket {
                    Some(t) => engine.apply_ticket(&t, source),
                    None => engine.apply_sample("svc", "up", time, value, source),
                }
                let f = engine.advance();
                findings.extend(f.breaches.iter().map(|b| format!("{} {}", b.id, b.detected_at)));
                findings.extend(f.outcomes.iter().map(|o| format!("{} {} {:?} {}", o.ticket, o.metric, o.outcome, o.decided_at)));
                findings.extend(f.slices.iter().map(|s| format!("{} {} {}", s.start, s.state, s.total)));
            }
            // Flush: a far later event closes everything for both orders.
            engine.apply_sample("svc", "other", base + 2 * 1440 * MIN, 1.0, source);
            let f = engine.advance();
            findings.extend(f.breaches.iter().map(|b| format!("{} {}", b.id, b.detected_at)));
            findings.extend(f.outcomes.iter().map(|o| format!("{} {} {:?} {}", o.ticket, o.metric, o.outcome, o.decided_at)));
            findings.extend(f.slices.iter().map(|s| format!("{} {} {}", s.start, s.state, s.total)));
            findings.sort();
            findings
        };
        let mut in_order: Vec<usize> = (0..events.len()).collect();
        in_order.sort_by_key(|&i| (events[i].0, i));
        // Each event arrives up to 9 minutes after its time: always inside the 10-minute bound.
        let mut shuffled: Vec<usize> = (0..events.len()).collect();
        shuffled.sort_by_key(|&i| (events[i].0 + jitter[i], i));
        let (a, b) = (run(&in_order), run(&shuffled));
        let only_in_order: Vec<_> = a.iter().filter(|x| !b.contains(x)).collect();
        let only_shuffled: Vec<_> = b.iter().filter(|x| !a.contains(x)).collect();
        prop_assert!(a == b, "in order only: {:?}\nshuffled only: {:?}", only_in_order, only_shuffled);
    }
}

//! A synthetic month of events for the sample catalogue: probes, request counts, component
//! metrics and tickets, with known incidents so the figures can be checked by hand.
//!
//! Deterministic: the same month always yields the same messages.
//!
//! Scripted incidents (UTC):
//! * payments is down 02:00–02:50 on day 14: 50 bad minutes against a 99.9% monthly budget of
//!   43.2 minutes, so its availability budget is exhausted (a breach) and every request fails.
//! * identity is down 09:00–09:10 on day 20: within its 99.95% budget of 21.6 minutes.
//! * notifications sends no probe data 12:00–18:00 on day 5 (reported as no_data) and is down
//!   03:00–04:00 on day 26, inside an approved change window (CHG-9001).
//! * search answers 40% of queries with errors 13:00–16:00 on day 22.
//! * About one ticket in ten is acknowledged late and about one in seven resolved late.

use crate::model::{MICROS_PER_SECOND, Micros, StreamKind, format_rfc3339};
use crate::sla::window::{Interval, calendar_month};
use serde_json::{Value, json};

const MINUTE: Micros = 60 * MICROS_PER_SECOND;
const HOUR: Micros = 60 * MINUTE;
const DAY: Micros = 24 * HOUR;

/// One Kafka message to produce.
#[derive(Debug, Clone)]
pub struct Message {
    pub stream: StreamKind,
    pub key: String,
    pub payload: Vec<u8>,
    /// Event time used to order production.
    pub time: Micros,
}

/// A tiny deterministic generator (SplitMix64), so the demo needs no randomness crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn between(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Outage {
    service: &'static str,
    start: Micros,
    end: Micros,
    /// true: probes fail; false: probes are silent (no data).
    down: bool,
}

/// Generates the month `year-month` (e.g. 2026, 11). Returns messages in event-time order.
pub fn generate_month(year: i32, month: u32) -> Option<Vec<Message>> {
    let window = calendar_month(year, month)?;
    let day = |d: i64, h: i64, m: i64| window.start + (d - 1) * DAY + h * HOUR + m * MINUTE;
    let outages = [
        Outage {
            service: "payments",
            start: day(14, 2, 0),
            end: day(14, 2, 50),
            down: true,
        },
        Outage {
            service: "identity",
            start: day(20, 9, 0),
            end: day(20, 9, 10),
            down: true,
        },
        Outage {
            service: "notifications",
            start: day(5, 12, 0),
            end: day(5, 18, 0),
            down: false,
        },
        Outage {
            service: "notifications",
            start: day(26, 3, 0),
            end: day(26, 4, 0),
            down: true,
        },
    ];
    let mut rng = Rng(u64::from(month) * 1_000_003 + year as u64);
    let mut messages = Vec::new();
    metrics(
        window,
        &outages,
        day(22, 13, 0)..day(22, 16, 0),
        &mut rng,
        &mut messages,
    );
    tickets(window, &mut rng, &mut messages);
    messages.push(change(
        "CHG-9001",
        "notifications",
        day(25, 10, 0),
        day(26, 3, 0),
        day(26, 4, 0),
    ));
    // Input that must end up in the dead-letter topic, not stop the pipeline.
    messages.push(Message {
        stream: StreamKind::Metrics,
        key: "payments".into(),
        payload: b"{not json".to_vec(),
        time: day(3, 0, 0),
    });
    let unknown = json!({"time": format_rfc3339(day(3, 0, 0)), "service": "billing", "metric": "up", "value": 1});
    messages.push(Message {
        stream: StreamKind::Metrics,
        key: "billing".into(),
        payload: unknown.to_string().into_bytes(),
        time: day(3, 0, 0),
    });
    messages.sort_by_key(|m| m.time);
    Some(messages)
}

fn daily_shape(t: Micros) -> f64 {
    let hour = (t.rem_euclid(DAY)) as f64 / HOUR as f64;
    1.0 + 0.5 * ((hour - 14.0) / 24.0 * std::f64::consts::TAU).cos()
}

fn metrics(
    window: Interval,
    outages: &[Outage],
    search_errors: std::ops::Range<Micros>,
    rng: &mut Rng,
    out: &mut Vec<Message>,
) {
    let services = ["payments", "identity", "search", "notifications"];
    let mut hour = window.start;
    while hour < window.end {
        for service in services {
            let mut events: Vec<Value> = Vec::with_capacity(220);
            for minute in 0..60 {
                let t = hour + minute * MINUTE;
                let outage = outages
                    .iter()
                    .find(|o| o.service == service && o.start <= t && t < o.end);
                let at = format_rfc3339(t + 17 * MICROS_PER_SECOND);
                if service != "search" && outage.is_none_or(|o| o.down) {
                    let up = if outage.is_some() { 0 } else { 1 };
                    events.push(json!({"time": at, "service": service, "component": "probe", "metric": "up", "value": up}));
                }
                if service == "payments" || service == "search" {
                    let base = if service == "payments" { 1000.0 } else { 500.0 };
                    let total = (base * daily_shape(t) * rng.between(0.9, 1.1)).round();
                    let error_rate = if outage.is_some() {
                        1.0
                    } else if service == "search" && search_errors.contains(&t) {
                        0.4
                    } else if service == "payments" {
                        0.001
                    } else {
                        0.003
                    };
                    let bad = (total * error_rate * rng.between(0.5, 1.5))
                        .round()
                        .min(total);
                    let (good_metric, total_metric) = if service == "payments" {
                        ("requests_good", "requests_total")
                    } else {
                        ("queries_good", "queries_total")
                    };
                    events.push(json!({"time": at, "service": service, "metric": good_metric, "value": total - bad}));
                    events.push(json!({"time": at, "service": service, "metric": total_metric, "value": total}));
                }
                if minute % 5 == 0 {
                    component_samples(service, t, window.start, rng, &mut events);
                }
            }
            out.push(Message {
                stream: StreamKind::Metrics,
                key: service.into(),
                payload: Value::Array(events).to_string().into_bytes(),
                time: hour,
            });
        }
        hour += HOUR;
    }
}

/// Capacity metrics: CPU with a daily cycle and a slow trend, disks and caches that grow.
fn component_samples(
    service: &str,
    t: Micros,
    month_start: Micros,
    rng: &mut Rng,
    events: &mut Vec<Value>,
) {
    let days = (t - month_start) as f64 / DAY as f64;
    let at = format_rfc3339(t);
    let shape = daily_shape(t);
    let samples: Vec<(&str, &str, f64)> = match service {
        "payments" => vec![
            (
                "api-gateway",
                "cpu_utilization",
                0.30 * shape + 0.004 * days + rng.between(-0.03, 0.03),
            ),
            (
                "db-primary",
                "disk_used_gb",
                280.0 + 2.5 * days + rng.between(-0.5, 0.5),
            ),
        ],
        "identity" => vec![
            (
                "auth-service",
                "cpu_utilization",
                0.25 * shape + rng.between(-0.02, 0.02),
            ),
            (
                "session-cache",
                "memory_used_gb",
                30.0 + 6.0 * shape + 0.3 * days + rng.between(-1.0, 1.0),
            ),
        ],
        "search" => vec![
            (
                "search-cluster",
                "cpu_utilization",
                0.35 * shape + 0.006 * days + rng.between(-0.04, 0.04),
            ),
            (
                "index-store",
                "disk_used_gb",
                900.0 + 12.0 * days + rng.between(-2.0, 2.0),
            ),
        ],
        _ => vec![(
            "mail-relay",
            "queue_depth",
            (1500.0 * shape + 50.0 * days + rng.between(-200.0, 200.0))
                .max(0.0)
                .round(),
        )],
    };
    for (component, metric, value) in samples {
        let value = (value * 1000.0).round() / 1000.0;
        events.push(json!({"time": at, "service": service, "component": component, "metric": metric, "value": value}));
    }
}

struct TicketKind {
    prefix: &'static str,
    kind: &'static str,
    priorities: &'static [(&'static str, f64)],
    per_day: u64,
}

fn target(kind: &str, priority: &str) -> (Micros, Micros) {
    match (kind, priority) {
        ("incident", "P1") => (15 * MINUTE, 4 * HOUR),
        ("incident", "P2") => (30 * MINUTE, 8 * HOUR),
        ("incident", "P3") => (4 * HOUR, 3 * DAY),
        ("incident", _) => (DAY, 5 * DAY),
        ("request", "P3") => (DAY, 5 * DAY),
        ("request", _) => (2 * DAY, 10 * DAY),
        _ => (DAY, 30 * DAY),
    }
}

fn tickets(window: Interval, rng: &mut Rng, out: &mut Vec<Message>) {
    let kinds = [
        TicketKind {
            prefix: "INC",
            kind: "incident",
            priorities: &[("P1", 0.06), ("P2", 0.2), ("P3", 0.5), ("P4", 1.0)],
            per_day: 3,
        },
        TicketKind {
            prefix: "REQ",
            kind: "request",
            priorities: &[("P3", 0.5), ("P4", 1.0)],
            per_day: 3,
        },
    ];
    let services = ["payments", "identity", "search", "notifications"];
    let mut serial = 1000;
    let mut day = window.start;
    while day < window.end {
        for service in services {
            for k in &kinds {
                for _ in 0..rng.below(k.per_day + 1) {
                    serial += 1;
                    let draw = rng.unit();
                    let priority = k
                        .priorities
                        .iter()
                        .find(|(_, cut)| draw < *cut)
                        .map_or("P4", |(p, _)| p);
                    let created = day + rng.below(DAY as u64) as Micros;
                    let id = format!("{}-{serial}", k.prefix);
                    lifecycle(window, &id, k.kind, service, priority, created, rng, out);
                }
            }
        }
        day += DAY;
    }
    // One problem record linking recurring incidents, resolved within its 30 days.
    lifecycle(
        window,
        "PRB-2001",
        "problem",
        "payments",
        "P2",
        window.start + 14 * DAY + 4 * HOUR,
        rng,
        out,
    );
}

#[allow(clippy::too_many_arguments)]
fn lifecycle(
    window: Interval,
    id: &str,
    kind: &str,
    service: &str,
    priority: &str,
    created: Micros,
    rng: &mut Rng,
    out: &mut Vec<Message>,
) {
    let (response, resolution) = target(kind, priority);
    let mut emit = |t: Micros, status: &str| {
        if t < window.end {
            let event = json!({"time": format_rfc3339(t), "ticket": id, "type": kind, "service": service, "priority": priority, "status": status});
            out.push(Message {
                stream: StreamKind::Tickets,
                key: service.into(),
                payload: event.to_string().into_bytes(),
                time: t,
            });
        }
    };
    emit(created, "new");
    let late_response = rng.unit() < 0.1;
    let responded = created
        + (response as f64
            * if late_response {
                rng.between(1.1, 2.0)
            } else {
                rng.between(0.1, 0.9)
            }) as Micros;
    emit(responded, "acknowledged");
    emit(responded + 5 * MINUTE, "in_progress");
    let late_resolution = rng.unit() < 0.15;
    let working = (resolution as f64
        * if late_resolution {
            rng.between(1.05, 1.6)
        } else {
            rng.between(0.2, 0.95)
        }) as Micros;
    let mut paused = 0;
    if rng.unit() < 0.2 {
        let pause_at = responded + 10 * MINUTE;
        paused = (rng.between(1.0, 48.0) * HOUR as f64) as Micros;
        emit(pause_at, "awaiting_customer");
        emit(pause_at + paused, "in_progress");
    }
    let resolved = created + working.max(responded - created + 10 * MINUTE) + paused;
    emit(resolved, "resolved");
    emit(resolved + DAY, "closed");
}

fn change(id: &str, service: &str, created: Micros, start: Micros, end: Micros) -> Message {
    let event = json!({
        "time": format_rfc3339(created), "ticket": id, "type": "change", "service": service, "priority": "P3",
        "status": "new", "planned_start": format_rfc3339(start), "planned_end": format_rfc3339(end),
        "approved": true, "outage": true, "summary": "Mail relay upgrade"
    });
    Message {
        stream: StreamKind::Tickets,
        key: service.into(),
        payload: event.to_string().into_bytes(),
        time: created,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_month_is_deterministic() {
        let a = generate_month(2026, 11).unwrap();
        let b = generate_month(2026, 11).unwrap();
        assert_eq!(a.len(), b.len());
        assert!(a.iter().zip(&b).all(|(x, y)| x.payload == y.payload));
    }

    #[test]
    fn messages_are_in_time_order_within_the_month() {
        let m = generate_month(2026, 11).unwrap();
        assert!(m.windows(2).all(|w| w[0].time <= w[1].time));
        let window = calendar_month(2026, 11).unwrap();
        assert!(m.iter().all(|x| window.contains(x.time)));
    }
}

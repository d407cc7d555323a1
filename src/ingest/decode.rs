//! Decoding of the JSON wire format: one event object or an array of them per Kafka message.
//!
//! A message decodes whole or not at all: if any element is bad the message goes to the
//! dead-letter topic as it came, with a reason naming the element, so nothing is half-applied.
//!
//! Beyond the shape, every event is checked against [`Bounds`]: event times inside a window
//! around the wall clock, key fields short and free of control characters, priorities that a
//! ticket policy knows, non-negative ratio counts, changes that end after they start. What
//! passes here cannot make the SLA state walk decades of slices or block a webhook.

use super::metric_scan::{Shape, scan_metrics};
use crate::config::{Catalogue, Service, Sli};
use crate::model::{Event, MetricEvent, TicketEvent, TicketStatus, TicketType, parse_rfc3339};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

pub use crate::model::StreamKind as Stream;

#[derive(Deserialize)]
struct WireMetric<'a> {
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[serde(borrow)]
    service: Cow<'a, str>,
    #[serde(borrow, default)]
    component: Option<Cow<'a, str>>,
    #[serde(borrow)]
    metric: Cow<'a, str>,
    value: f64,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct WireTicket<'a> {
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[serde(borrow)]
    ticket: Cow<'a, str>,
    #[serde(rename = "type")]
    ticket_type: TicketType,
    #[serde(borrow)]
    service: Cow<'a, str>,
    #[serde(borrow)]
    priority: Cow<'a, str>,
    status: TicketStatus,
    #[serde(default)]
    component: Option<String>,
    #[serde(default)]
    assignee: Option<String>,
    #[serde(default)]
    problem: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(borrow, default)]
    planned_start: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    planned_end: Option<Cow<'a, str>>,
    #[serde(default)]
    approved: Option<bool>,
    #[serde(default)]
    outage: Option<bool>,
}

/// Longest key field (ticket id, service, metric, ...) in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Longest free-text field (`summary`) in bytes.
pub const MAX_TEXT_BYTES: usize = 4096;
/// Largest count of a ratio SLI: 2^53, the largest integer an f64 holds exactly.
pub const MAX_COUNT: f64 = 9_007_199_254_740_992.0;
/// Most labels on one metric sample.
pub const MAX_LABELS: usize = 32;

/// The window of event times accepted, from the wall clock and the pipeline settings.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Events before this are too old (`pipeline.max_event_age`).
    pub oldest: i64,
    /// Events after this are too far ahead (`pipeline.max_clock_skew`).
    pub newest: i64,
    /// Longest outage window an approved change may exclude (`pipeline.max_exclusion`), µs.
    pub max_exclusion: i64,
}

impl Bounds {
    pub fn around(now: i64, max_age: std::time::Duration, max_skew: std::time::Duration) -> Self {
        let micros = |d: std::time::Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        Bounds {
            oldest: now.saturating_sub(micros(max_age)),
            newest: now.saturating_add(micros(max_skew)),
            max_exclusion: i64::MAX,
        }
    }

    /// The same bounds, refusing approved outage changes longer than `longest`.
    pub fn with_max_exclusion(self, longest: std::time::Duration) -> Self {
        Bounds {
            max_exclusion: i64::try_from(longest.as_micros()).unwrap_or(i64::MAX),
            ..self
        }
    }

    /// Accepts everything (replays of history already validated once).
    pub const UNBOUNDED: Bounds = Bounds {
        oldest: i64::MIN,
        newest: i64::MAX,
        max_exclusion: i64::MAX,
    };
}

/// Decodes one message payload into events, or explains why it cannot be used.
pub fn decode(
    stream: Stream,
    payload: &[u8],
    catalogue: &Catalogue,
    bounds: Bounds,
    out: &mut Vec<Event>,
) -> Result<(), String> {
    let start = out.len();
    let result = match stream {
        Stream::Metrics => decode_metrics(payload, catalogue, bounds, out),
        Stream::Tickets => decode_all::<WireTicket>(
            payload,
            |i, w| ticket(i, w, catalogue, bounds).map(Event::Ticket),
            out,
        ),
    };
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Metrics: the scanner's fast path for the common shape, serde for everything else.
fn decode_metrics(
    payload: &[u8],
    catalogue: &Catalogue,
    bounds: Bounds,
    out: &mut Vec<Event>,
) -> Result<(), String> {
    let mut scanned = Vec::new();
    let Some(shape) = scan_metrics(payload, &mut scanned) else {
        return decode_all::<WireMetric>(
            payload,
            |i, w| metric(i, w, catalogue, bounds).map(Event::Metric),
            out,
        );
    };
    out.reserve(scanned.len());
    for (i, s) in scanned.into_iter().enumerate() {
        let index = (shape == Shape::Array).then_some(i);
        let wire = WireMetric {
            time: Cow::Borrowed(s.time),
            service: Cow::Borrowed(s.service),
            component: s.component(),
            metric: Cow::Borrowed(s.metric),
            value: s.value,
            labels: BTreeMap::new(),
        };
        out.push(Event::Metric(metric(index, wire, catalogue, bounds)?));
    }
    Ok(())
}

fn decode_all<'a, W: Deserialize<'a>>(
    payload: &'a [u8],
    convert: impl Fn(Option<usize>, W) -> Result<Event, String>,
    out: &mut Vec<Event>,
) -> Result<(), String> {
    let first = payload.iter().find(|b| !b.is_ascii_whitespace()).copied();
    match first {
        Some(b'[') => {
            let items: Vec<W> = serde_json::from_slice(payload)
                .map_err(|e| format!("invalid JSON array of events: {e}"))?;
            if items.is_empty() {
                return Err("empty array: no events".into());
            }
            for (i, w) in items.into_iter().enumerate() {
                out.push(convert(Some(i), w)?);
            }
            Ok(())
        }
        Some(b'{') => {
            let w: W =
                serde_json::from_slice(payload).map_err(|e| format!("invalid event: {e}"))?;
            out.push(convert(None, w)?);
            Ok(())
        }
        None => Err("empty message".into()),
        Some(_) => Err("not a JSON object or array".into()),
    }
}

fn at(index: Option<usize>) -> String {
    index.map(|i| format!("element {i}: ")).unwrap_or_default()
}

/// The service a rejection reason names as unknown, if that is why the record was rejected
/// (for the catalogue drift report).
pub fn unknown_service_in(reason: &str) -> Option<&str> {
    let rest = &reason[reason.find("unknown service `")? + "unknown service `".len()..];
    rest.split_once('`').map(|(name, _)| name)
}

fn known_service<'c>(
    index: Option<usize>,
    service: &str,
    catalogue: &'c Catalogue,
) -> Result<&'c Service, String> {
    match catalogue.service(service) {
        Some(found) => Ok(found),
        None => Err(format!(
            "{}unknown service `{service}` (not in the catalogue)",
            at(index)
        )),
    }
}

fn time(index: Option<usize>, field: &str, text: &str, bounds: Bounds) -> Result<i64, String> {
    // The reason's copy of the text is made only for a refusal: this runs for every event.
    let t = parse_rfc3339(text).ok_or_else(|| {
        format!(
            "{}`{field}` is not an RFC 3339 time with offset: `{}`",
            at(index),
            clip(text)
        )
    })?;
    if t < bounds.oldest {
        return Err(format!(
            "{}`{field}` {} is older than pipeline.max_event_age allows",
            at(index),
            clip(text)
        ));
    }
    if t > bounds.newest {
        return Err(format!(
            "{}`{field}` {} is further ahead of the clock than pipeline.max_clock_skew allows",
            at(index),
            clip(text)
        ));
    }
    Ok(t)
}

/// At most 64 characters of `text`, with control characters escaped, for a reason line.
fn clip(text: &str) -> String {
    let mut shown: String = text
        .chars()
        .take(64)
        .flat_map(char::escape_default)
        .collect();
    if text.chars().count() > 64 {
        shown.push('…');
    }
    shown
}

/// A key field: not empty, at most [`MAX_KEY_BYTES`], no control characters (ids become file
/// names, HTTP headers and log fields downstream).
fn key_field(index: Option<usize>, field: &str, value: &str) -> Result<(), String> {
    let problem = if value.trim().is_empty() {
        "is empty"
    } else if value.len() > MAX_KEY_BYTES {
        "is longer than 256 bytes"
    } else if has_control(value) {
        "contains a control character"
    } else {
        return Ok(());
    };
    Err(format!(
        "{}`{field}` {problem}: `{}`",
        at(index),
        clip(value)
    ))
}

/// A control character (C0, DEL or C1), checked byte-wise when the text is ASCII (key fields
/// almost always are: this runs for several fields of every event).
fn has_control(value: &str) -> bool {
    if value.is_ascii() {
        value.bytes().any(|b| b < 0x20 || b == 0x7f)
    } else {
        value.chars().any(char::is_control)
    }
}

fn optional_key(index: Option<usize>, field: &str, value: Option<&str>) -> Result<(), String> {
    value.map_or(Ok(()), |v| key_field(index, field, v))
}

fn metric(
    index: Option<usize>,
    w: WireMetric,
    catalogue: &Catalogue,
    bounds: Bounds,
) -> Result<MetricEvent, String> {
    key_field(index, "service", &w.service)?;
    let service = known_service(index, &w.service, catalogue)?;
    key_field(index, "metric", &w.metric)?;
    optional_key(index, "component", w.component.as_deref())?;
    if !w.value.is_finite() {
        return Err(format!("{}`value` is not a finite number", at(index)));
    }
    if is_ratio_count(service, &w.metric) {
        if w.value < 0.0 {
            return Err(format!(
                "{}`value` {} is negative, but `{}` is a count of a ratio SLI",
                at(index),
                w.value,
                w.metric
            ));
        }
        if w.value > MAX_COUNT {
            return Err(format!(
                "{}`value` {} is above 2^53, the largest count kept exactly",
                at(index),
                w.value
            ));
        }
    }
    if w.labels.len() > MAX_LABELS {
        return Err(format!(
            "{}`labels` has more than {MAX_LABELS} entries",
            at(index)
        ));
    }
    for (key, value) in &w.labels {
        key_field(index, "labels key", key)?;
        if value.len() > MAX_KEY_BYTES || has_control(value) {
            return Err(format!(
                "{}`labels.{}` is longer than 256 bytes or contains a control character",
                at(index),
                clip(key)
            ));
        }
    }
    Ok(MetricEvent {
        time: time(index, "time", &w.time, bounds)?,
        service: w.service.into_owned(),
        component: w.component.map(Cow::into_owned),
        metric: w.metric.into_owned(),
        value: w.value,
        labels: w.labels,
    })
}

/// True when `metric` is the good or total count of one of the service's ratio SLIs.
fn is_ratio_count(service: &Service, metric: &str) -> bool {
    service.slos.iter().any(|slo| match &slo.sli {
        Sli::Ratio { good, total } => good == metric || total == metric,
        Sli::Probe { .. } => false,
    })
}

/// Incidents and requests run SLA clocks: their priority must name a policy. A type the
/// catalogue has no policy for at all (changes, problems) carries no clock and any priority.
fn known_priority(
    index: Option<usize>,
    w: &WireTicket,
    catalogue: &Catalogue,
) -> Result<(), String> {
    let typed = || {
        catalogue
            .ticket_policies
            .iter()
            .filter(|p| p.ticket_type == w.ticket_type)
    };
    if typed().next().is_none() || catalogue.policy(w.ticket_type, &w.priority).is_some() {
        return Ok(());
    }
    let known: Vec<&str> = typed().map(|p| p.priority.as_str()).collect();
    Err(format!(
        "{}`priority` `{}` has no {} policy in the catalogue (known: {})",
        at(index),
        clip(&w.priority),
        w.ticket_type.as_str(),
        known.join(", ")
    ))
}

fn ticket(
    index: Option<usize>,
    w: WireTicket,
    catalogue: &Catalogue,
    bounds: Bounds,
) -> Result<TicketEvent, String> {
    key_field(index, "service", &w.service)?;
    known_service(index, &w.service, catalogue)?;
    key_field(index, "ticket", &w.ticket)?;
    key_field(index, "priority", &w.priority)?;
    known_priority(index, &w, catalogue)?;
    optional_key(index, "component", w.component.as_deref())?;
    optional_key(index, "assignee", w.assignee.as_deref())?;
    optional_key(index, "problem", w.problem.as_deref())?;
    if w.summary.as_ref().is_some_and(|s| s.len() > MAX_TEXT_BYTES) {
        return Err(format!("{}`summary` is longer than 4096 bytes", at(index)));
    }
    let planned = |field: &str, v: &Option<Cow<str>>| {
        v.as_deref()
            .map(|t| time(index, field, t, bounds))
            .transpose()
    };
    let planned_start = planned("planned_start", &w.planned_start)?;
    let planned_end = planned("planned_end", &w.planned_end)?;
    if let (Some(start), Some(end)) = (planned_start, planned_end)
        && end < start
    {
        return Err(format!(
            "{}`planned_end` is before `planned_start`: the change would end before it starts",
            at(index)
        ));
    }
    if let (Some(start), Some(end), Some(true), Some(true)) =
        (planned_start, planned_end, w.approved, w.outage)
        && end - start > bounds.max_exclusion
    {
        return Err(format!(
            "{}the approved outage from `planned_start` to `planned_end` lasts {}h, longer than pipeline.max_exclusion ({}h) allows to exclude",
            at(index),
            (end - start) / 3_600_000_000,
            bounds.max_exclusion / 3_600_000_000
        ));
    }
    Ok(TicketEvent {
        time: time(index, "time", &w.time, bounds)?,
        planned_start,
        planned_end,
        ticket: w.ticket.into_owned(),
        ticket_type: w.ticket_type,
        service: w.service.into_owned(),
        priority: w.priority.into_owned(),
        status: w.status,
        component: w.component,
        assignee: w.assignee,
        problem: w.problem,
        summary: w.summary,
        approved: w.approved,
        outage: w.outage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue() -> Catalogue {
        toml::from_str(
            r#"
            [[service]]
            id = "payments"
            name = "Payments"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn one_object_or_an_array() {
        let c = catalogue();
        let mut out = Vec::new();
        let one = br#"{"time":"2026-11-02T10:00:00Z","service":"payments","component":"db","metric":"up","value":1}"#;
        decode(Stream::Metrics, one, &c, Bounds::UNBOUNDED, &mut out).unwrap();
        let many = br#"[{"time":"2026-11-02T10:00:00Z","service":"payments","metric":"up","value":1},
                        {"time":"2026-11-02T10:01:00+01:00","service":"payments","metric":"up","value":0,"labels":{"probe":"eu"}}]"#;
        decode(Stream::Metrics, many, &c, Bounds::UNBOUNDED, &mut out).unwrap();
        assert_eq!(out.len(), 3);
        let Event::Metric(m) = &out[2] else { panic!() };
        assert_eq!(m.labels["probe"], "eu");
    }

    #[test]
    fn tickets_decode_with_their_change_fields() {
        let c = catalogue();
        let mut out = Vec::new();
        let msg = br#"{"time":"2026-11-02T10:03:00Z","ticket":"CHG-7","type":"change","service":"payments","priority":"P3","status":"new",
                      "planned_start":"2026-11-03T01:00:00Z","planned_end":"2026-11-03T02:00:00Z","approved":true,"outage":true}"#;
        decode(Stream::Tickets, msg, &c, Bounds::UNBOUNDED, &mut out).unwrap();
        let Event::Ticket(t) = &out[0] else { panic!() };
        assert_eq!(
            (t.ticket_type, t.status, t.outage),
            (TicketType::Change, TicketStatus::New, Some(true))
        );
        assert!(t.planned_end.unwrap() - t.planned_start.unwrap() == 3_600_000_000);
    }

    #[test]
    fn a_bad_element_rejects_the_whole_message_with_a_reason() {
        let c = catalogue();
        let mut out = Vec::new();
        let msg =
            br#"[{"time":"2026-11-02T10:00:00Z","service":"payments","metric":"up","value":1},
                       {"time":"2026-11-02T10:00:00Z","service":"ghost","metric":"up","value":1}]"#;
        let err = decode(Stream::Metrics, msg, &c, Bounds::UNBOUNDED, &mut out).unwrap_err();
        assert_eq!(
            err,
            "element 1: unknown service `ghost` (not in the catalogue)"
        );
        assert_eq!(unknown_service_in(&err), Some("ghost"));
        assert!(out.is_empty(), "nothing of a rejected message is kept");
    }

    #[test]
    fn reasons_say_what_is_wrong() {
        let c = catalogue();
        let mut out = Vec::new();
        let cases: [(&[u8], &str); 5] = [
            (b"", "empty message"),
            (b"hello", "not a JSON object or array"),
            (br#"{"time":"soon","service":"payments","metric":"up","value":1}"#, "`time` is not an RFC 3339"),
            (br#"{"time":"2026-11-02T10:00:00Z","service":"payments","value":1}"#, "missing field `metric`"),
            (br#"{"time":"2026-11-02T10:00:00Z","ticket":"I-1","type":"incident","service":"payments","priority":"P1","status":"lost"}"#, "unknown variant `lost`"),
        ];
        for (i, (msg, expected)) in cases.iter().enumerate() {
            let stream = if i == 4 {
                Stream::Tickets
            } else {
                Stream::Metrics
            };
            let err = decode(stream, msg, &c, Bounds::UNBOUNDED, &mut out).unwrap_err();
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
    }
}

#[cfg(test)]
mod bounds_tests {
    use super::*;

    const NOW: i64 = 1_796_000_000_000_000; // 2026-11-29

    fn catalogue() -> Catalogue {
        toml::from_str(
            r#"
            [[service]]
            id = "payments"
            name = "Payments"
              [[service.slo]]
              id = "success"
              target = 0.99
              windows = ["month"]
              sli = { kind = "ratio", good = "requests_good", total = "requests_total" }

            [[ticket_policy]]
            type = "incident"
            priority = "P1"
            response = "15m"
            resolution = "4h"
            "#,
        )
        .unwrap()
    }

    fn bounds() -> Bounds {
        Bounds::around(
            NOW,
            std::time::Duration::from_secs(400 * 86_400),
            std::time::Duration::from_secs(3600),
        )
    }

    fn refuse(stream: Stream, payload: &str) -> String {
        let mut out = Vec::new();
        let err = decode(stream, payload.as_bytes(), &catalogue(), bounds(), &mut out)
            .expect_err(payload);
        assert!(out.is_empty());
        err
    }

    fn ticket_with(field: &str, value: &str) -> String {
        let mut t = serde_json::json!({"time":"2026-11-20T10:00:00Z","ticket":"INC-1","type":"incident",
            "service":"payments","priority":"P1","status":"new"});
        t[field] = serde_json::Value::String(value.into());
        t.to_string()
    }

    #[test]
    fn event_times_outside_the_window_around_the_clock_are_refused() {
        let old = refuse(
            Stream::Metrics,
            r#"{"time":"1970-01-01T00:00:00Z","service":"payments","metric":"up","value":1}"#,
        );
        assert!(old.contains("older than pipeline.max_event_age"), "{old}");
        let future = refuse(
            Stream::Metrics,
            r#"[{"time":"2026-11-20T10:00:00Z","service":"payments","metric":"up","value":1},
                {"time":"9999-12-31T23:59:59Z","service":"payments","metric":"up","value":1}]"#,
        );
        assert!(future.starts_with("element 1: `time`"), "{future}");
        assert!(future.contains("max_clock_skew"), "{future}");
    }

    #[test]
    fn key_fields_must_be_short_non_empty_and_printable() {
        let cases = [
            (
                "ticket",
                "INC-\u{7}1",
                "`ticket` contains a control character",
            ),
            ("ticket", " ", "`ticket` is empty"),
            (
                "assignee",
                &"a".repeat(300),
                "`assignee` is longer than 256 bytes",
            ),
            ("priority", "P9", "`priority` `P9` has no incident policy"),
        ];
        for (field, value, expected) in cases {
            let err = refuse(Stream::Tickets, &ticket_with(field, value));
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
    }

    #[test]
    fn negative_ratio_counts_and_backwards_changes_are_refused() {
        let err = refuse(
            Stream::Metrics,
            r#"{"time":"2026-11-20T10:00:00Z","service":"payments","metric":"requests_good","value":-5}"#,
        );
        assert!(err.contains("negative"), "{err}");
        // A negative value of another metric (a temperature, a delta) is fine.
        let mut out = Vec::new();
        let fine = br#"{"time":"2026-11-20T10:00:00Z","service":"payments","metric":"temperature","value":-5}"#;
        decode(Stream::Metrics, fine, &catalogue(), bounds(), &mut out).unwrap();
        let err = refuse(
            Stream::Tickets,
            r#"{"time":"2026-11-20T10:00:00Z","ticket":"CHG-1","type":"change","service":"payments",
                "priority":"P3","status":"new","planned_start":"2026-11-21T02:00:00Z",
                "planned_end":"2026-11-21T01:00:00Z","approved":true,"outage":true}"#,
        );
        assert!(
            err.contains("`planned_end` is before `planned_start`"),
            "{err}"
        );
        let month_long = r#"{"time":"2026-11-20T10:00:00Z","ticket":"CHG-2","type":"change","service":"payments",
                "priority":"P3","status":"new","planned_start":"2026-11-01T00:00:00Z",
                "planned_end":"2026-11-30T00:00:00Z","approved":true,"outage":true}"#;
        let mut out = Vec::new();
        let three_days = bounds().with_max_exclusion(std::time::Duration::from_secs(3 * 86_400));
        let err = decode(
            Stream::Tickets,
            month_long.as_bytes(),
            &catalogue(),
            three_days,
            &mut out,
        )
        .unwrap_err();
        assert!(
            err.contains("longer than pipeline.max_exclusion (72h)"),
            "{err}"
        );
    }
}

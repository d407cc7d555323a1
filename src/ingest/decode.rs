//! Decoding of the JSON wire format: one event object or an array of them per Kafka message.
//!
//! A message decodes whole or not at all: if any element is bad the message goes to the
//! dead-letter topic as it came, with a reason naming the element, so nothing is half-applied.

use crate::config::Catalogue;
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

/// Decodes one message payload into events, or explains why it cannot be used.
pub fn decode(
    stream: Stream,
    payload: &[u8],
    catalogue: &Catalogue,
    out: &mut Vec<Event>,
) -> Result<(), String> {
    let start = out.len();
    let result = match stream {
        Stream::Metrics => decode_all::<WireMetric>(
            payload,
            |i, w| metric(i, w, catalogue).map(Event::Metric),
            out,
        ),
        Stream::Tickets => decode_all::<WireTicket>(
            payload,
            |i, w| ticket(i, w, catalogue).map(Event::Ticket),
            out,
        ),
    };
    if result.is_err() {
        out.truncate(start);
    }
    result
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

fn known_service(index: Option<usize>, service: &str, catalogue: &Catalogue) -> Result<(), String> {
    match catalogue.service(service) {
        Some(_) => Ok(()),
        None => Err(format!(
            "{}unknown service `{service}` (not in the catalogue)",
            at(index)
        )),
    }
}

fn time(index: Option<usize>, field: &str, text: &str) -> Result<i64, String> {
    parse_rfc3339(text).ok_or_else(|| {
        format!(
            "{}`{field}` is not an RFC 3339 time with offset: `{text}`",
            at(index)
        )
    })
}

fn metric(
    index: Option<usize>,
    w: WireMetric,
    catalogue: &Catalogue,
) -> Result<MetricEvent, String> {
    known_service(index, &w.service, catalogue)?;
    if w.metric.is_empty() {
        return Err(format!("{}`metric` is empty", at(index)));
    }
    if !w.value.is_finite() {
        return Err(format!("{}`value` is not a finite number", at(index)));
    }
    Ok(MetricEvent {
        time: time(index, "time", &w.time)?,
        service: w.service.into_owned(),
        component: w.component.map(Cow::into_owned),
        metric: w.metric.into_owned(),
        value: w.value,
        labels: w.labels,
    })
}

fn ticket(
    index: Option<usize>,
    w: WireTicket,
    catalogue: &Catalogue,
) -> Result<TicketEvent, String> {
    known_service(index, &w.service, catalogue)?;
    if w.ticket.is_empty() {
        return Err(format!("{}`ticket` is empty", at(index)));
    }
    let planned =
        |field: &str, v: &Option<Cow<str>>| v.as_deref().map(|t| time(index, field, t)).transpose();
    Ok(TicketEvent {
        time: time(index, "time", &w.time)?,
        planned_start: planned("planned_start", &w.planned_start)?,
        planned_end: planned("planned_end", &w.planned_end)?,
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
        decode(Stream::Metrics, one, &c, &mut out).unwrap();
        let many = br#"[{"time":"2026-11-02T10:00:00Z","service":"payments","metric":"up","value":1},
                        {"time":"2026-11-02T10:01:00+01:00","service":"payments","metric":"up","value":0,"labels":{"probe":"eu"}}]"#;
        decode(Stream::Metrics, many, &c, &mut out).unwrap();
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
        decode(Stream::Tickets, msg, &c, &mut out).unwrap();
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
        let err = decode(Stream::Metrics, msg, &c, &mut out).unwrap_err();
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
            let err = decode(stream, msg, &c, &mut out).unwrap_err();
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
    }
}

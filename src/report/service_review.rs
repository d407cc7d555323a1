//! The monthly service review pack: SLA attainment against targets, every breach of the month
//! with its review status, incidents and problems, and the capacity plans. Rendered as
//! printable HTML (one section per service) and as CSV (one fact per row).

use crate::alert::register::{Register, ReviewStatus};
use crate::config::Service;
use crate::forecast::PlanDocument;
use crate::model::{Micros, format_rfc3339};
use crate::sla::window::Interval;
use crate::sla::{Breach, ServiceSla, SlaEngine};
use serde::Serialize;
use std::fmt::Write;

/// An incident or problem raised in the month (from the `ticket_events` history).
#[derive(Debug, Clone, Serialize)]
pub struct TicketLine {
    pub ticket: String,
    #[serde(rename = "type")]
    pub ticket_type: String,
    pub priority: String,
    pub created: String,
    /// The problem record an incident is linked to.
    pub problem: Option<String>,
    pub status: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BreachLine {
    pub breach: Breach,
    pub review_status: ReviewStatus,
    pub reviewed_by: Option<String>,
    pub review_due_by: String,
    pub review_overdue: bool,
}

/// One service's pack.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceReview {
    pub service: String,
    pub name: String,
    pub owner: String,
    pub month: String,
    pub sla: Option<ServiceSla>,
    pub breaches: Vec<BreachLine>,
    pub tickets: Vec<TicketLine>,
    pub plans: Vec<PlanDocument>,
    /// The instant review statuses and overdue marks refer to.
    pub as_of: String,
}

/// Everything a pack needs, gathered by the caller.
pub struct Inputs<'a> {
    pub engine: &'a SlaEngine,
    pub register: &'a Register,
    pub plans: &'a [PlanDocument],
    pub tickets: &'a [(String, TicketLine)],
    /// Per service, the history's rows for the part of the month before the live state
    /// ([`SlaEngine::history_needed`]).
    pub older: &'a std::collections::HashMap<String, crate::sla::older::OlderFindings>,
    pub review_due: Micros,
    /// The instant the pack is as of: review statuses are those recorded by then, and a
    /// review is overdue when its due time had passed by then.
    pub now: Micros,
}

pub fn build(service: &Service, month: &str, window: Interval, inputs: &Inputs) -> ServiceReview {
    let breaches = inputs
        .engine
        .breaches(Some(&service.id), None)
        .into_iter()
        .filter(|b| window.contains(b.detected_at))
        .map(|breach| {
            // The trail as it stood at the pack's instant: the same pack, printed later, says
            // the same.
            let as_of = format_rfc3339(inputs.now);
            let trail: Vec<_> = inputs
                .register
                .trail(&breach.id)
                .into_iter()
                .filter(|e| e.recorded_at <= as_of)
                .collect();
            let status = crate::alert::register::status_of(&trail);
            let due = breach.detected_at + inputs.review_due;
            BreachLine {
                review_status: status,
                reviewed_by: trail.last().map(|e| e.reviewer.clone()),
                review_due_by: format_rfc3339(due),
                review_overdue: status < ReviewStatus::Reviewed && inputs.now >= due,
                breach,
            }
        })
        .collect();
    ServiceReview {
        service: service.id.clone(),
        name: service.name.clone(),
        owner: service.owner.clone().unwrap_or_default(),
        month: month.to_string(),
        sla: match inputs.older.get(&service.id) {
            Some(older) => inputs.engine.service_sla_with(&service.id, window, older),
            None => inputs.engine.service_sla(&service.id, window),
        },
        breaches,
        tickets: inputs
            .tickets
            .iter()
            .filter(|(s, _)| *s == service.id)
            .map(|(_, t)| t.clone())
            .collect(),
        plans: inputs
            .plans
            .iter()
            .filter(|p| p.service == service.id)
            .cloned()
            .collect(),
        as_of: format_rfc3339(inputs.now),
    }
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.3} %", v * 100.0))
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "-",
    }
}

/// The packs as one printable HTML page.
pub fn html(reviews: &[ServiceReview]) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Service review</title>\n<style>body{font-family:Helvetica,Arial,sans-serif;font-size:12px;margin:2em}table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{border:1px solid #999;padding:3px 6px;text-align:left}th{background:#eee}.missed{color:#b00;font-weight:bold}section{page-break-after:always}</style></head><body>\n",
    );
    for r in reviews {
        let _ = write!(
            out,
            "<section id=\"{}\"><h1>Service review: {} ({})</h1>\n<p>Month {} · owner {} · review status as of {}</p>\n",
            esc(&r.service),
            esc(&r.name),
            esc(&r.service),
            esc(&r.month),
            esc(&r.owner),
            esc(&r.as_of)
        );
        out.push_str("<h2>SLA attainment</h2>\n<table class=\"attainment\"><tr><th>SLO</th><th>target</th><th>attained</th><th>result</th><th>error budget left</th></tr>\n");
        if let Some(sla) = &r.sla {
            for a in &sla.availability {
                let met = a.attainment.met;
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                    esc(&a.slo),
                    pct(Some(a.target)),
                    pct(a.attainment.attained),
                    if met == Some(false) { "missed" } else { "" },
                    yes_no(met),
                    pct(a.attainment.error_budget_remaining)
                );
            }
        }
        out.push_str("</table>\n<table class=\"tickets\"><tr><th>type</th><th>priority</th><th>clock</th><th>target</th><th>decided</th><th>met</th><th>breached</th><th>attainment</th></tr>\n");
        if let Some(sla) = &r.sla {
            for t in &sla.tickets {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}s</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    t.ticket_type,
                    esc(&t.priority),
                    t.metric,
                    t.target_seconds,
                    t.count,
                    t.met,
                    t.breached,
                    pct(t.attainment)
                );
            }
        }
        let _ = write!(
            out,
            "</table>\n<h2>Breaches ({})</h2>\n<table class=\"breaches\"><tr><th>breach</th><th>kind</th><th>at</th><th>observed</th><th>target</th><th>review</th><th>reviewer</th><th>due by</th></tr>\n",
            r.breaches.len()
        );
        for b in &r.breaches {
            let _ = writeln!(
                out,
                "<tr class=\"breach\" data-id=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}{}</td><td>{}</td><td>{}</td></tr>",
                esc(&b.breach.id),
                esc(&b.breach.id),
                b.breach.kind.as_str(),
                format_rfc3339(b.breach.detected_at),
                b.breach.observed,
                b.breach.target,
                if b.review_overdue { "missed" } else { "" },
                b.review_status.as_str(),
                if b.review_overdue { " (overdue)" } else { "" },
                esc(b.reviewed_by.as_deref().unwrap_or("-")),
                esc(&b.review_due_by)
            );
        }
        let _ = write!(
            out,
            "</table>\n<h2>Incidents and problems ({})</h2>\n<table class=\"incidents\"><tr><th>ticket</th><th>type</th><th>priority</th><th>created</th><th>status</th><th>problem</th></tr>\n",
            r.tickets.len()
        );
        for t in &r.tickets {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&t.ticket),
                esc(&t.ticket_type),
                esc(&t.priority),
                esc(&t.created),
                esc(&t.status),
                esc(t.problem.as_deref().unwrap_or("-"))
            );
        }
        out.push_str("</table>\n<h2>Capacity</h2>\n<table class=\"capacity\"><tr><th>component</th><th>resource</th><th>current</th><th>threshold</th><th>capacity</th><th>expected exhaustion</th><th>risk</th><th>recommended capacity</th><th>model (MASE)</th></tr>\n");
        for p in &r.plans {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{} ({:.2})</td></tr>",
                esc(&p.component),
                esc(&p.resource),
                p.current,
                p.threshold,
                p.capacity,
                p.exhaustion
                    .as_ref()
                    .and_then(|e| e.expected.as_deref())
                    .unwrap_or("beyond the horizon"),
                p.risk.as_str(),
                p.recommended_capacity,
                esc(&p.model),
                p.accuracy.mase
            );
        }
        out.push_str("</table>\n</section>\n");
    }
    out.push_str("</body></html>\n");
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The packs as CSV: `section,service,item,detail,target,observed,status`.
pub fn csv(reviews: &[ServiceReview]) -> String {
    let mut out = String::from("section,service,item,detail,target,observed,status\n");
    let mut row = |fields: [String; 7]| {
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    };
    for r in reviews {
        if let Some(sla) = &r.sla {
            for a in &sla.availability {
                row([
                    "slo".into(),
                    r.service.clone(),
                    a.slo.clone(),
                    a.sli.into(),
                    a.target.to_string(),
                    a.attainment
                        .attained
                        .map_or(String::new(), |v| v.to_string()),
                    yes_no(a.attainment.met).into(),
                ]);
            }
            for t in &sla.tickets {
                row([
                    "ticket_sla".into(),
                    r.service.clone(),
                    format!("{} {} {}", t.ticket_type, t.priority, t.metric),
                    format!("{} decided, {} breached", t.count, t.breached),
                    t.target_seconds.to_string(),
                    t.attainment.map_or(String::new(), |v| v.to_string()),
                    String::new(),
                ]);
            }
        }
        for b in &r.breaches {
            row([
                "breach".into(),
                r.service.clone(),
                b.breach.id.clone(),
                format!(
                    "{} at {}",
                    b.breach.kind.as_str(),
                    format_rfc3339(b.breach.detected_at)
                ),
                b.breach.target.to_string(),
                b.breach.observed.to_string(),
                format!(
                    "{}{}",
                    b.review_status.as_str(),
                    if b.review_overdue { " (overdue)" } else { "" }
                ),
            ]);
        }
        for t in &r.tickets {
            row([
                t.ticket_type.clone(),
                r.service.clone(),
                t.ticket.clone(),
                format!("{} created {}", t.priority, t.created),
                String::new(),
                t.problem.clone().unwrap_or_default(),
                t.status.clone(),
            ]);
        }
        for p in &r.plans {
            row([
                "capacity".into(),
                r.service.clone(),
                p.component.clone(),
                p.resource.clone(),
                p.threshold.to_string(),
                p.current.to_string(),
                p.risk.as_str().into(),
            ]);
        }
    }
    out
}

//! What the SLA core hands to the history and the alert sinks once the watermark has passed it.

use super::ticket_clock::Outcome;
use crate::model::{Micros, TicketType, format_rfc3339};
use serde::{Serialize, Serializer};

fn rfc3339<S: Serializer>(t: &Micros, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_rfc3339(*t))
}

/// A closed availability slice (probe timeslice or ratio minute).
#[derive(Debug, Clone, PartialEq)]
pub struct SliceRecord {
    /// Version of the SLA definitions (catalogue) that produced the row.
    pub definition: String,
    pub service: String,
    pub slo: String,
    /// `probe` or `ratio`.
    pub sli: &'static str,
    /// The SLO's target when the slice closed (targets can change; history keeps the old one).
    pub target: f64,
    pub start: Micros,
    pub seconds: i64,
    /// Seconds of the slice inside maintenance windows (not counted for or against the SLO).
    pub excluded_seconds: i64,
    /// Probe: samples up; ratio: good events.
    pub good: f64,
    /// Probe: all samples; ratio: total events.
    pub total: f64,
    /// Probe: `good`, `bad` or `no_data`; ratio: `counted` or `no_data`.
    pub state: &'static str,
}

/// A ticket clock whose outcome became known.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketOutcomeRecord {
    /// Version of the SLA definitions (catalogue) that produced the row.
    pub definition: String,
    pub service: String,
    pub ticket: String,
    pub ticket_type: TicketType,
    pub priority: String,
    /// `response` or `resolution`.
    pub metric: &'static str,
    pub created: Micros,
    pub target_seconds: i64,
    pub elapsed_seconds: i64,
    pub outcome: Outcome,
    /// When the outcome became known: the stop (met) or the instant the target passed.
    pub decided_at: Micros,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreachKind {
    TicketResponse,
    TicketResolution,
    SloBudgetExhausted,
}

impl BreachKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TicketResponse => "ticket_response",
            Self::TicketResolution => "ticket_resolution",
            Self::SloBudgetExhausted => "slo_budget_exhausted",
        }
    }
}

/// A breach record. Its id is stable (derived from what breached), so a replay or a retried
/// alert carries the same id and consumers can de-duplicate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breach {
    /// Version of the SLA definitions (catalogue) that produced the record.
    pub definition: String,
    pub id: String,
    pub service: String,
    pub kind: BreachKind,
    pub ticket: Option<String>,
    pub slo: Option<String>,
    /// The SLO window (`month:2026-11`, `rolling:30d`) for budget breaches.
    pub slo_window: Option<String>,
    /// Event time at which the breach happened (the target instant for tickets, the watermark
    /// for budgets).
    #[serde(serialize_with = "rfc3339")]
    pub detected_at: Micros,
    /// Tickets: counted seconds when detected; SLOs: attainment when detected.
    pub observed: f64,
    /// Tickets: target seconds; SLOs: the target fraction.
    pub target: f64,
}

/// A running ticket clock reached 50, 75 or 90 % of its target: an early warning, raised once
/// per ticket, clock and threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketWarning {
    /// `<ticket>:<metric>:<percent>`, stable across replays.
    pub id: String,
    pub service: String,
    pub ticket: String,
    /// `response` or `resolution`.
    pub metric: &'static str,
    pub percent: u32,
    /// When the counted time reached the threshold.
    #[serde(serialize_with = "rfc3339")]
    pub at: Micros,
    pub target_seconds: i64,
}

/// A result that changed because events arrived behind the watermark: what it was, what it is
/// now, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CorrectionRecord {
    /// The watermark when the correction was made.
    #[serde(serialize_with = "rfc3339")]
    pub corrected_at: Micros,
    /// `ticket_outcome`, `breach`, `burn_alert` or `availability`.
    pub kind: &'static str,
    /// What was corrected: `<ticket>:<metric>`, a breach or burn-rate alert id, or
    /// `<service>:<slo>:<date>`.
    pub key: String,
    /// The result before (`null` when it did not exist).
    pub before: Option<String>,
    /// The result after (`null` when it no longer exists).
    pub after: Option<String>,
    /// The late events that caused it.
    pub cause: String,
}

/// Everything one watermark advance produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    pub slices: Vec<SliceRecord>,
    pub outcomes: Vec<TicketOutcomeRecord>,
    pub breaches: Vec<Breach>,
    pub warnings: Vec<TicketWarning>,
    pub burn_alerts: Vec<super::burn::BurnAlert>,
}

impl Findings {
    /// Keeps only the rows that belong to UTC days from `first_day` (days since the epoch) on,
    /// by the time column their history table is partitioned by.
    pub fn retain_from_day(&mut self, first_day: i64) {
        let day = |t: Micros| t.div_euclid(super::window::DAY);
        self.slices.retain(|s| day(s.start) >= first_day);
        self.outcomes.retain(|o| day(o.decided_at) >= first_day);
        self.breaches.retain(|b| day(b.detected_at) >= first_day);
    }

    pub fn is_empty(&self) -> bool {
        self.slices.is_empty()
            && self.outcomes.is_empty()
            && self.breaches.is_empty()
            && self.warnings.is_empty()
            && self.burn_alerts.is_empty()
    }
}

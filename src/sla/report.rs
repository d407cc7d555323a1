//! The shape of `GET /api/v1/services/{id}/sla`.

use super::availability::Attainment;
use crate::model::{Micros, format_rfc3339};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct WindowSpan {
    pub start: String,
    pub end: String,
}

impl WindowSpan {
    pub fn new(start: Micros, end: Micros) -> Self {
        WindowSpan {
            start: format_rfc3339(start),
            end: format_rfc3339(end),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AvailabilityRow {
    pub slo: String,
    /// `probe` or `ratio`.
    pub sli: &'static str,
    pub target: f64,
    #[serde(flatten)]
    pub attainment: Attainment,
    /// The SLO's configured windows (current month, quarter, rolling days) side by side, as of
    /// the watermark.
    pub slo_windows: Vec<SloWindowRow>,
    /// Maintenance windows that overlap the requested window, with what they come from.
    pub exclusions: Vec<ExclusionRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExclusionRow {
    pub start: String,
    pub end: String,
    /// `change CHG-9001`, or the catalogue's reason.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SloWindowRow {
    /// `month:2026-11`, `quarter:2026-Q4`, `rolling:30d`.
    pub window: String,
    pub start: String,
    pub end: String,
    pub attained: Option<f64>,
    pub met: Option<bool>,
    pub error_budget_remaining: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TicketRow {
    #[serde(rename = "type")]
    pub ticket_type: &'static str,
    pub priority: String,
    /// `response` or `resolution`.
    pub metric: &'static str,
    pub target_seconds: i64,
    /// Tickets whose outcome became known in the window.
    pub count: u64,
    pub met: u64,
    pub breached: u64,
    /// met / count; `null` when count is 0.
    pub attainment: Option<f64>,
    /// Tickets created before the window's end whose clock is still running within target.
    pub in_flight: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceSla {
    pub service: String,
    pub window: WindowSpan,
    /// The event-time watermark the figures are computed at.
    pub as_of: String,
    pub availability: Vec<AvailabilityRow>,
    pub tickets: Vec<TicketRow>,
}

/// One clock of `GET /api/v1/tickets/{id}/sla`.
#[derive(Debug, Clone, Serialize)]
pub struct TicketClockReport {
    /// `response` or `resolution`.
    pub metric: &'static str,
    pub target_seconds: i64,
    /// Time counted against the target (24x7).
    pub elapsed_seconds: i64,
    /// Time spent in the policy's pausing statuses.
    pub paused_seconds: i64,
    /// `running`, `paused` or `stopped`.
    pub state: super::ticket_clock::Mode,
    /// `met` or `breached` once known.
    pub outcome: Option<super::ticket_clock::Outcome>,
    pub decided_at: Option<String>,
    /// The instant the target passed, for a breached clock.
    pub breached_at: Option<String>,
    /// For a running clock still within target: when it will breach if nothing changes.
    pub predicted_breach_at: Option<String>,
    /// Thresholds reached: `{"percent": 50, "at": ...}`.
    pub warnings: Vec<serde_json::Value>,
}

/// `GET /api/v1/tickets/{id}/sla`: a ticket's clocks and the events they were computed from.
#[derive(Debug, Clone, Serialize)]
pub struct TicketSla {
    pub ticket: String,
    pub service: String,
    #[serde(rename = "type")]
    pub ticket_type: &'static str,
    pub priority: String,
    pub created: String,
    /// The watermark the clocks are evaluated at; later events are listed but not yet counted.
    pub as_of: String,
    pub cancelled: bool,
    /// False when no policy covers the ticket's type and priority (it has no clocks).
    pub has_policy: bool,
    pub events: Vec<serde_json::Value>,
    pub clocks: Vec<TicketClockReport>,
}

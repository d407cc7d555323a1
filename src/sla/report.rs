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

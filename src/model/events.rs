//! Typed inbound events (the wire format of the README, after decoding).

use super::Micros;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which inbound topic an event came from (they carry different event shapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum StreamKind {
    Metrics,
    Tickets,
}

/// A source partition: event time is tracked per partition, and the watermark is the minimum
/// over the active ones (so one partition racing ahead cannot make another's events late).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Source {
    pub stream: StreamKind,
    pub partition: i32,
}

/// Where a record came from; history file names and offset commits are derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourcePosition {
    pub partition: i32,
    pub offset: i64,
}

/// One monitoring sample. Ratio SLIs send deltas (the count for the sample's own interval).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricEvent {
    pub time: Micros,
    pub service: String,
    pub component: Option<String>,
    pub metric: String,
    pub value: f64,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketType {
    Incident,
    Request,
    Problem,
    Change,
}

impl TicketType {
    pub const ALL: [TicketType; 4] = [Self::Incident, Self::Request, Self::Problem, Self::Change];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incident => "incident",
            Self::Request => "request",
            Self::Problem => "problem",
            Self::Change => "change",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    New,
    Acknowledged,
    InProgress,
    OnHold,
    AwaitingCustomer,
    Resolved,
    Closed,
    Reopened,
    Cancelled,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Acknowledged => "acknowledged",
            Self::InProgress => "in_progress",
            Self::OnHold => "on_hold",
            Self::AwaitingCustomer => "awaiting_customer",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
            Self::Reopened => "reopened",
            Self::Cancelled => "cancelled",
        }
    }

    /// Statuses that stop the response clock: someone has picked the ticket up (or solved it).
    pub fn responds(self) -> bool {
        matches!(
            self,
            Self::Acknowledged | Self::InProgress | Self::Resolved | Self::Closed
        )
    }

    /// Statuses that stop the resolution clock.
    pub fn resolves(self) -> bool {
        matches!(self, Self::Resolved | Self::Closed)
    }
}

/// One status change of a ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketEvent {
    pub time: Micros,
    pub ticket: String,
    pub ticket_type: TicketType,
    pub service: String,
    pub priority: String,
    pub status: TicketStatus,
    pub component: Option<String>,
    pub assignee: Option<String>,
    pub problem: Option<String>,
    pub summary: Option<String>,
    pub planned_start: Option<Micros>,
    pub planned_end: Option<Micros>,
    pub approved: Option<bool>,
    pub outage: Option<bool>,
}

impl TicketEvent {
    /// A status change with none of the optional fields (what the SLA clocks need).
    pub fn status_change(
        time: Micros,
        ticket: &str,
        ticket_type: TicketType,
        service: &str,
        priority: &str,
        status: TicketStatus,
    ) -> TicketEvent {
        TicketEvent {
            time,
            ticket: ticket.to_string(),
            ticket_type,
            service: service.to_string(),
            priority: priority.to_string(),
            status,
            component: None,
            assignee: None,
            problem: None,
            summary: None,
            planned_start: None,
            planned_end: None,
            approved: None,
            outage: None,
        }
    }
}

/// A decoded inbound event of either topic.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Metric(MetricEvent),
    Ticket(TicketEvent),
}

impl Event {
    pub fn time(&self) -> Micros {
        match self {
            Event::Metric(m) => m.time,
            Event::Ticket(t) => t.time,
        }
    }

    pub fn service(&self) -> &str {
        match self {
            Event::Metric(m) => &m.service,
            Event::Ticket(t) => &t.service,
        }
    }
}

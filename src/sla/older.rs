//! Findings read back from the history for windows that reach before the live state.
//!
//! The engine keeps slices and decided clocks only as far back as its open windows need
//! ([`super::SlaEngine::history_needed`] says when a window reaches further). For such a
//! window the shell reads the closed slices and ticket outcomes before the live state from the
//! history's `availability_slices` and `ticket_sla_outcomes` tables, and the engine computes
//! the figures from both with the same code as from live state alone, so an old month reads
//! the same whether it is still in memory or not.

use crate::model::Micros;

/// Rows of the history before the live state, for one service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OlderFindings {
    pub slices: Vec<OlderSlice>,
    pub outcomes: Vec<OlderOutcome>,
}

/// One closed slice of `availability_slices`.
#[derive(Debug, Clone, PartialEq)]
pub struct OlderSlice {
    pub slo: String,
    pub start: Micros,
    /// Probe: samples up; ratio: good events.
    pub good: f64,
    /// Probe: all samples; ratio: total events.
    pub total: f64,
}

/// One decided clock of `ticket_sla_outcomes`.
#[derive(Debug, Clone, PartialEq)]
pub struct OlderOutcome {
    pub ticket: String,
    /// `incident`, `request`, ...
    pub ticket_type: String,
    pub priority: String,
    /// `response` or `resolution`.
    pub metric: String,
    pub met: bool,
    pub decided_at: Micros,
}

impl OlderFindings {
    /// The rows of findings the engine returned (a rebuild's), keyed by service, from `from`
    /// on: the same shape as the history's rows.
    pub fn from_findings(
        findings: &super::Findings,
        from: Micros,
    ) -> std::collections::HashMap<String, OlderFindings> {
        let mut out: std::collections::HashMap<String, OlderFindings> = Default::default();
        for s in findings.slices.iter().filter(|s| s.start >= from) {
            out.entry(s.service.clone())
                .or_default()
                .slices
                .push(OlderSlice {
                    slo: s.slo.clone(),
                    start: s.start,
                    good: s.good,
                    total: s.total,
                });
        }
        for o in findings.outcomes.iter().filter(|o| o.decided_at >= from) {
            out.entry(o.service.clone())
                .or_default()
                .outcomes
                .push(OlderOutcome {
                    ticket: o.ticket.clone(),
                    ticket_type: o.ticket_type.as_str().to_string(),
                    priority: o.priority.clone(),
                    metric: o.metric.to_string(),
                    met: o.outcome == super::ticket_clock::Outcome::Met,
                    decided_at: o.decided_at,
                });
        }
        out
    }
}

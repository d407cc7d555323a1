//! The engine's state as data. The shell writes it with the history at a checkpoint interval,
//! so a restart, or a late event, rebuilds from a recent state plus the raw events after it
//! instead of from the first day. What the catalogue defines (SLO definitions, calendars,
//! maintenance windows) is not in it: it comes from the catalogue a snapshot is restored with,
//! and a snapshot of other definitions is refused.

use super::{ChangeWindow, SlaEngine, SloState, TicketState, Tracker};
use crate::config::Catalogue;
use crate::model::{Micros, Source, TicketType};
use crate::sla::availability::{ProbeTracker, RatioTracker};
use crate::sla::burn::BurnAlert;
use crate::sla::findings::{Breach, BreachKind, TicketOutcomeRecord};
use crate::sla::ticket_clock::Outcome;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

#[derive(Serialize, Deserialize)]
pub struct EngineSnapshot {
    /// The definitions version the state was computed under.
    pub definition: String,
    pub watermark: Option<Micros>,
    newest: Vec<(Source, Option<Micros>)>,
    idle: Vec<Source>,
    slos: Vec<SloSnapshot>,
    tickets: HashMap<String, TicketState>,
    open_tickets: HashSet<String>,
    outcomes: Vec<OutcomeRow>,
    breaches: Vec<BreachRow>,
    breach_ids: HashSet<String>,
    changes: HashMap<String, ChangeWindow>,
    burn_alerts: Vec<BurnRow>,
    seen: HashMap<String, HashMap<String, Micros>>,
    unknown_services: BTreeMap<String, (u64, Option<Micros>)>,
    tickets_live_from: Option<Micros>,
}

#[derive(Serialize, Deserialize)]
enum TrackerSnapshot {
    Probe(ProbeTracker),
    Ratio(RatioTracker),
}

#[derive(Serialize, Deserialize)]
struct SloSnapshot {
    service: String,
    slo: String,
    tracker: TrackerSnapshot,
    emitted_through: Option<Micros>,
    exhausted: HashSet<String>,
    burning: [Option<String>; 4],
    burn_through: Option<Micros>,
    budget_through: Option<Micros>,
    stepped_through: BTreeMap<String, Micros>,
    live_from: Option<Micros>,
}

#[derive(Serialize, Deserialize)]
struct OutcomeRow {
    definition: String,
    service: String,
    ticket: String,
    ticket_type: TicketType,
    priority: String,
    metric: String,
    created: Micros,
    target_seconds: i64,
    elapsed_seconds: i64,
    outcome: Outcome,
    decided_at: Micros,
}

#[derive(Serialize, Deserialize)]
struct BreachRow {
    definition: String,
    id: String,
    service: String,
    kind: BreachKind,
    ticket: Option<String>,
    slo: Option<String>,
    slo_window: Option<String>,
    detected_at: Micros,
    observed: f64,
    target: f64,
}

#[derive(Serialize, Deserialize)]
struct BurnRow {
    id: String,
    service: String,
    slo: String,
    rule: String,
    state: String,
    threshold: f64,
    long_window_burn_rate: f64,
    short_window_burn_rate: f64,
    at: Micros,
}

/// The `&'static str` the findings use for a word read back from a snapshot. The vocabulary
/// is small and fixed (metric names, rule names, states), so each word is allocated once.
fn intern(word: &str) -> &'static str {
    static WORDS: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut words = WORDS.lock().unwrap_or_else(|p| p.into_inner());
    let words = words.get_or_insert_with(HashSet::new);
    if let Some(w) = words.get(word) {
        return w;
    }
    let leaked: &'static str = Box::leak(word.to_string().into_boxed_str());
    words.insert(leaked);
    leaked
}

/// Why a snapshot cannot be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the snapshot does not fit the catalogue: {0}")]
pub struct SnapshotMismatch(pub String);

impl SlaEngine {
    /// The state, as data (see the module's documentation for what is left out).
    pub fn snapshot(&self) -> EngineSnapshot {
        EngineSnapshot {
            definition: self.definition.clone(),
            watermark: self.watermark,
            newest: self.newest.iter().map(|(s, t)| (*s, *t)).collect(),
            idle: self.idle.iter().copied().collect(),
            slos: self
                .slos
                .iter()
                .map(|s| SloSnapshot {
                    service: s.service.clone(),
                    slo: s.slo.id.clone(),
                    tracker: match &s.tracker {
                        Tracker::Probe(p) => TrackerSnapshot::Probe(p.clone()),
                        Tracker::Ratio(r) => TrackerSnapshot::Ratio(r.clone()),
                    },
                    emitted_through: s.emitted_through,
                    exhausted: s.exhausted.clone(),
                    burning: s.burning.clone(),
                    burn_through: s.burn_through,
                    budget_through: s.budget_through,
                    stepped_through: s.stepped_through.clone(),
                    live_from: s.live_from,
                })
                .collect(),
            tickets: self.tickets.clone(),
            open_tickets: self.open_tickets.clone(),
            outcomes: self
                .outcomes
                .iter()
                .map(|o| OutcomeRow {
                    definition: o.definition.clone(),
                    service: o.service.clone(),
                    ticket: o.ticket.clone(),
                    ticket_type: o.ticket_type,
                    priority: o.priority.clone(),
                    metric: o.metric.to_string(),
                    created: o.created,
                    target_seconds: o.target_seconds,
                    elapsed_seconds: o.elapsed_seconds,
                    outcome: o.outcome,
                    decided_at: o.decided_at,
                })
                .collect(),
            breaches: self
                .breaches
                .iter()
                .map(|b| BreachRow {
                    definition: b.definition.clone(),
                    id: b.id.clone(),
                    service: b.service.clone(),
                    kind: b.kind,
                    ticket: b.ticket.clone(),
                    slo: b.slo.clone(),
                    slo_window: b.slo_window.clone(),
                    detected_at: b.detected_at,
                    observed: b.observed,
                    target: b.target,
                })
                .collect(),
            breach_ids: self.breach_ids.clone(),
            changes: self.changes.clone(),
            burn_alerts: self
                .burn_alerts
                .iter()
                .map(|a| BurnRow {
                    id: a.id.clone(),
                    service: a.service.clone(),
                    slo: a.slo.clone(),
                    rule: a.rule.to_string(),
                    state: a.state.to_string(),
                    threshold: a.threshold,
                    long_window_burn_rate: a.long_window_burn_rate,
                    short_window_burn_rate: a.short_window_burn_rate,
                    at: a.at,
                })
                .collect(),
            seen: self.seen.clone(),
            unknown_services: self.unknown_services.clone(),
            tickets_live_from: self.tickets_live_from,
        }
    }

    /// An engine for `catalogue` in the state `snapshot` describes. Refused when the snapshot
    /// was taken under other SLA definitions (its slices and clocks would not mean the same).
    pub fn from_snapshot(
        catalogue: Arc<Catalogue>,
        allowed_lateness: std::time::Duration,
        snapshot: EngineSnapshot,
    ) -> Result<SlaEngine, SnapshotMismatch> {
        let mut engine = SlaEngine::new(catalogue, allowed_lateness);
        if snapshot.definition != engine.definition {
            return Err(SnapshotMismatch(format!(
                "definitions {} in the snapshot, {} in the catalogue",
                snapshot.definition, engine.definition
            )));
        }
        if snapshot.slos.len() != engine.slos.len() {
            return Err(SnapshotMismatch("a different number of SLOs".into()));
        }
        for (state, saved) in engine.slos.iter_mut().zip(snapshot.slos) {
            restore_slo(state, saved)?;
        }
        engine.watermark = snapshot.watermark;
        engine.newest = snapshot.newest.into_iter().collect();
        engine.idle = snapshot.idle.into_iter().collect();
        engine.tickets = snapshot.tickets;
        engine.open_tickets = snapshot.open_tickets;
        engine.outcomes = snapshot
            .outcomes
            .into_iter()
            .map(|o| TicketOutcomeRecord {
                definition: o.definition,
                service: o.service,
                ticket: o.ticket,
                ticket_type: o.ticket_type,
                priority: o.priority,
                metric: intern(&o.metric),
                created: o.created,
                target_seconds: o.target_seconds,
                elapsed_seconds: o.elapsed_seconds,
                outcome: o.outcome,
                decided_at: o.decided_at,
            })
            .collect();
        engine.breaches = snapshot
            .breaches
            .into_iter()
            .map(|b| Breach {
                definition: b.definition,
                id: b.id,
                service: b.service,
                kind: b.kind,
                ticket: b.ticket,
                slo: b.slo,
                slo_window: b.slo_window,
                detected_at: b.detected_at,
                observed: b.observed,
                target: b.target,
            })
            .collect();
        engine.breach_ids = snapshot.breach_ids;
        engine.changes = snapshot.changes;
        engine.burn_alerts = snapshot
            .burn_alerts
            .into_iter()
            .map(|a| BurnAlert {
                id: a.id,
                service: a.service,
                slo: a.slo,
                rule: intern(&a.rule),
                state: intern(&a.state),
                threshold: a.threshold,
                long_window_burn_rate: a.long_window_burn_rate,
                short_window_burn_rate: a.short_window_burn_rate,
                at: a.at,
            })
            .collect();
        engine.seen = snapshot.seen;
        engine.unknown_services = snapshot.unknown_services;
        engine.tickets_live_from = snapshot.tickets_live_from;
        engine.refresh_all_exclusions();
        Ok(engine)
    }
}

fn restore_slo(state: &mut SloState, saved: SloSnapshot) -> Result<(), SnapshotMismatch> {
    if state.service != saved.service || state.slo.id != saved.slo {
        return Err(SnapshotMismatch(format!(
            "SLO {}/{} in the snapshot where the catalogue has {}/{}",
            saved.service, saved.slo, state.service, state.slo.id
        )));
    }
    state.tracker = match (saved.tracker, &state.tracker) {
        (TrackerSnapshot::Probe(mut p), Tracker::Probe(current)) => {
            // The slice length and missing-data policy are the catalogue's.
            p.slice = current.slice;
            p.missing = current.missing;
            p.occurrences = current.occurrences;
            Tracker::Probe(p)
        }
        (TrackerSnapshot::Ratio(r), Tracker::Ratio(_)) => Tracker::Ratio(r),
        _ => {
            return Err(SnapshotMismatch(format!(
                "SLO {}/{} changed its SLI kind",
                saved.service, saved.slo
            )));
        }
    };
    state.emitted_through = saved.emitted_through;
    state.exhausted = saved.exhausted;
    state.burning = saved.burning;
    state.burn_through = saved.burn_through;
    state.budget_through = saved.budget_through;
    state.stepped_through = saved.stepped_through;
    state.live_from = saved.live_from;
    Ok(())
}

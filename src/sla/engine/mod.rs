//! `SlaEngine`: event-time SLA state for every service of the catalogue.
//!
//! Events are applied as they arrive (any order); [`SlaEngine::advance`] moves the watermark
//! (newest event time − allowed lateness) and returns what became final behind it: closed
//! availability slices, decided ticket clocks and breaches. Each finding is returned once.

mod reports;
mod retention;
mod slo;
mod snapshot;

pub use snapshot::{EngineSnapshot, SnapshotMismatch};

use slo::{
    budget_breach, budget_in_time, budget_instants, emit_closed_slices, evaluate_burn_rates,
    stepwise_breaches,
};

use super::availability::{ProbeTracker, RATIO_BUCKET, RatioTracker, covered, floor_to};
use super::burn::{self, BurnAlert};
use super::calendar::Calendar;
use super::findings::{
    Breach, BreachKind, Findings, SliceRecord, TicketOutcomeRecord, TicketWarning,
};
use super::report::{
    AvailabilityRow, ExclusionRow, ServiceSla, SloWindowRow, TicketClockReport, TicketRow,
    TicketSla, WindowSpan,
};
use super::ticket_clock::{self, Outcome, TicketClocks};
use super::window::{Interval, slo_window_at};
use crate::config::{Catalogue, OnReopen, Sli, Slo, SloWindow};
use crate::model::{
    MICROS_PER_SECOND, MetricEvent, Micros, Source, TicketEvent, TicketType, format_rfc3339,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

enum Tracker {
    Probe(ProbeTracker),
    Ratio(RatioTracker),
}

struct SloState {
    /// Version of the SLA definitions, recorded with every finding.
    definition: String,
    service: String,
    /// The service's time zone: where its months and quarters start.
    tz: chrono_tz::Tz,
    slo: Slo,
    tracker: Tracker,
    /// Slices before this instant have been returned as findings.
    emitted_through: Option<Micros>,
    /// Window labels whose budget is currently exhausted (breach already raised).
    exhausted: HashSet<String>,
    /// Maintenance windows of the service (sorted, merged), excluded from availability.
    exclusions: Vec<Interval>,
    /// The same windows before merging, each with what it comes from (a change id or the
    /// catalogue's reason), for the API to cite.
    exclusion_sources: Vec<(Interval, String)>,
    /// Per burn-rate rule: the id of the alert while it fires.
    burning: [Option<String>; 4],
    /// Burn rates have been evaluated up to here.
    burn_through: Option<Micros>,
    /// Calendar-window budgets have been evaluated up to here.
    budget_through: Option<Micros>,
    /// Per window judged step by step (`rolling:30d`, `month`, ...): evaluated up to here.
    stepped_through: BTreeMap<String, Micros>,
    /// Slices before this instant have left memory (they are in the history's
    /// `availability_slices`); see [`slo::live_horizon`].
    live_from: Option<Micros>,
}

/// What the latest events of a change ticket say about its planned outage.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct ChangeWindow {
    service: String,
    start: Option<Micros>,
    end: Option<Micros>,
    approved: bool,
    outage: bool,
    cancelled: bool,
    /// Time of the event the fields were last taken from.
    as_of: Micros,
}

/// A short, stable fingerprint of the catalogue (FNV-1a over its debug form): the version of
/// the SLA definitions that produced a result.
pub fn definition_version(catalogue: &Catalogue) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in format!("{catalogue:?}").bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

impl TicketState {
    /// The priority whose targets apply at `at`: the one at creation, or with re-targeting the
    /// latest one known by then (counted from creation either way).
    fn priority_at(&self, at: Micros, retarget: bool) -> &str {
        if !retarget {
            return &self.priority;
        }
        let known = self.priorities.partition_point(|x| x.0 <= at);
        self.priorities[..known]
            .last()
            .map_or(&self.priority, |(_, p)| p)
    }
}

impl ChangeWindow {
    /// The excluded interval, for an approved change with a planned outage.
    fn exclusion(&self) -> Option<Interval> {
        let (start, end) = (self.start?, self.end?);
        (self.approved && self.outage && !self.cancelled && start < end)
            .then_some(Interval { start, end })
    }
}

/// Sorts and merges overlapping intervals.
fn merge(mut intervals: Vec<Interval>) -> Vec<Interval> {
    intervals.sort_by_key(|i| i.start);
    let mut merged: Vec<Interval> = Vec::with_capacity(intervals.len());
    for i in intervals {
        match merged.last_mut() {
            Some(last) if i.start <= last.end => last.end = last.end.max(i.end),
            _ => merged.push(i),
        }
    }
    merged
}

/// Which side of an SLI a metric feeds.
#[derive(Clone, Copy)]
enum Feed {
    Probe,
    RatioGood,
    RatioTotal,
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct TicketState {
    service: String,
    ticket_type: TicketType,
    /// Priority at creation: the clock's targets come from it.
    priority: String,
    /// Every (time, priority) the ticket's events carried, sorted by time.
    priorities: Vec<(Micros, String)>,
    /// Status changes sorted by time; exact duplicates are dropped.
    history: Vec<(Micros, crate::model::TicketStatus)>,
    /// Clocks as of the last advance.
    clocks: Option<TicketClocks>,
    response_reported: bool,
    resolution_reported: bool,
    /// Warnings raised, per clock (response, resolution) and threshold.
    warned: [[bool; 3]; 2],
    /// Breaches of restarted resolution cycles already reported.
    cycle_breaches_reported: usize,
}

pub struct SlaEngine {
    catalogue: Arc<Catalogue>,
    lateness: Micros,
    /// Newest event time per source partition; `None` for an assigned partition that has not
    /// delivered yet (it holds the watermark until it does, or goes idle).
    newest: HashMap<Source, Option<Micros>>,
    /// Partitions that have gone quiet; they do not hold the watermark back.
    idle: HashSet<Source>,
    /// The wall clock, when the shell lets a quiet stream's watermark follow it.
    wall_clock: Option<Micros>,
    /// Never moves backwards.
    watermark: Option<Micros>,
    /// Events that arrived behind the watermark since the last `take_late_events`, and the
    /// earliest event time among them.
    late_events: u64,
    earliest_late: Option<Micros>,
    slos: Vec<SloState>,
    /// service → metric → the SLOs that metric feeds (nested so lookups need no allocation).
    feeds: HashMap<String, HashMap<String, Vec<(usize, Feed)>>>,
    tickets: HashMap<String, TicketState>,
    /// Tickets with a clock not yet decided (or not yet reported).
    open_tickets: HashSet<String>,
    outcomes: Vec<TicketOutcomeRecord>,
    breaches: Vec<Breach>,
    breach_ids: HashSet<String>,
    /// Change tickets, for their planned outages.
    changes: HashMap<String, ChangeWindow>,
    /// Version of the SLA definitions (a hash of the catalogue), recorded with every finding.
    definition: String,
    /// Every burn-rate alert transition, oldest first.
    burn_alerts: Vec<BurnAlert>,
    /// service → component (`""` for none) → newest event time, for the drift report.
    seen: HashMap<String, HashMap<String, Micros>>,
    /// Services named by rejected records: records and the watermark when last seen.
    unknown_services: BTreeMap<String, (u64, Option<Micros>)>,
    /// Business calendars by id; policies without one count 24x7.
    calendars: HashMap<String, Calendar>,
    always: Calendar,
    /// Closed tickets and outcomes decided before this instant have left memory (they are in
    /// the history); see [`SlaEngine::forget_closed`].
    tickets_live_from: Option<Micros>,
    /// Breaches and burn-rate alerts before this day (since the epoch) have left memory.
    forgotten_day: Option<i64>,
}

impl SlaEngine {
    pub fn new(catalogue: Arc<Catalogue>, allowed_lateness: std::time::Duration) -> Self {
        let version = definition_version(&catalogue);
        let mut slos = Vec::new();
        let mut feeds: HashMap<String, HashMap<String, Vec<(usize, Feed)>>> = HashMap::new();
        for service in &catalogue.services {
            for slo in &service.slos {
                let index = slos.len();
                let mut feed = |metric: &str, f| {
                    feeds
                        .entry(service.id.clone())
                        .or_default()
                        .entry(metric.to_string())
                        .or_default()
                        .push((index, f))
                };
                let tracker = match &slo.sli {
                    Sli::Probe {
                        metric,
                        timeslice,
                        missing,
                        budgeting,
                    } => {
                        feed(metric, Feed::Probe);
                        let mut probe =
                            ProbeTracker::new(timeslice.as_micros() as Micros, *missing);
                        probe.occurrences = *budgeting == crate::config::Budgeting::Occurrences;
                        Tracker::Probe(probe)
                    }
                    Sli::Ratio { good, total } => {
                        feed(good, Feed::RatioGood);
                        feed(total, Feed::RatioTotal);
                        Tracker::Ratio(RatioTracker::default())
                    }
                };
                slos.push(SloState {
                    definition: version.clone(),
                    service: service.id.clone(),
                    tz: catalogue.time_zone(&service.id),
                    slo: slo.clone(),
                    tracker,
                    emitted_through: None,
                    exhausted: HashSet::new(),
                    exclusions: Vec::new(),
                    exclusion_sources: Vec::new(),
                    burning: Default::default(),
                    burn_through: None,
                    budget_through: None,
                    stepped_through: BTreeMap::new(),
                    live_from: None,
                });
            }
        }
        let definition = definition_version(&catalogue);
        let mut engine = SlaEngine {
            catalogue,
            lateness: allowed_lateness.as_micros() as Micros,
            newest: HashMap::new(),
            idle: HashSet::new(),
            wall_clock: None,
            watermark: None,
            late_events: 0,
            earliest_late: None,
            slos,
            feeds,
            tickets: HashMap::new(),
            open_tickets: HashSet::new(),
            outcomes: Vec::new(),
            breaches: Vec::new(),
            breach_ids: HashSet::new(),
            changes: HashMap::new(),
            definition,
            burn_alerts: Vec::new(),
            seen: HashMap::new(),
            unknown_services: BTreeMap::new(),
            calendars: HashMap::new(),
            always: Calendar::always(),
            tickets_live_from: None,
            forgotten_day: None,
        };
        engine.calendars = engine
            .catalogue
            .calendars
            .iter()
            .map(|c| (c.id.clone(), Calendar::from_config(c)))
            .collect();
        engine.refresh_all_exclusions();
        engine
    }

    fn calendar_of(&self, policy: &crate::config::TicketPolicy) -> &Calendar {
        policy
            .calendar
            .as_ref()
            .and_then(|id| self.calendars.get(id))
            .unwrap_or(&self.always)
    }

    /// Recomputes every service's maintenance exclusions (a new or restored engine).
    fn refresh_all_exclusions(&mut self) {
        let services: Vec<String> = self
            .catalogue
            .services
            .iter()
            .map(|s| s.id.clone())
            .collect();
        for service in &services {
            self.refresh_exclusions(service);
        }
    }

    /// Recomputes a service's maintenance exclusions: the catalogue's windows plus the planned
    /// outages of its approved changes.
    fn refresh_exclusions(&mut self, service: &str) {
        let mut sources: Vec<(Interval, String)> = self
            .catalogue
            .service(service)
            .map(|s| {
                s.maintenance
                    .iter()
                    .filter_map(|m| {
                        m.interval()
                            .map(|(start, end)| (Interval { start, end }, m.reason.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        sources.extend(
            self.changes
                .iter()
                .filter(|(_, c)| c.service == service)
                .filter_map(|(id, c)| c.exclusion().map(|i| (i, format!("change {id}")))),
        );
        sources.sort_by(|a, b| (a.0.start, &a.1).cmp(&(b.0.start, &b.1)));
        let merged = merge(sources.iter().map(|(i, _)| *i).collect());
        for slo in self.slos.iter_mut().filter(|s| s.service == service) {
            slo.exclusions = merged.clone();
            slo.exclusion_sources = sources.clone();
        }
    }

    /// Takes a change ticket's planned outage from its events (the latest value of each field
    /// wins; a cancelled change excludes nothing). A change that adds, moves or withdraws an
    /// exclusion behind the watermark changes results already final: it counts as a late event
    /// at the earliest instant it touches, so the history is corrected from there like for any
    /// late event.
    fn apply_change(&mut self, e: &TicketEvent) {
        let change = self
            .changes
            .entry(e.ticket.clone())
            .or_insert_with(|| ChangeWindow {
                service: e.service.clone(),
                ..Default::default()
            });
        let before = change.exclusion();
        if e.time >= change.as_of {
            change.as_of = e.time;
            change.start = e.planned_start.or(change.start);
            change.end = e.planned_end.or(change.end);
            change.approved = e.approved.unwrap_or(change.approved);
            change.outage = e.outage.unwrap_or(change.outage);
        }
        change.cancelled |= e.status == crate::model::TicketStatus::Cancelled;
        let after = change.exclusion();
        let service = change.service.clone();
        if before != after {
            let touched = [before, after].into_iter().flatten().map(|i| i.start).min();
            if let (Some(touched), Some(watermark)) = (touched, self.watermark)
                && touched < watermark
            {
                self.late_events += 1;
                self.earliest_late = Some(self.earliest_late.map_or(touched, |t| t.min(touched)));
            }
        }
        self.refresh_exclusions(&service);
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The event time behind which results are final; `None` before the first event.
    pub fn watermark(&self) -> Option<Micros> {
        self.watermark
    }

    /// Puts the watermark back where a checkpoint left it (it never moves backwards).
    pub fn restore_watermark(&mut self, watermark: Micros) {
        self.watermark = Some(self.watermark.map_or(watermark, |w| w.max(watermark)));
    }

    /// Marks a partition idle (no records for a while) or active again.
    pub fn set_idle(&mut self, source: Source, idle: bool) {
        if idle {
            self.idle.insert(source);
        } else {
            self.idle.remove(&source);
        }
    }

    /// Tells the engine the wall clock: with every partition idle, the watermark follows it
    /// (less the allowed lateness), so clocks breach on time even when no event arrives.
    pub fn set_wall_clock(&mut self, now: Micros) {
        self.wall_clock = Some(now);
    }

    /// Starts tracking a partition assigned to this instance: until it delivers an event (or
    /// goes idle), the watermark waits for it.
    pub fn track(&mut self, source: Source) {
        self.newest.entry(source).or_insert(None);
    }

    /// Events that arrived behind the watermark since the last call. They update the live
    /// state, but findings already returned for their time are not revised.
    pub fn take_late_events(&mut self) -> (u64, Option<Micros>) {
        (
            std::mem::take(&mut self.late_events),
            self.earliest_late.take(),
        )
    }

    /// The allowed lateness the watermark trails by.
    pub fn lateness(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.lateness.max(0) as u64)
    }

    /// Every ticket outcome decided so far.
    pub fn outcomes(&self) -> &[TicketOutcomeRecord] {
        &self.outcomes
    }

    fn observe(&mut self, source: Source, time: Micros) {
        if self.watermark.is_some_and(|w| time < w) {
            self.late_events += 1;
            self.earliest_late = Some(self.earliest_late.map_or(time, |t| t.min(time)));
        }
        let newest = self.newest.entry(source).or_insert(Some(time));
        *newest = Some(newest.map_or(time, |t| t.max(time)));
    }

    /// min over active partitions of their newest event time, minus the allowed lateness.
    fn candidate_watermark(&self) -> Option<Micros> {
        let mut active = self
            .newest
            .iter()
            .filter(|(s, _)| !self.idle.contains(s))
            .map(|(_, t)| *t)
            .peekable();
        let min = if active.peek().is_some() {
            // An active partition that has not delivered yet holds everything back.
            active.collect::<Option<Vec<_>>>()?.into_iter().min()
        } else {
            // With every partition idle, time goes on with the wall clock (when the shell gives
            // it); without one, the newest event of any partition is the best we know.
            let newest = self.newest.values().flatten().copied().max();
            match (newest, self.wall_clock) {
                (Some(n), Some(w)) => Some(n.max(w)),
                (newest, None) => newest,
                (None, Some(_)) => None,
            }
        };
        min.map(|t| t - self.lateness)
    }

    /// True when `metric` of `service` feeds an SLO (the rest of the metrics only go to history).
    pub fn is_sli_metric(&self, service: &str, metric: &str) -> bool {
        self.feeds
            .get(service)
            .is_some_and(|m| m.contains_key(metric))
    }

    /// Notes telemetry from a service's component (for the catalogue drift report).
    pub fn note_seen(&mut self, service: &str, component: Option<&str>, time: Micros) {
        let component = component.unwrap_or("");
        let components = match self.seen.get_mut(service) {
            Some(c) => c,
            None => self.seen.entry(service.to_string()).or_default(),
        };
        match components.get_mut(component) {
            Some(t) => *t = (*t).max(time),
            None => {
                components.insert(component.to_string(), time);
            }
        }
    }

    /// Counts a record rejected because it named a service the catalogue lacks.
    pub fn record_unknown_service(&mut self, service: &str) {
        let watermark = self.watermark;
        let entry = self
            .unknown_services
            .entry(service.to_string())
            .or_insert((0, None));
        entry.0 += 1;
        entry.1 = watermark.or(entry.1);
    }

    /// Takes over what the history cannot rebuild from `previous`, the state this one replaces
    /// after a late-event correction: the dead-lettered records of services the catalogue does
    /// not know (they never reach the raw tables).
    pub fn carry_over_from(&mut self, previous: &SlaEngine) {
        self.unknown_services = previous.unknown_services.clone();
    }

    pub fn apply_metric(&mut self, m: &MetricEvent, source: Source) {
        self.note_seen(&m.service, m.component.as_deref(), m.time);
        self.apply_sample(&m.service, &m.metric, m.time, m.value, source);
    }

    /// Applies one metric sample; samples of metrics that feed no SLO only move event time.
    pub fn apply_sample(
        &mut self,
        service: &str,
        metric: &str,
        time: Micros,
        value: f64,
        source: Source,
    ) {
        self.observe(source, time);
        let Some(feeds) = self.feeds.get(service).and_then(|m| m.get(metric)) else {
            return;
        };
        for &(index, feed) in feeds {
            match (&mut self.slos[index].tracker, feed) {
                (Tracker::Probe(p), Feed::Probe) => p.record(time, value),
                (Tracker::Ratio(r), Feed::RatioGood) => r.record_good(time, value),
                (Tracker::Ratio(r), Feed::RatioTotal) => r.record_total(time, value),
                _ => {}
            }
        }
    }

    pub fn apply_ticket(&mut self, e: &TicketEvent, source: Source) {
        self.observe(source, e.time);
        self.note_seen(&e.service, e.component.as_deref(), e.time);
        if e.ticket_type == TicketType::Change {
            self.apply_change(e);
        }
        let state = self
            .tickets
            .entry(e.ticket.clone())
            .or_insert_with(|| TicketState {
                service: e.service.clone(),
                ticket_type: e.ticket_type,
                priority: e.priority.clone(),
                priorities: Vec::new(),
                history: Vec::new(),
                clocks: None,
                response_reported: false,
                resolution_reported: false,
                warned: [[false; 3]; 2],
                cycle_breaches_reported: 0,
            });
        let entry = (e.time, e.status);
        let at = state.history.partition_point(|x| x.0 <= e.time);
        if state.history[..at]
            .iter()
            .rev()
            .take_while(|x| x.0 == e.time)
            .any(|x| *x == entry)
        {
            return; // the same status at the same time counts once
        }
        if at == 0 {
            // an earlier first event: creation moves back, and with it the policy's priority
            state.priority = e.priority.clone();
            state.ticket_type = e.ticket_type;
        }
        let p = state.priorities.partition_point(|x| x.0 <= e.time);
        state.priorities.insert(p, (e.time, e.priority.clone()));
        state.history.insert(at, entry);
        self.open_tickets.insert(e.ticket.clone());
    }

    /// Moves the watermark up to (newest event of the slowest active partition − lateness) and
    /// returns what became final behind it.
    pub fn advance(&mut self) -> Findings {
        if let Some(candidate) = self.candidate_watermark() {
            self.restore_watermark(candidate);
        }
        self.settle()
    }

    /// The findings up to the current watermark, without moving it: after a restart, the state
    /// rebuilt from the history is settled at the checkpoint's watermark and no further, so the
    /// findings beyond it (never made durable, never alerted) are found again by the stream.
    pub fn settle(&mut self) -> Findings {
        self.settle_keeping(true)
    }

    /// [`SlaEngine::settle`] without the closed slices: a restart discards its findings, and a
    /// year of one-minute slices would take hundreds of megabytes only to be dropped.
    pub fn settle_without_slices(&mut self) -> Findings {
        self.settle_keeping(false)
    }

    fn settle_keeping(&mut self, slices: bool) -> Findings {
        let mut findings = Findings::default();
        let Some(watermark) = self.watermark else {
            return findings;
        };
        self.advance_tickets(watermark, &mut findings);
        self.advance_slos(watermark, &mut findings, slices);
        for b in &findings.breaches {
            self.breach_ids.insert(b.id.clone());
        }
        self.breaches.extend(findings.breaches.iter().cloned());
        self.burn_alerts
            .extend(findings.burn_alerts.iter().cloned());
        self.outcomes.extend(findings.outcomes.iter().cloned());
        self.forget_closed(watermark);
        findings
    }

    fn advance_tickets(&mut self, watermark: Micros, findings: &mut Findings) {
        let mut settled = Vec::new();
        for id in &self.open_tickets {
            let Some(state) = self.tickets.get_mut(id) else {
                continue;
            };
            let retarget = self.catalogue.retarget_on_priority_change;
            let priority = state.priority_at(watermark, retarget).to_string();
            let Some(policy) = self.catalogue.policy(state.ticket_type, &priority) else {
                settled.push(id.clone());
                continue;
            };
            // Only events behind the watermark are final.
            let known = state.history.partition_point(|x| x.0 <= watermark);
            let Some(clocks) = ticket_clock::evaluate_with(
                &state.history[..known],
                policy.response.as_micros() as Micros,
                policy.resolution.as_micros() as Micros,
                &policy.pausing,
                policy
                    .calendar
                    .as_ref()
                    .and_then(|id| self.calendars.get(id))
                    .unwrap_or(&self.always),
                policy.on_reopen == OnReopen::Restart,
                watermark,
            ) else {
                continue;
            };
            state.clocks = Some(clocks.clone());
            {
                let clocks_by_metric = [
                    ("response", &clocks.response),
                    ("resolution", &clocks.resolution),
                ];
                for (c, (metric, clock)) in clocks_by_metric.into_iter().enumerate() {
                    for (i, at) in clock.warnings.iter().enumerate() {
                        // Warnings before a cancellation stand, like decisions.
                        let Some(at) = at.filter(|at| clocks.counts_at(*at)) else {
                            continue;
                        };
                        if std::mem::replace(&mut state.warned[c][i], true) {
                            continue;
                        }
                        let percent = (ticket_clock::WARNING_FRACTIONS[i] * 100.0).round() as u32;
                        findings.warnings.push(TicketWarning {
                            id: format!("{id}:{metric}:{percent}"),
                            service: state.service.clone(),
                            ticket: id.clone(),
                            metric,
                            percent,
                            at,
                            target_seconds: clock.target / MICROS_PER_SECOND,
                        });
                    }
                }
            }
            for (metric, clock, reported, kind) in [
                (
                    "response",
                    &clocks.response,
                    &mut state.response_reported,
                    BreachKind::TicketResponse,
                ),
                (
                    "resolution",
                    &clocks.resolution,
                    &mut state.resolution_reported,
                    BreachKind::TicketResolution,
                ),
            ] {
                let Some(decided) = clock.decided else {
                    continue;
                };
                if *reported || !clocks.counts_at(decided.at) {
                    continue;
                }
                *reported = true;
                findings.outcomes.push(TicketOutcomeRecord {
                    definition: self.definition.clone(),
                    service: state.service.clone(),
                    ticket: id.clone(),
                    ticket_type: state.ticket_type,
                    priority: priority.clone(),
                    metric,
                    created: clocks.created,
                    target_seconds: clock.target / MICROS_PER_SECOND,
                    elapsed_seconds: decided.elapsed / MICROS_PER_SECOND,
                    outcome: decided.outcome,
                    decided_at: decided.at,
                });
                if decided.outcome == Outcome::Breached {
                    findings.breaches.push(Breach {
                        definition: self.definition.clone(),
                        id: format!("{id}:{metric}"),
                        service: state.service.clone(),
                        kind,
                        ticket: Some(id.clone()),
                        slo: None,
                        slo_window: None,
                        detected_at: decided.at,
                        observed: (decided.elapsed / MICROS_PER_SECOND) as f64,
                        target: (clock.target / MICROS_PER_SECOND) as f64,
                    });
                }
            }
            // A restarted cycle that ran out is a breach of its own (the ticket's outcome, counted
            // once, stays the first cycle's).
            {
                let r = &clocks.resolution;
                for (n, at) in r
                    .cycle_breaches
                    .iter()
                    .enumerate()
                    .skip(state.cycle_breaches_reported)
                    .filter(|(_, at)| clocks.counts_at(**at))
                {
                    findings.breaches.push(Breach {
                        definition: self.definition.clone(),
                        id: format!("{id}:resolution:cycle{}", n + 2),
                        service: state.service.clone(),
                        kind: BreachKind::TicketResolution,
                        ticket: Some(id.clone()),
                        slo: None,
                        slo_window: None,
                        detected_at: *at,
                        observed: (r.target / MICROS_PER_SECOND) as f64,
                        target: (r.target / MICROS_PER_SECOND) as f64,
                    });
                }
                state.cycle_breaches_reported = r.cycle_breaches.len();
            }
            let done = clocks.cancelled
                || (state.response_reported
                    && state.resolution_reported
                    && !clocks.resolution.running);
            if done && known == state.history.len() {
                settled.push(id.clone());
            }
        }
        for id in settled {
            self.open_tickets.remove(&id);
        }
    }

    fn advance_slos(&mut self, watermark: Micros, findings: &mut Findings, slices: bool) {
        for state in &mut self.slos {
            emit_closed_slices(state, watermark, slices.then_some(&mut findings.slices));
            evaluate_burn_rates(state, watermark, &mut findings.burn_alerts);
            for window in state.slo.windows.clone() {
                if matches!(window, SloWindow::RollingDays(_)) || !budget_in_time(state) {
                    findings.breaches.extend(stepwise_breaches(
                        state,
                        window,
                        watermark,
                        &self.breach_ids,
                    ));
                    continue;
                }
                for now in budget_instants(state, window, watermark) {
                    if let Some(breach) = budget_breach(state, window, now, &self.breach_ids) {
                        findings.breaches.push(breach);
                    }
                }
            }
            state.budget_through = Some(watermark);
            state.forget_behind(watermark);
        }
    }

    /// Number of tickets tracked (for metrics and tests).
    pub fn ticket_count(&self) -> usize {
        self.tickets.len()
    }
}

#[cfg(test)]
mod tests;

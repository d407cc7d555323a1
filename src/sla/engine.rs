//! `SlaEngine`: event-time SLA state for every service of the catalogue.
//!
//! Events are applied as they arrive (any order); [`SlaEngine::advance`] moves the watermark
//! (newest event time − allowed lateness) and returns what became final behind it: closed
//! availability slices, decided ticket clocks and breaches. Each finding is returned once.

use super::availability::{ProbeTracker, RATIO_BUCKET, RatioTracker, covered, floor_to};
use super::burn::{self, BurnAlert};
use super::calendar::Calendar;
use super::findings::{
    Breach, BreachKind, Findings, SliceRecord, TicketOutcomeRecord, TicketWarning,
};
use super::report::{
    AvailabilityRow, ServiceSla, SloWindowRow, TicketClockReport, TicketRow, TicketSla, WindowSpan,
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
    /// Per burn-rate rule: the id of the alert while it fires.
    burning: [Option<String>; 4],
    /// Burn rates have been evaluated up to here.
    burn_through: Option<Micros>,
}

/// What the latest events of a change ticket say about its planned outage.
#[derive(Debug, Clone, Default)]
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
    /// Never moves backwards.
    watermark: Option<Micros>,
    /// Events that arrived behind the watermark since the last `take_late_events`.
    late_events: u64,
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
                    burning: Default::default(),
                    burn_through: None,
                });
            }
        }
        let definition = definition_version(&catalogue);
        let mut engine = SlaEngine {
            catalogue,
            lateness: allowed_lateness.as_micros() as Micros,
            newest: HashMap::new(),
            idle: HashSet::new(),
            watermark: None,
            late_events: 0,
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
        };
        engine.calendars = engine
            .catalogue
            .calendars
            .iter()
            .map(|c| (c.id.clone(), Calendar::from_config(c)))
            .collect();
        let services: Vec<String> = engine
            .catalogue
            .services
            .iter()
            .map(|s| s.id.clone())
            .collect();
        for service in &services {
            engine.refresh_exclusions(service);
        }
        engine
    }

    fn calendar_of(&self, policy: &crate::config::TicketPolicy) -> &Calendar {
        policy
            .calendar
            .as_ref()
            .and_then(|id| self.calendars.get(id))
            .unwrap_or(&self.always)
    }

    /// Recomputes a service's maintenance exclusions: the catalogue's windows plus the planned
    /// outages of its approved changes.
    fn refresh_exclusions(&mut self, service: &str) {
        let mut windows: Vec<Interval> = self
            .catalogue
            .service(service)
            .map(|s| {
                s.maintenance
                    .iter()
                    .filter_map(|m| m.interval())
                    .map(|(start, end)| Interval { start, end })
                    .collect()
            })
            .unwrap_or_default();
        windows.extend(
            self.changes
                .values()
                .filter(|c| c.service == service)
                .filter_map(ChangeWindow::exclusion),
        );
        let merged = merge(windows);
        for slo in self.slos.iter_mut().filter(|s| s.service == service) {
            slo.exclusions = merged.clone();
        }
    }

    /// Takes a change ticket's planned outage from its events (the latest value of each field
    /// wins; a cancelled change excludes nothing).
    fn apply_change(&mut self, e: &TicketEvent) {
        let change = self
            .changes
            .entry(e.ticket.clone())
            .or_insert_with(|| ChangeWindow {
                service: e.service.clone(),
                ..Default::default()
            });
        if e.time >= change.as_of {
            change.as_of = e.time;
            change.start = e.planned_start.or(change.start);
            change.end = e.planned_end.or(change.end);
            change.approved = e.approved.unwrap_or(change.approved);
            change.outage = e.outage.unwrap_or(change.outage);
        }
        change.cancelled |= e.status == crate::model::TicketStatus::Cancelled;
        let service = change.service.clone();
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

    /// Starts tracking a partition assigned to this instance: until it delivers an event (or
    /// goes idle), the watermark waits for it.
    pub fn track(&mut self, source: Source) {
        self.newest.entry(source).or_insert(None);
    }

    /// Events that arrived behind the watermark since the last call. They update the live
    /// state, but findings already returned for their time are not revised.
    pub fn take_late_events(&mut self) -> u64 {
        std::mem::take(&mut self.late_events)
    }

    fn observe(&mut self, source: Source, time: Micros) {
        if self.watermark.is_some_and(|w| time < w) {
            self.late_events += 1;
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
            // With every partition idle, the newest event of any of them is the best we know.
            self.newest.values().flatten().copied().max()
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

    /// Catalogue drift: telemetry the catalogue does not know, and catalogue entries without
    /// telemetry in the last `days` days (of event time, up to the watermark).
    pub fn drift(&self, days: i64) -> serde_json::Value {
        use serde_json::json;
        let now = self.watermark.unwrap_or(0);
        let since = now - days * 86_400 * MICROS_PER_SECOND;
        let time = |t: Option<&Micros>| t.map(|t| format_rfc3339(*t));
        let mut unknown_components = Vec::new();
        for (service, components) in &self.seen {
            let known = self.catalogue.service(service);
            for (component, last) in components {
                if !component.is_empty()
                    && known.is_some_and(|s| s.components.iter().all(|c| &c.id != component))
                {
                    unknown_components.push(json!({"service": service, "component": component, "last_seen": format_rfc3339(*last)}));
                }
            }
        }
        unknown_components.sort_by_key(|v| (v["service"].to_string(), v["component"].to_string()));
        let mut silent_services = Vec::new();
        let mut silent_components = Vec::new();
        for service in &self.catalogue.services {
            let components = self.seen.get(&service.id);
            let last = components.and_then(|c| c.values().max());
            if last.is_none_or(|t| *t < since) {
                silent_services.push(json!({"service": service.id, "last_seen": time(last)}));
            }
            for c in &service.components {
                let last = components.and_then(|m| m.get(&c.id));
                if last.is_none_or(|t| *t < since) {
                    silent_components.push(
                        json!({"service": service.id, "component": c.id, "last_seen": time(last)}),
                    );
                }
            }
        }
        let unknown_services: Vec<_> = self
            .unknown_services
            .iter()
            .map(|(s, (n, at))| json!({"service": s, "records": n, "watermark_when_last_seen": time(at.as_ref())}))
            .collect();
        json!({
            "as_of": self.watermark.map(format_rfc3339),
            "days": days,
            "unknown_services": unknown_services,
            "unknown_components": unknown_components,
            "silent_services": silent_services,
            "silent_components": silent_components,
        })
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
        let mut findings = Findings::default();
        let previous = self.watermark;
        if let Some(candidate) = self.candidate_watermark() {
            self.restore_watermark(candidate);
        }
        let Some(watermark) = self.watermark else {
            return findings;
        };
        self.advance_tickets(watermark, &mut findings);
        self.advance_slos(previous, watermark, &mut findings);
        for b in &findings.breaches {
            self.breach_ids.insert(b.id.clone());
        }
        self.breaches.extend(findings.breaches.iter().cloned());
        self.burn_alerts
            .extend(findings.burn_alerts.iter().cloned());
        self.outcomes.extend(findings.outcomes.iter().cloned());
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
            if !clocks.cancelled {
                let clocks_by_metric = [
                    ("response", &clocks.response),
                    ("resolution", &clocks.resolution),
                ];
                for (c, (metric, clock)) in clocks_by_metric.into_iter().enumerate() {
                    for (i, at) in clock.warnings.iter().enumerate() {
                        let Some(at) = *at else { continue };
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
                if *reported || clocks.cancelled {
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
                    elapsed_seconds: clock.elapsed / MICROS_PER_SECOND,
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
                        observed: (clock.elapsed / MICROS_PER_SECOND) as f64,
                        target: (clock.target / MICROS_PER_SECOND) as f64,
                    });
                }
            }
            // A restarted cycle that ran out is a breach of its own (the ticket's outcome, counted
            // once, stays the first cycle's).
            if !clocks.cancelled {
                let r = &clocks.resolution;
                for (n, at) in r
                    .cycle_breaches
                    .iter()
                    .enumerate()
                    .skip(state.cycle_breaches_reported)
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
                        observed: (r.elapsed / MICROS_PER_SECOND) as f64,
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

    fn advance_slos(
        &mut self,
        previous: Option<Micros>,
        watermark: Micros,
        findings: &mut Findings,
    ) {
        for state in &mut self.slos {
            emit_closed_slices(state, watermark, &mut findings.slices);
            evaluate_burn_rates(state, watermark, &mut findings.burn_alerts);
            state.forget_before(watermark - LIVE_RETENTION);
            for window in state.slo.windows.clone() {
                // A batch can carry the watermark into the next month or quarter: finish the
                // last one too.
                let mut instants = vec![watermark];
                if let Some(previous) = previous
                    && !matches!(window, SloWindow::RollingDays(_))
                {
                    let (before, _) = slo_window_at(window, previous, state.tz);
                    if !before.contains(watermark) {
                        instants.insert(0, before.end - 1);
                    }
                }
                for now in instants {
                    if let Some(breach) = budget_breach(state, window, now, &self.breach_ids) {
                        findings.breaches.push(breach);
                    }
                }
            }
        }
    }

    /// SLA figures of one service over `window`, as of the watermark.
    pub fn service_sla(&self, service: &str, window: Interval) -> Option<ServiceSla> {
        self.catalogue.service(service)?;
        let now = self.watermark().unwrap_or(window.start);
        let availability = self
            .slos
            .iter()
            .filter(|s| s.service == service)
            .map(|s| AvailabilityRow {
                slo: s.slo.id.clone(),
                sli: s.sli_name(),
                target: s.slo.target,
                attainment: s.attainment(window, now),
                slo_windows: s
                    .slo
                    .windows
                    .iter()
                    .map(|w| {
                        let (interval, label) = slo_window_at(*w, now, s.tz);
                        let a = s.attainment(interval, now);
                        SloWindowRow {
                            window: label,
                            start: format_rfc3339(interval.start),
                            end: format_rfc3339(interval.end),
                            attained: a.attained,
                            met: a.met,
                            error_budget_remaining: a.error_budget_remaining,
                        }
                    })
                    .collect(),
            })
            .collect();
        Some(ServiceSla {
            service: service.to_string(),
            window: WindowSpan::new(window.start, window.end),
            as_of: format_rfc3339(now),
            availability,
            tickets: self.ticket_rows(service, window),
        })
    }

    fn ticket_rows(&self, service: &str, window: Interval) -> Vec<TicketRow> {
        let now = self.watermark.unwrap_or(window.end);
        let retarget = self.catalogue.retarget_on_priority_change;
        let mut rows: BTreeMap<(TicketType, String, &'static str), TicketRow> = BTreeMap::new();
        for p in &self.catalogue.ticket_policies {
            for (metric, target) in [("response", p.response), ("resolution", p.resolution)] {
                rows.insert(
                    (p.ticket_type, p.priority.clone(), metric),
                    TicketRow {
                        ticket_type: p.ticket_type.as_str(),
                        priority: p.priority.clone(),
                        metric,
                        target_seconds: target.as_secs() as i64,
                        count: 0,
                        met: 0,
                        breached: 0,
                        attainment: None,
                        in_flight: 0,
                    },
                );
            }
        }
        let cancelled = |ticket: &str| {
            self.tickets
                .get(ticket)
                .and_then(|t| t.clocks.as_ref())
                .is_some_and(|c| c.cancelled)
        };
        for o in self
            .outcomes
            .iter()
            .filter(|o| o.service == service && window.contains(o.decided_at))
        {
            if cancelled(&o.ticket) {
                continue;
            }
            if let Some(row) = rows.get_mut(&(o.ticket_type, o.priority.clone(), o.metric)) {
                row.count += 1;
                match o.outcome {
                    Outcome::Met => row.met += 1,
                    Outcome::Breached => row.breached += 1,
                }
            }
        }
        for t in self.tickets.values().filter(|t| t.service == service) {
            let Some(c) = &t.clocks else { continue };
            if c.cancelled || c.created >= window.end {
                continue;
            }
            for (metric, clock) in [("response", &c.response), ("resolution", &c.resolution)] {
                if clock.decided.is_none()
                    && let Some(row) = rows.get_mut(&(
                        t.ticket_type,
                        t.priority_at(now, retarget).to_string(),
                        metric,
                    ))
                {
                    row.in_flight += 1;
                }
            }
        }
        rows.into_values()
            .map(|mut r| {
                r.attainment = (r.count > 0).then(|| r.met as f64 / r.count as f64);
                r
            })
            .collect()
    }

    /// Burn-rate alert transitions of `service` (all when `None`), oldest first.
    pub fn burn_alerts(&self, service: Option<&str>) -> Vec<BurnAlert> {
        self.burn_alerts
            .iter()
            .filter(|a| service.is_none_or(|s| a.service == s))
            .cloned()
            .collect()
    }

    /// A ticket's clocks as of the watermark, with the events they come from.
    pub fn ticket_sla(&self, id: &str) -> Option<TicketSla> {
        let state = self.tickets.get(id)?;
        let last = state.history.last().map_or(0, |e| e.0);
        let now = self.watermark.unwrap_or(last);
        let known = state.history.partition_point(|x| x.0 <= now);
        let priority = state.priority_at(now, self.catalogue.retarget_on_priority_change);
        let policy = self.catalogue.policy(state.ticket_type, priority);
        let clocks = policy.and_then(|p| {
            ticket_clock::evaluate_with(
                &state.history[..known],
                p.response.as_micros() as Micros,
                p.resolution.as_micros() as Micros,
                &p.pausing,
                self.calendar_of(p),
                p.on_reopen == OnReopen::Restart,
                now,
            )
        });
        let calendar = policy.map_or(&self.always, |p| self.calendar_of(p));
        let report = |metric, c: ticket_clock::Clock| {
            let breached = c.decided.filter(|d| d.outcome == Outcome::Breached);
            TicketClockReport {
                metric,
                target_seconds: c.target / MICROS_PER_SECOND,
                elapsed_seconds: c.elapsed / MICROS_PER_SECOND,
                paused_seconds: c.paused / MICROS_PER_SECOND,
                state: c.mode,
                outcome: c.decided.map(|d| d.outcome),
                decided_at: c.decided.map(|d| format_rfc3339(d.at)),
                breached_at: breached.map(|d| format_rfc3339(d.at)),
                predicted_breach_at: (c.running && c.decided.is_none())
                    .then(|| calendar.add_working(now, c.target - c.elapsed))
                    .flatten()
                    .map(format_rfc3339),
                warnings: c
                    .warnings
                    .iter()
                    .zip(ticket_clock::WARNING_FRACTIONS)
                    .filter_map(|(at, f)| {
                        at.map(|at| serde_json::json!({"percent": (f * 100.0).round() as u32, "at": format_rfc3339(at)}))
                    })
                    .collect(),
            }
        };
        Some(TicketSla {
            ticket: id.to_string(),
            service: state.service.clone(),
            ticket_type: state.ticket_type.as_str(),
            priority: priority.to_string(),
            created: format_rfc3339(state.history.first().map_or(0, |e| e.0)),
            as_of: format_rfc3339(now),
            cancelled: clocks.as_ref().is_some_and(|c| c.cancelled),
            has_policy: policy.is_some(),
            events: state
                .history
                .iter()
                .map(|(t, s)| serde_json::json!({"time": format_rfc3339(*t), "status": s.as_str()}))
                .collect(),
            clocks: clocks
                .map(|c| {
                    vec![
                        report("response", c.response),
                        report("resolution", c.resolution),
                    ]
                })
                .unwrap_or_default(),
        })
    }

    /// Breaches of `service` (all when `None`) detected at or after `since`, oldest first.
    pub fn breaches(&self, service: Option<&str>, since: Option<Micros>) -> Vec<Breach> {
        self.breaches
            .iter()
            .filter(|b| service.is_none_or(|s| b.service == s))
            .filter(|b| since.is_none_or(|t| b.detected_at >= t))
            .cloned()
            .collect()
    }

    /// Number of tickets tracked (for metrics and tests).
    pub fn ticket_count(&self) -> usize {
        self.tickets.len()
    }
}

/// How far back the live state keeps availability slices: the longest rolling window, plus the
/// current month. Older periods are answered from the Parquet history.
const LIVE_RETENTION: Micros = 430 * 86_400 * MICROS_PER_SECOND;

impl SloState {
    fn forget_before(&mut self, horizon: Micros) {
        match &mut self.tracker {
            Tracker::Probe(p) => p.forget_before(horizon),
            Tracker::Ratio(r) => r.forget_before(horizon),
        }
    }

    fn sli_name(&self) -> &'static str {
        match &self.tracker {
            Tracker::Probe(p) if p.occurrences => "probe_occurrences",
            Tracker::Probe(_) => "probe",
            Tracker::Ratio(_) => "ratio",
        }
    }

    fn attainment(&self, window: Interval, now: Micros) -> super::availability::Attainment {
        match &self.tracker {
            Tracker::Probe(p) => p.attainment(window, now, self.slo.target, &self.exclusions),
            Tracker::Ratio(r) => r.attainment(window, now, self.slo.target, &self.exclusions),
        }
    }
}

/// Evaluates the SLO's burn-rate rules at every slice boundary since the last evaluation (so the
/// result does not depend on how the stream was batched) and records the alerts that start or
/// stop firing.
fn evaluate_burn_rates(state: &mut SloState, watermark: Micros, out: &mut Vec<BurnAlert>) {
    let first_data = match &state.tracker {
        Tracker::Probe(p) => p.slices.keys().next().copied(),
        Tracker::Ratio(r) => r.buckets.keys().next().copied(),
    };
    let Some(from) = state.burn_through.or(first_data) else {
        return;
    };
    if watermark <= from {
        return;
    }
    let period = match state.slo.windows.first() {
        Some(SloWindow::RollingDays(n)) => i64::from(*n) * 86_400 * MICROS_PER_SECOND,
        _ => 30 * 86_400 * MICROS_PER_SECOND,
    };
    let rules = burn::rules(period);
    let series = match &state.tracker {
        Tracker::Probe(p) => p.series(from - burn::LONGEST_WINDOW, watermark, &state.exclusions),
        Tracker::Ratio(r) => r.series(from - burn::LONGEST_WINDOW, watermark, &state.exclusions),
    };
    let target = state.slo.target;
    let mut t = floor_to(from, series.step) + series.step;
    while t <= watermark {
        for (k, rule) in rules.iter().enumerate() {
            let long = series.rate(t, rule.long, target);
            let short = series.rate(t, rule.short, target);
            let firing = long >= rule.threshold && short >= rule.threshold;
            let alert = |id: String, state_name| BurnAlert {
                id,
                service: state.service.clone(),
                slo: state.slo.id.clone(),
                rule: rule.name,
                state: state_name,
                threshold: rule.threshold,
                long_window_burn_rate: long,
                short_window_burn_rate: short,
                at: t,
            };
            match (state.burning[k].take(), firing) {
                (None, true) => {
                    let id = format!(
                        "{}:{}:burn-{}:{}",
                        state.service,
                        state.slo.id,
                        rule.name,
                        format_rfc3339(t)
                    );
                    out.push(alert(id.clone(), "firing"));
                    state.burning[k] = Some(id);
                }
                (Some(id), false) => out.push(alert(id, "resolved")),
                (still, _) => state.burning[k] = still,
            }
        }
        t += series.step;
    }
    state.burn_through = Some(floor_to(watermark, series.step));
}

/// A budget-exhausted breach of `state` in the instance of `window` that contains `now`, if its
/// budget is gone and no breach was raised for it yet. For calendar windows of probe SLIs the
/// breach time is the exact instant the budget ran out; otherwise it is `now`.
fn budget_breach(
    state: &mut SloState,
    window: SloWindow,
    now: Micros,
    raised: &HashSet<String>,
) -> Option<Breach> {
    let (interval, label) = slo_window_at(window, now, state.tz);
    let a = state.attainment(interval, now);
    if !a.error_budget_remaining.is_some_and(|r| r <= 0.0) {
        state.exhausted.remove(&label);
        return None;
    }
    if !state.exhausted.insert(label.clone()) {
        return None;
    }
    let detected_at = match (&state.tracker, window) {
        (Tracker::Probe(p), SloWindow::CalendarMonth | SloWindow::CalendarQuarter) => p
            .exhausted_at(interval, now, state.slo.target, &state.exclusions)
            .unwrap_or(now),
        _ => now,
    };
    let mut id = format!("{}:{}:{}", state.service, state.slo.id, label);
    if matches!(window, SloWindow::RollingDays(_)) {
        id.push(':');
        id.push_str(&format_rfc3339(detected_at)[..10]);
    }
    if raised.contains(&id) {
        return None;
    }
    Some(Breach {
        definition: state.definition.clone(),
        id,
        service: state.service.clone(),
        kind: BreachKind::SloBudgetExhausted,
        ticket: None,
        slo: Some(state.slo.id.clone()),
        slo_window: Some(label),
        detected_at,
        observed: state
            .attainment(interval, detected_at)
            .attained
            .unwrap_or(0.0),
        target: state.slo.target,
    })
}

/// Returns the slices that closed behind the watermark since the last call, from the first slice
/// that ever had data onwards (gaps are reported as `no_data`).
fn emit_closed_slices(state: &mut SloState, watermark: Micros, out: &mut Vec<SliceRecord>) {
    let (step, first) = match &state.tracker {
        Tracker::Probe(p) => (p.slice, p.slices.keys().next().copied()),
        Tracker::Ratio(r) => (RATIO_BUCKET, r.buckets.keys().next().copied()),
    };
    let Some(first) = state.emitted_through.or(first) else {
        return;
    };
    let closed_through = floor_to(watermark, step);
    let mut start = first;
    while start < closed_through {
        let (good, total, slice_state) = match &state.tracker {
            Tracker::Probe(p) => match p.slices.get(&start) {
                Some(c) => (
                    f64::from(c.up),
                    f64::from(c.up + c.down),
                    if c.is_good() { "good" } else { "bad" },
                ),
                None => (0.0, 0.0, "no_data"),
            },
            Tracker::Ratio(r) => match r.buckets.get(&start) {
                Some(&(g, t)) if t > 0.0 => (g, t, "counted"),
                Some(&(g, t)) => (g, t, "no_data"),
                None => (0.0, 0.0, "no_data"),
            },
        };
        out.push(SliceRecord {
            definition: state.definition.clone(),
            service: state.service.clone(),
            slo: state.slo.id.clone(),
            sli: state.sli_name(),
            target: state.slo.target,
            start,
            seconds: step / MICROS_PER_SECOND,
            excluded_seconds: covered(&state.exclusions, start, start + step) / MICROS_PER_SECOND,
            good,
            total,
            state: slice_state,
        });
        start += step;
    }
    // Nothing closed yet: leave the start open, an earlier slice may still arrive in time.
    if start > first {
        state.emitted_through = Some(start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{StreamKind, TicketStatus, parse_rfc3339};
    use std::time::Duration;

    fn catalogue() -> Arc<Catalogue> {
        Arc::new(
            toml::from_str(
                r#"
                [[service]]
                id = "svc"
                name = "Service"
                [[service.slo]]
                id = "up"
                target = 0.99
                windows = ["month"]
                sli = { kind = "probe", metric = "up", timeslice = "1m" }
                [[ticket_policy]]
                type = "incident"
                priority = "P1"
                response = "15m"
                resolution = "4h"
                "#,
            )
            .unwrap(),
        )
    }

    const METRICS: Source = Source {
        stream: StreamKind::Metrics,
        partition: 0,
    };
    const TICKETS: Source = Source {
        stream: StreamKind::Tickets,
        partition: 0,
    };

    fn t(text: &str) -> Micros {
        parse_rfc3339(text).unwrap()
    }

    fn ticket(time: &str, status: TicketStatus) -> TicketEvent {
        TicketEvent::status_change(t(time), "INC-1", TicketType::Incident, "svc", "P1", status)
    }

    #[test]
    fn a_breach_is_raised_once_when_the_watermark_passes_the_target() {
        let mut e = SlaEngine::new(catalogue(), Duration::ZERO);
        e.apply_ticket(&ticket("2026-11-02T10:00:00Z", TicketStatus::New), TICKETS);
        e.apply_sample("svc", "up", t("2026-11-02T10:10:00Z"), 1.0, TICKETS);
        assert!(
            e.advance().breaches.is_empty(),
            "10 minutes in, the 15-minute response target holds"
        );
        e.apply_sample("svc", "up", t("2026-11-02T10:20:00Z"), 1.0, TICKETS);
        let f = e.advance();
        assert_eq!(f.breaches.len(), 1);
        assert_eq!(f.breaches[0].id, "INC-1:response");
        assert_eq!(f.breaches[0].detected_at, t("2026-11-02T10:15:00Z"));
        e.apply_sample("svc", "up", t("2026-11-02T10:30:00Z"), 1.0, TICKETS);
        assert!(e.advance().breaches.is_empty(), "raised once");
    }

    #[test]
    fn the_slowest_partition_holds_the_watermark() {
        let mut e = SlaEngine::new(catalogue(), Duration::from_secs(60));
        e.track(TICKETS);
        e.apply_sample("svc", "up", t("2026-11-02T12:00:00Z"), 1.0, METRICS);
        e.advance();
        assert_eq!(
            e.watermark(),
            None,
            "the ticket partition has not delivered yet"
        );
        e.apply_ticket(&ticket("2026-11-02T10:00:00Z", TicketStatus::New), TICKETS);
        e.advance();
        assert_eq!(e.watermark(), Some(t("2026-11-02T09:59:00Z")));
        e.set_idle(TICKETS, true);
        e.advance();
        assert_eq!(
            e.watermark(),
            Some(t("2026-11-02T11:59:00Z")),
            "an idle partition no longer holds it"
        );
    }

    #[test]
    fn a_priority_change_retargets_from_creation_when_configured() {
        let mut catalogue = (*catalogue()).clone();
        catalogue.ticket_policies.push(crate::config::TicketPolicy {
            ticket_type: TicketType::Incident,
            priority: "P3".into(),
            response: Duration::from_secs(4 * 3600),
            resolution: Duration::from_secs(24 * 3600),
            pausing: vec![],
            calendar: None,
            on_reopen: crate::config::OnReopen::Resume,
        });
        let events = [
            ticket("2026-11-02T10:00:00Z", TicketStatus::New),
            TicketEvent {
                priority: "P3".into(),
                ..ticket("2026-11-02T10:05:00Z", TicketStatus::InProgress)
            },
        ];
        for retarget in [false, true] {
            let mut c = catalogue.clone();
            c.retarget_on_priority_change = retarget;
            let mut e = SlaEngine::new(Arc::new(c), Duration::ZERO);
            for ev in &events {
                e.apply_ticket(ev, TICKETS);
            }
            e.apply_sample("svc", "up", t("2026-11-02T16:00:00Z"), 1.0, TICKETS);
            let f = e.advance();
            let resolution = f.breaches.iter().any(|b| b.id == "INC-1:resolution");
            // P1 allows 4h to resolve: breached by 16:00 unless re-targeted to P3 (24h).
            assert_eq!(resolution, !retarget, "retarget = {retarget}");
        }
    }

    #[test]
    fn the_same_status_at_the_same_time_counts_once() {
        let mut e = SlaEngine::new(catalogue(), Duration::ZERO);
        for _ in 0..3 {
            e.apply_ticket(&ticket("2026-11-02T10:00:00Z", TicketStatus::New), TICKETS);
        }
        assert_eq!(e.tickets["INC-1"].history.len(), 1);
    }

    #[test]
    fn closed_slices_are_emitted_once_with_gaps_as_no_data() {
        let mut e = SlaEngine::new(catalogue(), Duration::ZERO);
        e.apply_sample("svc", "up", t("2026-11-02T10:00:10Z"), 1.0, METRICS);
        e.apply_sample("svc", "up", t("2026-11-02T10:02:10Z"), 0.0, METRICS);
        e.apply_sample("svc", "up", t("2026-11-02T10:03:10Z"), 1.0, METRICS);
        let states: Vec<_> = e.advance().slices.iter().map(|s| s.state).collect();
        assert_eq!(states, ["good", "no_data", "bad"]);
        assert!(e.advance().slices.is_empty());
    }
}

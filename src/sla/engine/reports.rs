//! What the API asks of the SLA state: per-service figures, breaches, burn-rate alerts, one
//! ticket's clocks, and catalogue drift.

use super::*;
use crate::sla::older::OlderFindings;

impl SlaEngine {
    /// SLA figures of one service over `window`, as of the watermark, from the live state.
    /// A window that reaches before it ([`SlaEngine::history_needed`]) needs
    /// [`SlaEngine::service_sla_with`] and the history's rows.
    pub fn service_sla(&self, service: &str, window: Interval) -> Option<ServiceSla> {
        self.service_sla_with(service, window, &OlderFindings::default())
    }

    /// The span to read from the history for `window` when part of it is before the live
    /// state of `service` (slices or decided clocks have left memory there), or `None` when the
    /// live state covers it. The span is the whole window: the rows at or after the live state
    /// are ignored, and the live state may move on before the rows are read without leaving a
    /// gap.
    pub fn history_needed(&self, service: &str, window: Interval) -> Option<Interval> {
        let live_from = self
            .slos
            .iter()
            .filter(|s| s.service == service)
            .filter_map(|s| s.live_from)
            .chain(self.tickets_live_from)
            .max()?;
        (window.start < live_from).then_some(window)
    }

    /// Attainment of each SLO of `service` over `window`, with the history's slices `older`
    /// before the live state: what a correction compares day by day (no window rows, no
    /// tickets).
    pub fn attainments_with(
        &self,
        service: &str,
        window: Interval,
        older: &[crate::sla::older::OlderSlice],
    ) -> Vec<(String, crate::sla::availability::Attainment)> {
        let now = self.watermark().unwrap_or(window.start);
        self.slos
            .iter()
            .filter(|s| s.service == service)
            .map(|s| (s.slo.id.clone(), s.attainment_with(window, now, older)))
            .collect()
    }

    /// [`SlaEngine::service_sla`] with the rows of the history before the live state.
    pub fn service_sla_with(
        &self,
        service: &str,
        window: Interval,
        older: &OlderFindings,
    ) -> Option<ServiceSla> {
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
                attainment: s.attainment_with(window, now, &older.slices),
                exclusions: s
                    .exclusion_sources
                    .iter()
                    .filter(|(i, _)| i.start < window.end && window.start < i.end)
                    .map(|(i, reason)| ExclusionRow {
                        start: format_rfc3339(i.start),
                        end: format_rfc3339(i.end),
                        reason: reason.clone(),
                    })
                    .collect(),
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
            tickets: self.ticket_rows(service, window, older),
        })
    }

    fn ticket_rows(
        &self,
        service: &str,
        window: Interval,
        older: &OlderFindings,
    ) -> Vec<TicketRow> {
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
        // Outcomes are recorded only when decided before any cancellation: they all count.
        for o in self
            .outcomes
            .iter()
            .filter(|o| o.service == service && window.contains(o.decided_at))
        {
            if let Some(row) = rows.get_mut(&(o.ticket_type, o.priority.clone(), o.metric)) {
                row.count += 1;
                match o.outcome {
                    Outcome::Met => row.met += 1,
                    Outcome::Breached => row.breached += 1,
                }
            }
        }
        // Outcomes decided before the live state come from the history.
        let live_from = self.tickets_live_from.unwrap_or(Micros::MIN);
        for o in older
            .outcomes
            .iter()
            .filter(|o| o.decided_at < live_from && window.contains(o.decided_at))
        {
            let row = rows
                .iter_mut()
                .find(|((kind, priority, metric), _)| {
                    kind.as_str() == o.ticket_type && *priority == o.priority && *metric == o.metric
                })
                .map(|(_, row)| row);
            if let Some(row) = row {
                row.count += 1;
                if o.met {
                    row.met += 1;
                } else {
                    row.breached += 1;
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

    /// True when every ticket created in `window` is still in the live state: closed tickets
    /// leave it once their last event is behind the open windows, and a window that starts
    /// before that horizon must be read from the history.
    pub fn holds_tickets_created_in(&self, window: Interval) -> bool {
        self.tickets_live_from
            .is_none_or(|horizon| window.start >= horizon)
    }

    /// The tickets created (first event) within `window`, optionally of one service, sorted by
    /// id: `(id, service, type, priority at creation, created)`.
    pub fn tickets_created_in(
        &self,
        window: Interval,
        service: Option<&str>,
    ) -> Vec<(String, String, &'static str, String, Micros)> {
        let mut out: Vec<_> = self
            .tickets
            .iter()
            .filter(|(_, t)| service.is_none_or(|s| t.service == s))
            .filter_map(|(id, t)| {
                let created = t.history.first()?.0;
                window.contains(created).then(|| {
                    (
                        id.clone(),
                        t.service.clone(),
                        t.ticket_type.as_str(),
                        t.priority.clone(),
                        created,
                    )
                })
            })
            .collect();
        out.sort();
        out
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
}

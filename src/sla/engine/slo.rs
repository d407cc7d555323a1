//! Per-SLO work behind the watermark: closed slices, burn-rate rules and budget breaches.

use super::*;
use crate::sla::availability::SliceCounts;
use crate::sla::older::OlderSlice;

impl SloState {
    pub(super) fn sli_name(&self) -> &'static str {
        match &self.tracker {
            Tracker::Probe(p) if p.occurrences => "probe_occurrences",
            Tracker::Probe(_) => "probe",
            Tracker::Ratio(_) => "ratio",
        }
    }

    pub(super) fn attainment(
        &self,
        window: Interval,
        now: Micros,
    ) -> crate::sla::availability::Attainment {
        self.attainment_of(&self.tracker, window, now)
    }

    fn attainment_of(
        &self,
        tracker: &Tracker,
        window: Interval,
        now: Micros,
    ) -> crate::sla::availability::Attainment {
        match tracker {
            Tracker::Probe(p) => p.attainment(window, now, self.slo.target, &self.exclusions),
            Tracker::Ratio(r) => r.attainment(window, now, self.slo.target, &self.exclusions),
        }
    }

    /// Attainment over `window` with the slices before the live state taken from `older` (rows
    /// of the history): the same computation over the same slices as when they were in memory.
    pub(super) fn attainment_with(
        &self,
        window: Interval,
        now: Micros,
        older: &[OlderSlice],
    ) -> crate::sla::availability::Attainment {
        let Some(live_from) = self.live_from.filter(|from| window.start < *from) else {
            return self.attainment(window, now);
        };
        let rows = older
            .iter()
            .filter(|r| r.slo == self.slo.id && r.start < live_from);
        let merged = match &self.tracker {
            Tracker::Probe(p) => {
                let mut slices: BTreeMap<Micros, SliceCounts> = rows
                    .filter(|r| r.total > 0.0)
                    .map(|r| {
                        let up = r.good as u32;
                        let down = (r.total - r.good) as u32;
                        (r.start, SliceCounts { up, down })
                    })
                    .collect();
                slices.extend(p.slices.range(live_from..window.end.max(live_from)));
                Tracker::Probe(ProbeTracker {
                    slice: p.slice,
                    missing: p.missing,
                    occurrences: p.occurrences,
                    slices,
                })
            }
            Tracker::Ratio(r) => {
                let mut buckets: BTreeMap<Micros, (f64, f64)> = rows
                    .filter(|r| r.total > 0.0 || r.good > 0.0)
                    .map(|r| (r.start, (r.good, r.total)))
                    .collect();
                buckets.extend(r.buckets.range(live_from..window.end.max(live_from)));
                Tracker::Ratio(RatioTracker { buckets })
            }
        };
        self.attainment_of(&merged, window, now)
    }
}

/// Evaluates the SLO's burn-rate rules at every slice boundary since the last evaluation (so the
/// result does not depend on how the stream was batched) and records the alerts that start or
/// stop firing.
pub(super) fn evaluate_burn_rates(
    state: &mut SloState,
    watermark: Micros,
    out: &mut Vec<BurnAlert>,
) {
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

/// The instants at which a window's budget is judged when the watermark moves to `watermark`:
/// for a calendar window, the end of every instance that closed since the last evaluation (from
/// the first data when the state was just rebuilt, so a rebuilt engine finds the breaches of
/// months that ended before it started), then the watermark itself. (Rolling windows: see
/// [`rolling_breaches`].)
pub(super) fn budget_instants(
    state: &SloState,
    window: SloWindow,
    watermark: Micros,
) -> Vec<Micros> {
    let first_data = match &state.tracker {
        Tracker::Probe(p) => p.slices.keys().next().copied(),
        Tracker::Ratio(r) => r.buckets.keys().next().copied(),
    };
    let mut instants = Vec::new();
    if let Some(mut from) = state.budget_through.or(first_data) {
        loop {
            let (instance, _) = slo_window_at(window, from, state.tz);
            if instance.end > watermark || instance.end <= from {
                break;
            }
            instants.push(instance.end - 1);
            from = instance.end;
        }
    }
    instants.push(watermark);
    instants
}

/// True when the SLO's budget is an amount of time (probe timeslices), judged by
/// [`budget_breach`] at exact instants for calendar windows; the other budgets (ratio events,
/// probe occurrences) and every rolling window are judged step by step by
/// [`stepwise_breaches`].
pub(super) fn budget_in_time(state: &SloState) -> bool {
    matches!(&state.tracker, Tracker::Probe(p) if !p.occurrences)
}

/// Budget breaches of `window` judged at every slice boundary `t` since the last evaluation
/// (from the first data after a rebuild), like burn rates. The window at `t` is
/// `[t − days, t)` for a rolling window, or the calendar instance's start to `t`. It is
/// exhausted when its bad amount reaches what the target allows: of the time not excluded for
/// timeslice budgets, of the events counted for ratio and occurrence budgets. A breach is raised
/// at the first boundary the budget is gone, and again (a rolling window, on a later date) only
/// after it recovered. So the result does not depend on how the stream was batched.
pub(super) fn stepwise_breaches(
    state: &mut SloState,
    window: SloWindow,
    watermark: Micros,
    raised: &HashSet<String>,
) -> Vec<Breach> {
    let (step, first_data) = match &state.tracker {
        Tracker::Probe(p) => (p.slice, p.slices.keys().next().copied()),
        Tracker::Ratio(r) => (RATIO_BUCKET, r.buckets.keys().next().copied()),
    };
    let by_time = budget_in_time(state);
    let key = String::from(window);
    let Some(from) = state.stepped_through.get(&key).copied().or(first_data) else {
        return Vec::new();
    };
    if watermark <= from {
        return Vec::new();
    }
    let window_at = |t: Micros| -> (Interval, String) {
        match window {
            SloWindow::RollingDays(days) => {
                let length = i64::from(days) * 86_400 * MICROS_PER_SECOND;
                (
                    Interval {
                        start: t - length,
                        end: t,
                    },
                    format!("rolling:{days}d"),
                )
            }
            _ => {
                let (instance, label) = slo_window_at(window, t - 1, state.tz);
                (
                    Interval {
                        start: instance.start,
                        end: t,
                    },
                    label,
                )
            }
        }
    };
    let series_from = window_at(floor_to(from, step) + step).0.start.min(from);
    let series = match &state.tracker {
        Tracker::Probe(p) => p.series(series_from, watermark, &state.exclusions),
        Tracker::Ratio(r) => r.series(series_from, watermark, &state.exclusions),
    };
    let target = state.slo.target;
    let mut out = Vec::new();
    let mut t = floor_to(from, step) + step;
    while t <= watermark {
        let (span, label) = window_at(t);
        let (bad, eligible) = series.sums(span.start, span.end);
        let allowed = if by_time {
            let length = span.end - span.start;
            (1.0 - target) * (length - covered(&state.exclusions, span.start, span.end)) as f64
        } else {
            (1.0 - target) * eligible
        };
        let exhausted = eligible > 0.0 && allowed > 0.0 && bad >= allowed;
        if !exhausted {
            state.exhausted.remove(&label);
        } else if state.exhausted.insert(label.clone()) {
            let mut id = format!("{}:{}:{}", state.service, state.slo.id, label);
            if matches!(window, SloWindow::RollingDays(_)) {
                id.push(':');
                id.push_str(&format_rfc3339(t)[..10]);
            }
            // One breach per id: a second exhaustion of a rolling window on the same date is
            // the same breach, whether or not the first was raised in this evaluation.
            if !raised.contains(&id) && !out.iter().any(|b: &Breach| b.id == id) {
                out.push(budget_record(state, id, label, t, 1.0 - bad / eligible));
            }
        }
        t += step;
    }
    state.stepped_through.insert(key, floor_to(watermark, step));
    out
}

/// A budget-exhausted breach of `state` in the calendar instance of `window` that contains
/// `now`, if its timeslice budget is gone and no breach was raised for it yet; the breach time is
/// the exact instant the budget ran out. (Other budgets: [`stepwise_breaches`].)
pub(super) fn budget_breach(
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
    let id = format!("{}:{}:{}", state.service, state.slo.id, label);
    if raised.contains(&id) {
        return None;
    }
    let observed = state
        .attainment(interval, detected_at)
        .attained
        .unwrap_or(0.0);
    Some(budget_record(state, id, label, detected_at, observed))
}

/// The record of an SLO budget breach.
fn budget_record(
    state: &SloState,
    id: String,
    label: String,
    detected_at: Micros,
    observed: f64,
) -> Breach {
    Breach {
        definition: state.definition.clone(),
        id,
        service: state.service.clone(),
        kind: BreachKind::SloBudgetExhausted,
        ticket: None,
        slo: Some(state.slo.id.clone()),
        slo_window: Some(label),
        detected_at,
        observed,
        target: state.slo.target,
    }
}

/// Returns the slices that closed behind the watermark since the last call, from the first slice
/// that ever had data onwards (gaps are reported as `no_data`).
/// Returns the slices that closed behind `watermark` in `out`, or only marks them returned when
/// `out` is `None` (a restart's settle discards them: they are in the history already).
pub(super) fn emit_closed_slices(
    state: &mut SloState,
    watermark: Micros,
    mut out: Option<&mut Vec<SliceRecord>>,
) {
    let (step, first) = match &state.tracker {
        Tracker::Probe(p) => (p.slice, p.slices.keys().next().copied()),
        Tracker::Ratio(r) => (RATIO_BUCKET, r.buckets.keys().next().copied()),
    };
    let Some(first) = state.emitted_through.or(first) else {
        return;
    };
    let closed_through = floor_to(watermark, step);
    let mut start = first;
    if out.is_none() {
        start = start.max(closed_through - (closed_through - first).rem_euclid(step));
    }
    while let Some(out) = out.as_deref_mut()
        && start < closed_through
    {
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

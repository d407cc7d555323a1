//! Availability SLIs: probe timeslices and ratio counts, and their attainment over a window.
//!
//! attained = good / (total − excluded − no-data), where no-data slices follow the SLO's
//! `missing` policy (left out by default). The error budget is the bad time (or bad events) the
//! target allows over the *whole* window; `error_budget_remaining` is the unspent fraction of it
//! and goes negative once the budget is overspent.

use super::burn::Series;
use super::window::Interval;
use crate::config::MissingPolicy;
use crate::model::{MICROS_PER_SECOND, Micros};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Ratio SLIs are kept in one-minute buckets: fine enough for any window boundary on a minute.
pub const RATIO_BUCKET: Micros = 60 * MICROS_PER_SECOND;

/// Probe samples seen in one timeslice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceCounts {
    pub up: u32,
    pub down: u32,
}

impl SliceCounts {
    /// A slice is good when every probe in it saw the service up.
    pub fn is_good(&self) -> bool {
        self.down == 0 && self.up > 0
    }
}

/// State of one probe SLI: samples per timeslice, keyed by the slice's start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeTracker {
    pub slice: Micros,
    pub missing: MissingPolicy,
    /// Occurrence budgeting: count probes instead of timeslices.
    pub occurrences: bool,
    #[serde(with = "super::packed::probe_slices")]
    pub slices: BTreeMap<Micros, SliceCounts>,
}

/// State of one ratio SLI: good and total counts per minute bucket.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RatioTracker {
    #[serde(with = "super::packed::ratio_buckets")]
    pub buckets: BTreeMap<Micros, (f64, f64)>,
}

/// Attainment of one SLO over one window, as the API reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attainment {
    /// `null` when the window holds no eligible data.
    pub attained: Option<f64>,
    /// Seconds judged good (probe SLIs); `null` for ratio SLIs, which count events.
    pub good_seconds: Option<i64>,
    /// Seconds of the window elapsed so far (up to the evaluation time).
    pub total_seconds: i64,
    pub excluded_seconds: i64,
    pub no_data_seconds: i64,
    /// Ratio SLIs: the good and total event counts in the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub good_events: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_events: Option<f64>,
    pub met: Option<bool>,
    /// Unspent fraction of the window's error budget (1 = untouched, ≤ 0 = exhausted).
    pub error_budget_remaining: Option<f64>,
}

pub fn floor_to(t: Micros, step: Micros) -> Micros {
    t.div_euclid(step) * step
}

/// How much of `[from, to)` the exclusion windows cover (they are sorted and do not overlap).
pub fn covered(exclusions: &[Interval], from: Micros, to: Micros) -> Micros {
    exclusions
        .iter()
        .map(|e| (e.end.min(to) - e.start.max(from)).max(0))
        .sum()
}

impl ProbeTracker {
    pub fn new(slice: Micros, missing: MissingPolicy) -> Self {
        ProbeTracker {
            slice,
            missing,
            occurrences: false,
            slices: BTreeMap::new(),
        }
    }

    /// Records one probe sample (`value >= 1` is up).
    pub fn record(&mut self, time: Micros, value: f64) {
        let counts = self.slices.entry(floor_to(time, self.slice)).or_default();
        if value >= 1.0 {
            counts.up += 1;
        } else {
            counts.down += 1;
        }
    }

    /// Attainment over `window`, counting only time before `now` and outside `exclusions`.
    pub fn attainment(
        &self,
        window: Interval,
        now: Micros,
        target: f64,
        exclusions: &[Interval],
    ) -> Attainment {
        if self.occurrences {
            return self.occurrence_attainment(window, now, target, exclusions);
        }
        let end = window.end.min(now).max(window.start);
        let mut good = 0i64;
        let mut bad = 0i64;
        let first = floor_to(window.start, self.slice);
        for (&start, counts) in self.slices.range(first..end) {
            let (from, to) = (start.max(window.start), (start + self.slice).min(end));
            let overlap = to - from - covered(exclusions, from, to);
            if overlap <= 0 {
                continue;
            }
            if counts.is_good() {
                good += overlap;
            } else {
                bad += overlap;
            }
        }
        let total = end - window.start;
        let excluded = covered(exclusions, window.start, end);
        let no_data = total - excluded - good - bad;
        let (good_counted, bad_counted) = match self.missing {
            MissingPolicy::Exclude => (good, bad),
            MissingPolicy::Good => (good + no_data, bad),
            MissingPolicy::Bad => (good, bad + no_data),
        };
        let eligible = good_counted + bad_counted;
        let attained = (eligible > 0).then(|| good_counted as f64 / eligible as f64);
        let allowed_bad = (1.0 - target)
            * (window.end - window.start - covered(exclusions, window.start, window.end)) as f64;
        Attainment {
            attained,
            good_seconds: Some(good / MICROS_PER_SECOND),
            total_seconds: total / MICROS_PER_SECOND,
            excluded_seconds: excluded / MICROS_PER_SECOND,
            no_data_seconds: no_data / MICROS_PER_SECOND,
            good_events: None,
            total_events: None,
            met: attained.map(|a| a >= target),
            // A window excluded whole allows no bad time and spends none: no budget to report.
            error_budget_remaining: (allowed_bad > 0.0)
                .then(|| 1.0 - bad_counted as f64 / allowed_bad),
        }
    }

    /// Occurrence budgeting: probes up over all probes in the window (slices wholly inside an
    /// exclusion window left out); the budget is the bad probes the target allows of those seen.
    fn occurrence_attainment(
        &self,
        window: Interval,
        now: Micros,
        target: f64,
        exclusions: &[Interval],
    ) -> Attainment {
        let end = window.end.min(now).max(window.start);
        let (mut up, mut all, mut with_data) = (0.0, 0.0, 0i64);
        for (&start, c) in self.slices.range(window.start..end) {
            let slice_end = (start + self.slice).min(end);
            if covered(exclusions, start, slice_end) == slice_end - start {
                continue;
            }
            up += f64::from(c.up);
            all += f64::from(c.up + c.down);
            with_data += slice_end - start;
        }
        let elapsed = end - window.start;
        let excluded = covered(exclusions, window.start, end);
        let attained = (all > 0.0).then(|| up / all);
        Attainment {
            attained,
            good_seconds: None,
            total_seconds: elapsed / MICROS_PER_SECOND,
            excluded_seconds: excluded / MICROS_PER_SECOND,
            no_data_seconds: (elapsed - excluded - with_data).max(0) / MICROS_PER_SECOND,
            good_events: Some(up),
            total_events: Some(all),
            met: attained.map(|a| a >= target),
            error_budget_remaining: (all > 0.0).then(|| 1.0 - (all - up) / ((1.0 - target) * all)),
        }
    }

    /// The first instant in `window` (before `now`) at which the bad time exceeded the error
    /// budget of the whole window, or `None` while budget remains. Independent of when the
    /// data arrived, so a breach carries the same time however the stream was batched.
    pub fn exhausted_at(
        &self,
        window: Interval,
        now: Micros,
        target: f64,
        exclusions: &[Interval],
    ) -> Option<Micros> {
        if self.occurrences {
            return None; // judged on counts, not time: no instant to pin
        }
        let eligible = window.end - window.start - covered(exclusions, window.start, window.end);
        let allowed = ((1.0 - target) * eligible as f64).round() as Micros;
        let end = window.end.min(now);
        let mut bad: Micros = 0;
        let mut start = floor_to(window.start, self.slice);
        while start < end {
            let counted_bad = match self.slices.get(&start) {
                Some(c) => !c.is_good(),
                None => self.missing == MissingPolicy::Bad,
            };
            if counted_bad {
                let (from, to) = (start.max(window.start), (start + self.slice).min(end));
                let excluded = covered(exclusions, from, to);
                let overlap = to - from - excluded;
                if bad + overlap > allowed {
                    // Within a partly excluded slice the exact instant is unknown: its end.
                    return Some(if excluded == 0 {
                        from + (allowed - bad)
                    } else {
                        to
                    });
                }
                bad += overlap;
            }
            // Skip runs without data quickly unless they count as bad.
            start = match (self.missing, self.slices.range(start + self.slice..).next()) {
                (MissingPolicy::Bad, _) => start + self.slice,
                (_, Some((&next, _))) => next,
                (_, None) => end,
            };
        }
        None
    }

    /// Bad and eligible time per slice over `[from, to)`, for burn rates: the same rules as
    /// [`ProbeTracker::attainment`] (missing policy, exclusions), slice by slice.
    pub fn series(&self, from: Micros, to: Micros, exclusions: &[Interval]) -> Series {
        let start = floor_to(from, self.slice);
        let n = ((to - start).max(0) + self.slice - 1) / self.slice;
        let mut cells = Vec::with_capacity(n as usize);
        for i in 0..n {
            let s = start + i * self.slice;
            let counted = (self.slice - covered(exclusions, s, s + self.slice)) as f64;
            let cell = match (self.slices.get(&s), self.missing) {
                (Some(c), _) if self.occurrences && counted > 0.0 => {
                    (f64::from(c.down), f64::from(c.up + c.down))
                }
                (_, _) if self.occurrences => (0.0, 0.0),
                (Some(c), _) if c.is_good() => (0.0, counted),
                (Some(_), _) => (counted, counted),
                (None, MissingPolicy::Exclude) => (0.0, 0.0),
                (None, MissingPolicy::Good) => (0.0, counted),
                (None, MissingPolicy::Bad) => (counted, counted),
            };
            cells.push(cell);
        }
        Series::new(start, self.slice, &cells)
    }

    /// Drops slices that start before `horizon` (already in the Parquet history).
    pub fn forget_before(&mut self, horizon: Micros) {
        let horizon = floor_to(horizon, self.slice);
        if self
            .slices
            .first_key_value()
            .is_some_and(|(&first, _)| first < horizon)
        {
            self.slices = self.slices.split_off(&horizon);
        }
    }
}

impl RatioTracker {
    pub fn record_good(&mut self, time: Micros, value: f64) {
        self.buckets
            .entry(floor_to(time, RATIO_BUCKET))
            .or_default()
            .0 += value;
    }

    pub fn record_total(&mut self, time: Micros, value: f64) {
        self.buckets
            .entry(floor_to(time, RATIO_BUCKET))
            .or_default()
            .1 += value;
    }

    /// Good over total events in `window` before `now`; minutes wholly inside an exclusion
    /// window do not count.
    pub fn attainment(
        &self,
        window: Interval,
        now: Micros,
        target: f64,
        exclusions: &[Interval],
    ) -> Attainment {
        let end = window.end.min(now).max(window.start);
        let (mut good, mut total, mut with_data) = (0.0, 0.0, 0i64);
        let first = floor_to(window.start, RATIO_BUCKET);
        for (&start, &(g, t)) in self.buckets.range(first..end) {
            let bucket_end = (start + RATIO_BUCKET).min(end);
            if start < window.start || covered(exclusions, start, bucket_end) == bucket_end - start
            {
                continue;
            }
            good += g;
            total += t;
            if t > 0.0 {
                with_data += bucket_end - start;
            }
        }
        let elapsed = end - window.start;
        let excluded = covered(exclusions, window.start, end);
        // Counts are finite and at most 2^53 each (the decoder refuses others), so the sums
        // stay finite; the guard keeps a NaN out of every figure all the same.
        let counted = total > 0.0 && total.is_finite() && good.is_finite();
        let attained = counted.then(|| (good / total).clamp(0.0, 1.0));
        let allowed_bad = (1.0 - target) * total;
        Attainment {
            attained,
            good_seconds: None,
            total_seconds: elapsed / MICROS_PER_SECOND,
            excluded_seconds: excluded / MICROS_PER_SECOND,
            no_data_seconds: (elapsed - excluded - with_data).max(0) / MICROS_PER_SECOND,
            good_events: Some(good),
            total_events: Some(total),
            met: attained.map(|a| a >= target),
            error_budget_remaining: counted.then(|| 1.0 - (total - good).max(0.0) / allowed_bad),
        }
    }

    /// Bad and total events per minute over `[from, to)`, for burn rates (minutes wholly in
    /// an exclusion window are left out).
    pub fn series(&self, from: Micros, to: Micros, exclusions: &[Interval]) -> Series {
        let start = floor_to(from, RATIO_BUCKET);
        let n = ((to - start).max(0) + RATIO_BUCKET - 1) / RATIO_BUCKET;
        let mut cells = vec![(0.0, 0.0); n as usize];
        for (&s, &(good, total)) in self.buckets.range(start..to) {
            if covered(exclusions, s, s + RATIO_BUCKET) == RATIO_BUCKET {
                continue;
            }
            if let Some(cell) = cells.get_mut(((s - start) / RATIO_BUCKET) as usize) {
                *cell = ((total - good).max(0.0), total);
            }
        }
        Series::new(start, RATIO_BUCKET, &cells)
    }

    pub fn forget_before(&mut self, horizon: Micros) {
        let horizon = floor_to(horizon, RATIO_BUCKET);
        if self
            .buckets
            .first_key_value()
            .is_some_and(|(&first, _)| first < horizon)
        {
            self.buckets = self.buckets.split_off(&horizon);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_rfc3339;

    const MIN: Micros = 60 * MICROS_PER_SECOND;

    fn t(text: &str) -> Micros {
        parse_rfc3339(text).unwrap()
    }

    fn hour() -> Interval {
        Interval {
            start: t("2026-11-02T10:00:00Z"),
            end: t("2026-11-02T11:00:00Z"),
        }
    }

    /// 60 one-minute slices, one probe each; minutes 10 and 11 down: 58/60 good.
    #[test]
    fn a_slice_with_any_failed_probe_is_bad() {
        let mut p = ProbeTracker::new(MIN, MissingPolicy::Exclude);
        for m in 0..60 {
            p.record(
                hour().start + m * MIN + 5 * MICROS_PER_SECOND,
                if m == 10 || m == 11 { 0.0 } else { 1.0 },
            );
        }
        p.record(hour().start + 20 * MIN, 0.0); // one failed probe among good ones spoils minute 20
        let a = p.attainment(hour(), hour().end, 0.99, &[]);
        assert_eq!(a.good_seconds, Some(57 * 60));
        assert_eq!(a.total_seconds, 3600);
        assert_eq!(a.no_data_seconds, 0);
        assert!((a.attained.unwrap() - 57.0 / 60.0).abs() < 1e-12);
        assert_eq!(a.met, Some(false));
        // budget: 1% of 3600 s = 36 s allowed, 180 s bad -> 1 - 5 = -4
        assert!((a.error_budget_remaining.unwrap() + 4.0).abs() < 1e-9);
    }

    /// 30 minutes with data (all good), 30 without: excluded by default, counted by policy otherwise.
    #[test]
    fn missing_slices_follow_the_policy() {
        let mut exclude = ProbeTracker::new(MIN, MissingPolicy::Exclude);
        for m in 0..30 {
            exclude.record(hour().start + m * MIN, 1.0);
        }
        let a = exclude.attainment(hour(), hour().end, 0.9, &[]);
        assert_eq!((a.attained, a.no_data_seconds), (Some(1.0), 1800));

        let mut bad = exclude.clone();
        bad.missing = MissingPolicy::Bad;
        assert_eq!(
            bad.attainment(hour(), hour().end, 0.9, &[]).attained,
            Some(0.5)
        );

        let mut good = exclude.clone();
        good.missing = MissingPolicy::Good;
        assert_eq!(
            good.attainment(hour(), hour().end, 0.9, &[]).attained,
            Some(1.0)
        );
    }

    #[test]
    fn only_elapsed_time_counts() {
        let mut p = ProbeTracker::new(MIN, MissingPolicy::Exclude);
        for m in 0..15 {
            p.record(hour().start + m * MIN, 1.0);
        }
        let a = p.attainment(hour(), hour().start + 15 * MIN, 0.999, &[]);
        assert_eq!(
            (a.total_seconds, a.no_data_seconds, a.attained),
            (900, 0, Some(1.0))
        );
    }

    #[test]
    fn a_window_without_data_has_no_attainment() {
        let p = ProbeTracker::new(MIN, MissingPolicy::Exclude);
        let a = p.attainment(hour(), hour().end, 0.999, &[]);
        assert_eq!((a.attained, a.met, a.no_data_seconds), (None, None, 3600));
    }

    /// 1000 requests a minute for an hour, 30 of them failed in total: 0.9995 attained.
    #[test]
    fn ratio_is_good_over_total_events() {
        let mut r = RatioTracker::default();
        for m in 0..60 {
            r.record_total(hour().start + m * MIN, 1000.0);
            r.record_good(hour().start + m * MIN, if m < 30 { 999.0 } else { 1000.0 });
        }
        let a = r.attainment(hour(), hour().end, 0.999, &[]);
        assert!((a.attained.unwrap() - 59_970.0 / 60_000.0).abs() < 1e-12);
        assert_eq!(a.met, Some(true));
        // allowed 60 bad events, 30 spent
        assert!((a.error_budget_remaining.unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(a.no_data_seconds, 0);
    }

    /// 0.99 over one hour allows 36 s of bad time: minutes 10 and 11 are down, so the budget
    /// is gone 36 s into minute 10.
    #[test]
    fn the_budget_is_exhausted_at_the_exact_instant() {
        let mut p = ProbeTracker::new(MIN, MissingPolicy::Exclude);
        for m in 0..60 {
            p.record(
                hour().start + m * MIN,
                if m == 10 || m == 11 { 0.0 } else { 1.0 },
            );
        }
        let at = p.exhausted_at(hour(), hour().end, 0.99, &[]);
        assert_eq!(at, Some(hour().start + 10 * MIN + 36 * MICROS_PER_SECOND));
        assert_eq!(
            p.exhausted_at(hour(), hour().start + 10 * MIN, 0.99, &[]),
            None,
            "not yet at minute 10"
        );
        assert_eq!(
            p.exhausted_at(hour(), hour().end, 0.9, &[]),
            None,
            "6 minutes allowed at 90%"
        );
    }

    /// 60 one-minute slices, minutes 30 to 39 down inside an agreed maintenance window.
    #[test]
    fn maintenance_windows_leave_the_denominator_and_the_budget() {
        let mut p = ProbeTracker::new(MIN, MissingPolicy::Exclude);
        for m in 0..60 {
            p.record(
                hour().start + m * MIN,
                if (30..40).contains(&m) { 0.0 } else { 1.0 },
            );
        }
        let maintenance = [Interval {
            start: hour().start + 30 * MIN,
            end: hour().start + 40 * MIN,
        }];
        let a = p.attainment(hour(), hour().end, 0.99, &maintenance);
        assert_eq!(
            (
                a.attained,
                a.excluded_seconds,
                a.good_seconds,
                a.no_data_seconds
            ),
            (Some(1.0), 600, Some(3000), 0)
        );
        assert_eq!(a.error_budget_remaining, Some(1.0));
        assert_eq!(p.exhausted_at(hour(), hour().end, 0.99, &maintenance), None);
        let mut r = RatioTracker::default();
        for m in 0..60 {
            r.record_total(hour().start + m * MIN, 100.0);
            r.record_good(
                hour().start + m * MIN,
                if (30..40).contains(&m) { 0.0 } else { 100.0 },
            );
        }
        let a = r.attainment(hour(), hour().end, 0.99, &maintenance);
        assert_eq!(
            (a.attained, a.total_events, a.excluded_seconds),
            (Some(1.0), Some(5000.0), 600)
        );
    }

    /// 120 probes in an hour (two a minute), 3 of them down in different minutes: occurrence
    /// budgeting counts 117/120; timeslice budgeting counts 57/60 minutes.
    #[test]
    fn occurrence_budgeting_counts_probes() {
        let mut p = ProbeTracker::new(MIN, MissingPolicy::Exclude);
        for m in 0..60 {
            p.record(
                hour().start + m * MIN,
                if [5, 6, 7].contains(&m) { 0.0 } else { 1.0 },
            );
            p.record(hour().start + m * MIN + 30 * MICROS_PER_SECOND, 1.0);
        }
        assert_eq!(
            p.attainment(hour(), hour().end, 0.99, &[]).attained,
            Some(57.0 / 60.0)
        );
        p.occurrences = true;
        let a = p.attainment(hour(), hour().end, 0.99, &[]);
        assert_eq!(
            (a.attained, a.good_events, a.total_events),
            (Some(117.0 / 120.0), Some(117.0), Some(120.0))
        );
        // 1% of 120 probes allowed bad: 1.2; 3 spent.
        assert!((a.error_budget_remaining.unwrap() - (1.0 - 3.0 / 1.2)).abs() < 1e-9);
        assert_eq!(p.exhausted_at(hour(), hour().end, 0.99, &[]), None);
    }

    #[test]
    fn forgetting_keeps_recent_slices() {
        let mut p = ProbeTracker::new(MIN, MissingPolicy::Exclude);
        p.record(hour().start, 1.0);
        p.record(hour().start + 30 * MIN, 1.0);
        p.forget_before(hour().start + 10 * MIN);
        assert_eq!(p.slices.len(), 1);
    }

    #[test]
    fn a_window_excluded_whole_has_no_budget_not_a_nan() {
        let mut probe = ProbeTracker::new(MIN, MissingPolicy::Exclude);
        probe.record(hour().start + 10 * MIN, 1.0);
        let a = probe.attainment(hour(), hour().end, 0.999, &[hour()]);
        assert_eq!(a.error_budget_remaining, None);
        assert_eq!(a.attained, None);
    }

    #[test]
    fn overflowing_ratio_counts_give_no_figure_rather_than_nan() {
        let mut ratio = RatioTracker::default();
        for m in 0..2 {
            ratio.record_good(hour().start + m * MIN, f64::MAX);
            ratio.record_total(hour().start + m * MIN, f64::MAX);
        }
        let a = ratio.attainment(hour(), hour().end, 0.99, &[]);
        assert_eq!((a.attained, a.error_budget_remaining), (None, None));
    }
}

//! Capacity plans: when the forecast crosses a component's threshold, how sure that is, and
//! what capacity would keep it under the threshold for the planning horizon.

use crate::model::Micros;
use serde::Serialize;

/// A forecast step with its time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TimedStep {
    pub time: Micros,
    pub mean: f64,
    pub lower: f64,
    pub upper: f64,
}

/// When the threshold is crossed: by the interval's upper bound (earliest), its mean
/// (expected) and its lower bound (latest). `None` inside: not within the horizon.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Exhaustion {
    pub expected: Option<Micros>,
    pub earliest: Option<Micros>,
    pub latest: Option<Micros>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Neither the forecast nor its interval reaches the threshold within the horizon.
    Low,
    /// Only the upper bound of the interval reaches the threshold.
    Medium,
    /// The expected forecast reaches the threshold within the horizon.
    High,
    /// Current use is already at or above the threshold.
    Critical,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Critical => "critical",
        }
    }
}

/// The figures of a plan, before the API adds names and times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub current: f64,
    /// Threshold minus current use, in the resource's units.
    pub headroom: f64,
    /// `None` when not even the upper bound crosses within the horizon.
    pub exhaustion: Option<Exhaustion>,
    /// The capacity at which the interval's upper bound stays under the threshold over the
    /// whole horizon, keeping the threshold's share of capacity (may be below today's capacity:
    /// a right-sizing opportunity).
    pub recommended_capacity: f64,
    /// Highest upper bound over the horizon.
    pub peak_upper: f64,
    pub risk: Risk,
}

/// Builds the plan from current use (`current`, observed at `now`) and the forecast.
pub fn plan(
    capacity: f64,
    threshold: f64,
    current: f64,
    now: Micros,
    forecast: &[TimedStep],
) -> Plan {
    let crossing =
        |bound: fn(&TimedStep) -> f64| first_crossing(threshold, now, current, forecast, bound);
    let exhaustion = Exhaustion {
        expected: crossing(|s| s.mean),
        earliest: crossing(|s| s.upper),
        latest: crossing(|s| s.lower),
    };
    let peak_upper = forecast.iter().map(|s| s.upper).fold(current, f64::max);
    let share = if capacity > 0.0 {
        threshold / capacity
    } else {
        1.0
    };
    let risk = if current >= threshold {
        Risk::Critical
    } else if exhaustion.expected.is_some() {
        Risk::High
    } else if exhaustion.earliest.is_some() {
        Risk::Medium
    } else {
        Risk::Low
    };
    Plan {
        current,
        headroom: threshold - current,
        exhaustion: exhaustion.earliest.is_some().then_some(exhaustion),
        recommended_capacity: (peak_upper / share).max(0.0),
        peak_upper,
        risk,
    }
}

/// The first time `bound` reaches `threshold`, interpolated linearly between steps (the series
/// starts from `current` at `now`).
fn first_crossing(
    threshold: f64,
    now: Micros,
    current: f64,
    forecast: &[TimedStep],
    bound: fn(&TimedStep) -> f64,
) -> Option<Micros> {
    if current >= threshold {
        return Some(now);
    }
    let mut previous = (now, current);
    for step in forecast {
        let value = bound(step);
        if value >= threshold {
            let (t0, v0) = previous;
            let fraction = if value > v0 {
                (threshold - v0) / (value - v0)
            } else {
                1.0
            };
            let at = t0 + ((step.time - t0) as f64 * fraction.clamp(0.0, 1.0)) as Micros;
            // To the second: finer would be false precision.
            return Some(at.div_euclid(1_000_000) * 1_000_000);
        }
        previous = (step.time, value);
    }
    None
}

/// What-if: demand grows by `growth` (0.2 = +20 %) from `from` on; every later step scales.
pub fn apply_growth(forecast: &mut [TimedStep], growth: f64, from: Micros) {
    let factor = 1.0 + growth;
    for step in forecast.iter_mut().filter(|s| s.time >= from) {
        step.mean *= factor;
        step.lower *= factor;
        step.upper *= factor;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(start: f64, slope: f64, spread: f64, n: usize) -> Vec<TimedStep> {
        (1..=n)
            .map(|i| {
                let mean = start + slope * i as f64;
                TimedStep {
                    time: i as Micros * 10_000_000,
                    mean,
                    lower: mean - spread,
                    upper: mean + spread,
                }
            })
            .collect()
    }

    #[test]
    fn the_crossings_bracket_the_expected_date() {
        // mean = 50 + t (t in steps of 10 seconds); threshold 80 is met at step 30 by the mean,
        // step 25 by the upper bound (spread 5) and step 35 by the lower bound.
        let f = line(50.0, 1.0, 5.0, 100);
        let p = plan(100.0, 80.0, 50.0, 0, &f);
        let e = p.exhaustion.unwrap();
        assert_eq!(e.expected, Some(300_000_000));
        assert_eq!(e.earliest, Some(250_000_000));
        assert_eq!(e.latest, Some(350_000_000));
        assert_eq!(p.risk, Risk::High);
        assert_eq!(p.headroom, 30.0);
        // The upper bound peaks at 155; keeping it at 80 % of capacity needs 193.75.
        assert!((p.recommended_capacity - 193.75).abs() < 1e-9);
    }

    #[test]
    fn a_flat_forecast_never_exhausts() {
        let f = line(40.0, 0.0, 5.0, 50);
        let p = plan(100.0, 80.0, 40.0, 0, &f);
        assert_eq!(p.exhaustion, None);
        assert_eq!(p.risk, Risk::Low);
        assert!((p.recommended_capacity - 56.25).abs() < 1e-9);
    }

    #[test]
    fn only_the_upper_bound_crossing_is_a_medium_risk() {
        let f = line(70.0, 0.0, 15.0, 10);
        let p = plan(100.0, 80.0, 70.0, 0, &f);
        assert_eq!(p.risk, Risk::Medium);
        let e = p.exhaustion.unwrap();
        assert_eq!((e.expected, e.latest), (None, None));
        assert!(e.earliest.is_some());
    }

    #[test]
    fn growth_scales_from_its_date_on() {
        let mut f = line(10.0, 0.0, 1.0, 4);
        apply_growth(&mut f, 0.2, 30_000_000);
        let means: Vec<f64> = f.iter().map(|s| s.mean).collect();
        assert_eq!(means, vec![10.0, 10.0, 12.0, 12.0]);
        let p = plan(100.0, 90.0, 95.0, 0, &f);
        assert_eq!(p.risk, Risk::Critical);
    }
}

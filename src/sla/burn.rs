//! Multi-window, multi-burn-rate alerts (the SRE workbook's alerting chapter).
//!
//! The burn rate over a window is the bad fraction in it divided by the fraction the target
//! allows (1 − target): 1 spends the budget exactly over the SLO period. An alert fires when
//! both its long and its short window burn at least at its threshold, and resolves when that
//! stops being true. For a 30-day period the rules are 14.4x over 1h and 5m, 6x over 6h and
//! 30m, 3x over 1d and 2h, 1x over 3d and 6h; other periods keep the windows and scale the
//! thresholds so each rule still means the same share of the budget (2, 5, 10 and 10 %).

use crate::model::{MICROS_PER_SECOND, Micros};
use serde::Serialize;

const MINUTE: Micros = 60 * MICROS_PER_SECOND;
const HOUR: Micros = 60 * MINUTE;

/// One rule: a long and a short window and the burn rate both must reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnRule {
    /// `1h`, `6h`, `1d`, `3d`: names the rule by its long window.
    pub name: &'static str,
    pub long: Micros,
    pub short: Micros,
    pub threshold: f64,
}

/// The four rules for an SLO whose budget period is `period`.
pub fn rules(period: Micros) -> [BurnRule; 4] {
    let rule = |name, long: Micros, budget_share: f64| BurnRule {
        name,
        long,
        short: long / 12,
        threshold: budget_share * period as f64 / long as f64,
    };
    [
        rule("1h", HOUR, 0.02),
        rule("6h", 6 * HOUR, 0.05),
        rule("1d", 24 * HOUR, 0.10),
        rule("3d", 72 * HOUR, 0.10),
    ]
}

/// The longest window any rule looks at.
pub const LONGEST_WINDOW: Micros = 72 * HOUR;

/// Bad and eligible amounts on a regular grid, as prefix sums, so any window is two lookups.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub start: Micros,
    pub step: Micros,
    bad: Vec<f64>,
    eligible: Vec<f64>,
}

impl Series {
    /// `cells[i]` = (bad, eligible) of `[start + i·step, start + (i+1)·step)`.
    pub fn new(start: Micros, step: Micros, cells: &[(f64, f64)]) -> Series {
        let mut bad = Vec::with_capacity(cells.len() + 1);
        let mut eligible = Vec::with_capacity(cells.len() + 1);
        let (mut b, mut e) = (0.0, 0.0);
        bad.push(0.0);
        eligible.push(0.0);
        for &(cb, ce) in cells {
            b += cb;
            e += ce;
            bad.push(b);
            eligible.push(e);
        }
        Series {
            start,
            step,
            bad,
            eligible,
        }
    }

    fn index(&self, t: Micros) -> usize {
        ((t - self.start).max(0) / self.step).clamp(0, self.bad.len() as i64 - 1) as usize
    }

    /// (bad, eligible) summed over `[from, to)` (grid-aligned; clamped to the series).
    pub fn sums(&self, from: Micros, to: Micros) -> (f64, f64) {
        let (a, b) = (self.index(from), self.index(to));
        (
            self.bad[b] - self.bad[a],
            self.eligible[b] - self.eligible[a],
        )
    }

    /// Burn rate of the window `[end − window, end)`; 0 without eligible data.
    pub fn rate(&self, end: Micros, window: Micros, target: f64) -> f64 {
        let (a, b) = (self.index(end - window), self.index(end));
        let eligible = self.eligible[b] - self.eligible[a];
        if eligible <= 0.0 {
            return 0.0;
        }
        (self.bad[b] - self.bad[a]) / eligible / (1.0 - target)
    }
}

/// A burn-rate alert changing state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurnAlert {
    /// `<service>:<slo>:burn-<rule>:<instant it started firing>`; the resolution carries the same.
    pub id: String,
    pub service: String,
    pub slo: String,
    pub rule: &'static str,
    /// `firing` or `resolved`.
    pub state: &'static str,
    pub threshold: f64,
    pub long_window_burn_rate: f64,
    pub short_window_burn_rate: f64,
    #[serde(serialize_with = "rfc3339")]
    pub at: Micros,
}

fn rfc3339<S: serde::Serializer>(t: &Micros, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::model::format_rfc3339(*t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_days_gives_the_workbook_thresholds() {
        let r = rules(30 * 24 * HOUR);
        let thresholds: Vec<f64> = r
            .iter()
            .map(|r| (r.threshold * 10.0).round() / 10.0)
            .collect();
        assert_eq!(thresholds, [14.4, 6.0, 3.0, 1.0]);
        assert_eq!((r[0].long, r[0].short), (HOUR, 5 * MINUTE));
        assert_eq!((r[3].long, r[3].short), (72 * HOUR, 6 * HOUR));
    }

    #[test]
    fn other_periods_keep_the_budget_shares() {
        let r = rules(7 * 24 * HOUR);
        assert!((r[0].threshold - 0.02 * 168.0).abs() < 1e-9);
    }

    #[test]
    fn burn_rate_is_bad_fraction_over_allowed_fraction() {
        // 60 one-minute cells, the last 6 all bad: over the last 10 minutes 60% bad; at 99.9%
        // that burns 600x.
        let cells: Vec<(f64, f64)> = (0..60)
            .map(|i| if i >= 54 { (60.0, 60.0) } else { (0.0, 60.0) })
            .collect();
        let s = Series::new(0, MINUTE, &cells);
        assert!((s.rate(60 * MINUTE, 10 * MINUTE, 0.999) - 600.0).abs() < 1e-6);
        assert!((s.rate(60 * MINUTE, 60 * MINUTE, 0.999) - 100.0).abs() < 1e-6);
        assert_eq!(s.rate(30 * MINUTE, 10 * MINUTE, 0.999), 0.0);
    }
}

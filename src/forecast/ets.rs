//! The exponential-smoothing (ETS) state-space family of Hyndman et al. (2008): additive or
//! multiplicative errors, no, additive or damped trend, and no, additive or multiplicative
//! season. This file holds the models themselves: the recursions, the point forecasts and the
//! prediction intervals. Estimation and the choice within the family are in
//! [`super::ets_fit`].
//!
//! The family is the "restricted" one of R's `forecast::ets` and statsforecast's `AutoETS`
//! (models with infinite forecast variance are left out: additive errors with a multiplicative
//! season), without multiplicative trends (statsforecast's default).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    Additive,
    Multiplicative,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrendType {
    None,
    Additive,
    /// An additive trend damped by `phi` each step.
    Damped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeasonType {
    None,
    Additive,
    Multiplicative,
}

/// One member of the family, with its season length (1 when it has no season).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Spec {
    pub error: ErrorType,
    pub trend: TrendType,
    pub season: SeasonType,
    pub period: usize,
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = match self.error {
            ErrorType::Additive => "A",
            ErrorType::Multiplicative => "M",
        };
        let t = match self.trend {
            TrendType::None => "N",
            TrendType::Additive => "A",
            TrendType::Damped => "Ad",
        };
        let s = match self.season {
            SeasonType::None => "N",
            SeasonType::Additive => "A",
            SeasonType::Multiplicative => "M",
        };
        write!(f, "ets({e},{t},{s})")?;
        if self.seasonal() {
            write!(f, "(m={})", self.period)?;
        }
        Ok(())
    }
}

impl Spec {
    /// Every admissible member for season length `period` (1: non-seasonal members only);
    /// multiplicative errors and seasons only for positive data.
    pub fn family(period: usize, positive: bool) -> Vec<Spec> {
        let mut out = Vec::new();
        let seasons: &[SeasonType] = if period > 1 {
            &[
                SeasonType::None,
                SeasonType::Additive,
                SeasonType::Multiplicative,
            ]
        } else {
            &[SeasonType::None]
        };
        for error in [ErrorType::Additive, ErrorType::Multiplicative] {
            for trend in [TrendType::None, TrendType::Additive, TrendType::Damped] {
                for &season in seasons {
                    let multiplicative =
                        error == ErrorType::Multiplicative || season == SeasonType::Multiplicative;
                    // Additive errors with a multiplicative season have infinite variance.
                    let restricted =
                        error == ErrorType::Additive && season == SeasonType::Multiplicative;
                    if restricted || (multiplicative && !positive) {
                        continue;
                    }
                    out.push(Spec {
                        error,
                        trend,
                        season,
                        period: if season == SeasonType::None {
                            1
                        } else {
                            period
                        },
                    });
                }
            }
        }
        out
    }

    pub fn seasonal(&self) -> bool {
        self.season != SeasonType::None
    }

    pub fn trended(&self) -> bool {
        self.trend != TrendType::None
    }

    /// Smoothing parameters estimated: alpha, then beta, gamma and phi where they apply.
    pub fn parameter_count(&self) -> usize {
        1 + self.trended() as usize
            + self.seasonal() as usize
            + (self.trend == TrendType::Damped) as usize
    }

    /// Initial states estimated: the level, the trend, and all seasonal states but the last
    /// (which the others determine: additive ones sum to 0, multiplicative ones to `m`).
    pub fn state_count(&self) -> usize {
        1 + self.trended() as usize + if self.seasonal() { self.period - 1 } else { 0 }
    }

    /// The fewest observations the member is fitted on: two full seasons, or a few points.
    pub fn min_len(&self) -> usize {
        let estimated = self.parameter_count() + self.state_count() + 1;
        let seasons = if self.seasonal() { 2 * self.period } else { 0 };
        (estimated + 4).max(seasons + 2)
    }
}

/// Smoothing parameters in the error-correction form (`beta` and `gamma` multiply the error).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    /// 1 for an undamped trend.
    pub phi: f64,
}

/// The states at one time: level, trend, and the last `m` seasonal states, the one the next
/// observation uses first.
#[derive(Debug, Clone, PartialEq)]
pub struct States {
    pub level: f64,
    pub trend: f64,
    pub season: Vec<f64>,
}

/// What one pass over a series gives: the fit criteria and the states after the last point.
#[derive(Debug, Clone)]
pub struct Pass {
    /// Sum of squared one-step errors (relative errors for multiplicative-error models).
    pub sse: f64,
    /// Sum of `ln |one-step forecast|`: the likelihood's Jacobian term for multiplicative
    /// errors.
    pub sum_log_forecast: f64,
    pub end: States,
}

impl Spec {
    /// The one-step forecast from `s`, and the damped level-plus-trend it is built on.
    fn one_step(&self, s: &States, phi: f64) -> (f64, f64) {
        let base = s.level + phi * s.trend;
        let mean = match self.season {
            SeasonType::None => base,
            SeasonType::Additive => base + s.season[0],
            SeasonType::Multiplicative => base * s.season[0],
        };
        (mean, base)
    }

    /// Moves the states one step on, given the error of that step (absolute for additive
    /// errors, relative for multiplicative ones). Hyndman et al. (2008), tables 2.2 and 2.3.
    fn update(&self, s: &mut States, p: &Params, mean: f64, base: f64, error: f64) {
        let seasonal = if self.seasonal() { s.season[0] } else { 0.0 };
        let trend = p.phi * s.trend;
        let (level, new_trend, new_season) = match (self.error, self.season) {
            (ErrorType::Additive, SeasonType::Multiplicative) => (
                base + p.alpha * error / seasonal,
                trend + p.beta * error / seasonal,
                seasonal + p.gamma * error / base,
            ),
            (ErrorType::Additive, _) => (
                base + p.alpha * error,
                trend + p.beta * error,
                seasonal + p.gamma * error,
            ),
            (ErrorType::Multiplicative, SeasonType::Multiplicative) => (
                base * (1.0 + p.alpha * error),
                trend + p.beta * base * error,
                seasonal * (1.0 + p.gamma * error),
            ),
            (ErrorType::Multiplicative, _) => (
                base + p.alpha * mean * error,
                trend + p.beta * mean * error,
                seasonal + p.gamma * mean * error,
            ),
        };
        s.level = level;
        if self.trended() {
            s.trend = new_trend;
        }
        if self.seasonal() {
            s.season.rotate_left(1);
            let last = s.season.len() - 1;
            s.season[last] = new_season;
        }
    }

    /// Runs the recursions over `y` from the initial states; `None` when a multiplicative model
    /// meets a forecast at or below zero, or the numbers blow up.
    pub fn filter(&self, p: &Params, initial: &States, y: &[f64]) -> Option<Pass> {
        let mut s = initial.clone();
        let (mut sse, mut sum_log_forecast) = (0.0, 0.0);
        let multiplicative = self.error == ErrorType::Multiplicative;
        for &obs in y {
            let (mean, base) = self.one_step(&s, p.phi);
            let error = if multiplicative {
                if mean <= 1e-10 {
                    return None;
                }
                sum_log_forecast += mean.ln();
                (obs - mean) / mean
            } else {
                obs - mean
            };
            sse += error * error;
            self.update(&mut s, p, mean, base, error);
        }
        (sse.is_finite() && s.level.is_finite()).then_some(Pass {
            sse,
            sum_log_forecast,
            end: s,
        })
    }
}

/// A fitted member: its parameters, the states after the last observation, and the variance
/// of its one-step errors.
#[derive(Debug, Clone)]
pub struct EtsFit {
    pub spec: Spec,
    pub params: Params,
    pub end: States,
    /// Variance of the one-step errors (relative ones for multiplicative errors), over the
    /// degrees of freedom left after the estimated parameters and states.
    pub sigma2: f64,
    /// The corrected Akaike information criterion the member was chosen by.
    pub aicc: f64,
}

/// Sample paths drawn for the intervals of multiplicative-error models.
const PATHS: usize = 1000;

impl EtsFit {
    /// Point forecasts for steps `1..=horizon`: the states carried forward with zero errors.
    pub fn point(&self, horizon: usize) -> Vec<f64> {
        let spec = self.spec;
        let mut out = Vec::with_capacity(horizon);
        let mut phi_h = 0.0;
        let mut phi_pow = 1.0;
        for h in 1..=horizon {
            phi_pow *= self.params.phi;
            phi_h += phi_pow;
            let base = self.end.level + phi_h * self.end.trend;
            let season = || self.end.season[(h - 1) % spec.period];
            out.push(match spec.season {
                SeasonType::None => base,
                SeasonType::Additive => base + season(),
                SeasonType::Multiplicative => base * season(),
            });
        }
        out
    }

    /// Point forecasts with the central interval of `z` standard-normal quantiles each side:
    /// analytic for additive errors (class 1) and non-seasonal multiplicative errors (class 2,
    /// Hyndman et al. 2008, chapter 6), from simulated sample paths otherwise.
    pub fn forecast(&self, horizon: usize, z: f64) -> Vec<(f64, f64, f64)> {
        let mean = self.point(horizon);
        match (self.spec.error, self.spec.season) {
            (ErrorType::Additive, _) => {
                let sigma = self.sigma2.sqrt();
                let c = self.weights(horizon);
                let mut sum_c2: f64 = 0.0;
                (1..=horizon)
                    .map(|h| {
                        let sd = sigma * (1.0 + sum_c2).sqrt();
                        sum_c2 += c[h - 1] * c[h - 1];
                        let m = mean[h - 1];
                        (m, m - z * sd, m + z * sd)
                    })
                    .collect()
            }
            (ErrorType::Multiplicative, SeasonType::None) => {
                // theta_h = mu_h^2 + sigma^2 sum_{j<h} c_j^2 theta_{h-j}; var = (1+s2) theta - mu^2.
                let s2 = self.sigma2;
                let c = self.weights(horizon);
                let mut theta: Vec<f64> = Vec::with_capacity(horizon);
                (1..=horizon)
                    .map(|h| {
                        let m = mean[h - 1];
                        let carried: f64 =
                            (1..h).map(|j| c[j - 1].powi(2) * theta[h - j - 1]).sum();
                        theta.push(m * m + s2 * carried);
                        let sd = ((1.0 + s2) * theta[h - 1] - m * m).max(0.0).sqrt();
                        (m, m - z * sd, m + z * sd)
                    })
                    .collect()
            }
            (ErrorType::Multiplicative, _) => self.simulated(&mean, z),
        }
    }

    /// `c_1 ..= c_n`: the weight of a step's error in the forecast `j` steps later (class 1
    /// and 2 models), with `phi_j = phi + ... + phi^j` summed as it goes (horizons run to
    /// hundreds of steps, and the class-2 recursion reads every weight at every step).
    fn weights(&self, n: usize) -> Vec<f64> {
        let p = self.params;
        let (mut phi_j, mut phi_pow) = (0.0, 1.0);
        (1..=n)
            .map(|j| {
                phi_pow *= p.phi;
                phi_j += phi_pow;
                let trend = match self.spec.trend {
                    TrendType::None => 0.0,
                    _ => phi_j,
                };
                let seasonal_hit = self.spec.seasonal() && j.is_multiple_of(self.spec.period);
                p.alpha + p.beta * trend + if seasonal_hit { p.gamma } else { 0.0 }
            })
            .collect()
    }

    /// Interval bounds as quantiles of sample paths with Gaussian relative errors (a fixed seed,
    /// so the same fit always gives the same bounds).
    fn simulated(&self, mean: &[f64], z: f64) -> Vec<(f64, f64, f64)> {
        let horizon = mean.len();
        let sigma = self.sigma2.sqrt();
        let mut noise = Gaussian::new(0x5eed_5eed_1234_5678);
        let mut paths = vec![0.0; PATHS * horizon];
        for path in 0..PATHS {
            let mut s = self.end.clone();
            for h in 0..horizon {
                let (m, base) = self.spec.one_step(&s, self.params.phi);
                let error = sigma * noise.next();
                paths[h * PATHS + path] = m * (1.0 + error);
                self.spec.update(&mut s, &self.params, m, base, error);
            }
        }
        let share = statrs::function::erf::erfc(z / std::f64::consts::SQRT_2) / 2.0;
        let low = ((PATHS as f64 * share) as usize).min(PATHS - 1);
        let high = PATHS - 1 - low;
        paths
            .chunks_mut(PATHS)
            .zip(mean)
            .map(|(step, &m)| {
                step.sort_unstable_by(f64::total_cmp);
                (m, step[low].min(m), step[high].max(m))
            })
            .collect()
    }
}

/// Standard-normal draws (xorshift64* and Box-Muller): deterministic and dependency-free.
struct Gaussian {
    state: u64,
    spare: Option<f64>,
}

impl Gaussian {
    fn new(seed: u64) -> Gaussian {
        Gaussian {
            state: seed,
            spare: None,
        }
    }

    fn uniform(&mut self) -> f64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let bits = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        (bits as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn next(&mut self) -> f64 {
        if let Some(spare) = self.spare.take() {
            return spare;
        }
        let (u, v) = (self.uniform(), self.uniform());
        let radius = (-2.0 * u.ln()).sqrt();
        let angle = 2.0 * std::f64::consts::PI * v;
        self.spare = Some(radius * angle.sin());
        radius * angle.cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(error: ErrorType, trend: TrendType, season: SeasonType, period: usize) -> Spec {
        Spec {
            error,
            trend,
            season,
            period,
        }
    }

    /// A fitted model without a trend: `alpha` and `gamma` equal, the end states given.
    fn level_and_season(
        spec: Spec,
        smoothing: f64,
        level: f64,
        season: Vec<f64>,
        sigma2: f64,
    ) -> EtsFit {
        EtsFit {
            spec,
            params: Params {
                alpha: smoothing,
                beta: 0.0,
                gamma: smoothing,
                phi: 1.0,
            },
            end: States {
                level,
                trend: 0.0,
                season,
            },
            sigma2,
            aicc: 0.0,
        }
    }

    #[test]
    fn the_restricted_family_has_15_seasonal_members_for_positive_data() {
        assert_eq!(Spec::family(12, true).len(), 15);
        assert_eq!(Spec::family(12, false).len(), 6);
        assert_eq!(Spec::family(1, true).len(), 6);
        assert!(
            Spec::family(4, true).iter().all(
                |s| !(s.error == ErrorType::Additive && s.season == SeasonType::Multiplicative)
            )
        );
    }

    #[test]
    fn names_follow_the_taxonomy() {
        let s = spec(
            ErrorType::Multiplicative,
            TrendType::Damped,
            SeasonType::Multiplicative,
            12,
        );
        assert_eq!(s.to_string(), "ets(M,Ad,M)(m=12)");
        assert_eq!(s.parameter_count(), 4);
        assert_eq!(s.state_count(), 13);
    }

    #[test]
    fn a_season_with_zero_smoothing_repeats_exactly() {
        let s = spec(
            ErrorType::Additive,
            TrendType::None,
            SeasonType::Additive,
            4,
        );
        let fit = level_and_season(s, 0.1, 10.0, vec![1.0, -1.0, 2.0, -2.0], 1.0);
        assert_eq!(fit.point(6), vec![11.0, 9.0, 12.0, 8.0, 11.0, 9.0]);
        let f = fit.forecast(6, 1.0);
        // Widths grow; the error of step 4 feeds the season that step 5 uses.
        assert!(f[0].2 - f[0].1 < f[4].2 - f[4].1);
        assert!((f[0].2 - f[0].0 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn multiplicative_recursions_track_a_proportional_season() {
        let s = spec(
            ErrorType::Multiplicative,
            TrendType::None,
            SeasonType::Multiplicative,
            2,
        );
        let initial = States {
            level: 100.0,
            trend: 0.0,
            season: vec![1.2, 0.8],
        };
        let p = Params {
            alpha: 0.2,
            beta: 0.0,
            gamma: 0.1,
            phi: 1.0,
        };
        let y = [120.0, 80.0, 120.0, 80.0];
        let pass = s.filter(&p, &initial, &y).unwrap();
        assert!(pass.sse < 1e-20);
        assert_eq!(pass.end.season, vec![1.2, 0.8]);
    }

    #[test]
    fn simulated_intervals_hold_their_share_and_are_reproducible() {
        let s = spec(
            ErrorType::Multiplicative,
            TrendType::None,
            SeasonType::Multiplicative,
            2,
        );
        let fit = level_and_season(s, 0.01, 100.0, vec![1.0, 1.0], 0.01);
        let f = fit.forecast(1, 1.645);
        // One step ahead the relative error is N(0, 0.1^2): 90 % within 16.45 %.
        assert!((f[0].2 - 116.45).abs() < 2.0, "{f:?}");
        assert!((f[0].1 - 83.55).abs() < 2.0, "{f:?}");
        assert_eq!(f, fit.forecast(1, 1.645));
    }
}

//! The candidate models. Each fits on a plain slice of values and forecasts a mean with a
//! prediction interval; the backtest chooses between them. The exponential-smoothing family is
//! one candidate: within it the model is chosen by AICc (see [`super::ets_fit`]), so a short
//! monthly series is not decided between a dozen variants by two or three backtest origins.

use super::ets::EtsFit;
use super::mstl::MstlFit;
use serde::Serialize;
use std::fmt;

/// Seasonal ETS members are fitted for seasons up to this length: each seasonal state is a
/// parameter of the joint estimation, so longer seasons (24 hours, 168 hours, 52 weeks) go to
/// MSTL instead, which estimates them by decomposition (as R's `ets` refuses seasons over 24).
pub const MAX_ETS_SEASON: usize = 12;

/// A forecasting method with its season length where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ModelKind {
    /// Repeats the last season: the benchmark every other model must beat.
    SeasonalNaive { period: usize },
    /// The historical mean: what sparse counts (a few P1 tickets a week) are best served by.
    Mean,
    /// The last value carried forward with the average historical slope (random walk with
    /// drift).
    Drift,
    /// The ETS family with season `period` (1: the non-seasonal members), the member chosen by
    /// AICc.
    Ets { period: usize },
    /// MSTL with one or two periods (`long` 0 for one) and an ETS model on the seasonally
    /// adjusted series.
    Mstl { short: usize, long: usize },
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelKind::SeasonalNaive { period } => write!(f, "seasonal_naive(m={period})"),
            ModelKind::Mean => write!(f, "mean"),
            ModelKind::Drift => write!(f, "drift"),
            ModelKind::Ets { period: 1 } => write!(f, "ets"),
            ModelKind::Ets { period } => write!(f, "ets(m={period})"),
            ModelKind::Mstl { short, long: 0 } => write!(f, "mstl(m={short})"),
            ModelKind::Mstl { short, long } => write!(f, "mstl(m={short},{long})"),
        }
    }
}

impl ModelKind {
    /// The fewest observations the model needs to be fitted at all.
    pub fn min_len(self) -> usize {
        match self {
            ModelKind::SeasonalNaive { period } => period + 2,
            ModelKind::Mean | ModelKind::Drift => 3,
            ModelKind::Ets { period: 1 } => 8,
            ModelKind::Ets { period } => 2 * period + 2,
            ModelKind::Mstl { short, long } => 2 * short.max(long) + 2,
        }
    }

    /// The candidates for a series with the given seasonal periods (the primary one first).
    pub fn candidates(periods: &[usize]) -> Vec<ModelKind> {
        let mut out = Vec::new();
        for &period in periods {
            out.push(ModelKind::SeasonalNaive { period });
        }
        if periods.is_empty() {
            out.push(ModelKind::SeasonalNaive { period: 1 });
        }
        // A level or a straight line are their own candidates only where nothing seasonal is:
        // on a seasonal series the ETS family holds them (ETS(A,N,N), ETS(A,A,N)) and is judged
        // by AICc, not by a few lucky backtest origins. Occasional counts keep the mean (see
        // `forecast`).
        if periods.is_empty() {
            out.push(ModelKind::Mean);
            out.push(ModelKind::Drift);
        }
        // Seasons too long for ETS states (hourly, weekly data) are MSTL's alone: a
        // non-seasonal ETS cannot compete there, and it is fitted inside MSTL anyway.
        match periods.first() {
            Some(&period) if period <= MAX_ETS_SEASON => out.push(ModelKind::Ets { period }),
            Some(_) => {}
            None => out.push(ModelKind::Ets { period: 1 }),
        }
        let mut sorted = periods.to_vec();
        sorted.sort_unstable();
        match sorted[..] {
            [] => {}
            [short] => out.push(ModelKind::Mstl { short, long: 0 }),
            [short, .., long] => out.push(ModelKind::Mstl { short, long }),
        }
        out
    }

    /// Fits the model on `y`; `None` when `y` is too short or unsuitable.
    pub fn fit(self, y: &[f64]) -> Option<Fitted> {
        if y.len() < self.min_len() || y.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let model = match self {
            ModelKind::SeasonalNaive { period } => {
                let residuals: Vec<f64> = (period..y.len()).map(|t| y[t] - y[t - period]).collect();
                Model::SeasonalNaive {
                    last_season: y[y.len() - period..].to_vec(),
                    sigma: rms(&residuals),
                }
            }
            ModelKind::Mean => {
                let n = y.len() as f64;
                let mean = y.iter().sum::<f64>() / n;
                let residuals: Vec<f64> = y.iter().map(|v| v - mean).collect();
                Model::Mean {
                    mean,
                    // The spread of a new value around an estimated mean.
                    sd: rms(&residuals) * (1.0 + 1.0 / n).sqrt(),
                }
            }
            ModelKind::Drift => {
                let n = y.len();
                let slope = (y[n - 1] - y[0]) / (n - 1) as f64;
                let residuals: Vec<f64> = (1..n).map(|t| y[t] - y[t - 1] - slope).collect();
                Model::Drift {
                    last: y[n - 1],
                    slope,
                    sigma: rms(&residuals),
                    n,
                }
            }
            ModelKind::Ets { period } => Model::Ets(super::ets_fit::fit_auto(y, period)?),
            ModelKind::Mstl { short, long } => {
                let periods: Vec<usize> = [short, long].into_iter().filter(|p| *p > 1).collect();
                Model::Mstl(super::mstl::fit(y, &periods)?)
            }
        };
        Some(Fitted { kind: self, model })
    }
}

fn rms(residuals: &[f64]) -> f64 {
    if residuals.is_empty() {
        return 0.0;
    }
    (residuals.iter().map(|r| r * r).sum::<f64>() / residuals.len() as f64).sqrt()
}

#[derive(Debug, Clone)]
enum Model {
    SeasonalNaive {
        last_season: Vec<f64>,
        sigma: f64,
    },
    Mean {
        mean: f64,
        sd: f64,
    },
    Drift {
        last: f64,
        slope: f64,
        sigma: f64,
        n: usize,
    },
    Ets(EtsFit),
    Mstl(MstlFit),
}

/// One forecast step: the point forecast and the interval bounds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Step {
    pub mean: f64,
    pub lower: f64,
    pub upper: f64,
}

/// A model fitted to a series, ready to forecast.
#[derive(Debug, Clone)]
pub struct Fitted {
    pub kind: ModelKind,
    model: Model,
}

fn step((mean, lower, upper): (f64, f64, f64)) -> Step {
    Step { mean, lower, upper }
}

impl Fitted {
    /// The fitted model's name: the kind, and for the ETS family the member chosen
    /// (`ets(M,Ad,M)(m=12)`, `mstl(m=24,168)+ets(A,Ad,N)`).
    pub fn name(&self) -> String {
        match &self.model {
            Model::Ets(fit) => fit.spec.to_string(),
            Model::Mstl(fit) => format!("{}+{}", self.kind, fit.adjusted.spec),
            _ => self.kind.to_string(),
        }
    }

    /// Forecasts `horizon` steps with an interval of `z` standard deviations each side
    /// (z = 1.645 for 90 %).
    pub fn forecast(&self, horizon: usize, z: f64) -> Vec<Step> {
        let gaussian = |(mean, sd): (f64, f64)| Step {
            mean,
            lower: mean - z * sd,
            upper: mean + z * sd,
        };
        match &self.model {
            Model::SeasonalNaive { last_season, sigma } => {
                let m = last_season.len();
                (0..horizon)
                    .map(|h| {
                        let cycles = (h / m + 1) as f64;
                        gaussian((last_season[h % m], sigma * cycles.sqrt()))
                    })
                    .collect()
            }
            Model::Mean { mean, sd } => (0..horizon).map(|_| gaussian((*mean, *sd))).collect(),
            Model::Drift {
                last,
                slope,
                sigma,
                n,
            } => (1..=horizon)
                .map(|h| {
                    let h = h as f64;
                    let sd = sigma * (h * (1.0 + h / (*n as f64 - 1.0))).sqrt();
                    gaussian((last + slope * h, sd))
                })
                .collect(),
            Model::Ets(fit) => fit.forecast(horizon, z).into_iter().map(step).collect(),
            Model::Mstl(fit) => fit.forecast(horizon, z).into_iter().map(step).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasonal_naive_repeats_the_last_season_with_widening_intervals() {
        let y = [1.0, 2.0, 3.0, 1.5, 2.5, 3.5];
        let f = ModelKind::SeasonalNaive { period: 3 }
            .fit(&y)
            .unwrap()
            .forecast(6, 1.0);
        let means: Vec<f64> = f.iter().map(|s| s.mean).collect();
        assert_eq!(means, [1.5, 2.5, 3.5, 1.5, 2.5, 3.5]);
        // sigma is 0.5 (every residual is 0.5); the second cycle widens by sqrt(2).
        assert!((f[0].upper - f[0].mean - 0.5).abs() < 1e-12);
        assert!((f[3].upper - f[3].mean - 0.5 * 2f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn drift_extends_the_line_through_first_and_last() {
        let y = [10.0, 12.0, 13.0, 16.0];
        let f = ModelKind::Drift.fit(&y).unwrap().forecast(2, 1.645);
        assert!((f[0].mean - 18.0).abs() < 1e-12);
        assert!((f[1].mean - 20.0).abs() < 1e-12);
    }

    #[test]
    fn the_ets_family_names_the_member_it_chose() {
        let y: Vec<f64> = (0..40).map(|t| 5.0 + (t % 4) as f64).collect();
        let fitted = ModelKind::Ets { period: 4 }.fit(&y).unwrap();
        assert!(fitted.name().starts_with("ets("), "{}", fitted.name());
        assert!(fitted.name().ends_with("(m=4)"), "{}", fitted.name());
    }

    #[test]
    fn hourly_series_get_mstl_and_no_ets_of_their_own() {
        let kinds = ModelKind::candidates(&[24, 168]);
        assert!(kinds.contains(&ModelKind::Mstl {
            short: 24,
            long: 168
        }));
        assert!(!kinds.iter().any(|k| matches!(k, ModelKind::Ets { .. })));
        assert!(ModelKind::candidates(&[]).contains(&ModelKind::Ets { period: 1 }));
        assert!(ModelKind::candidates(&[12]).contains(&ModelKind::Ets { period: 12 }));
    }
}

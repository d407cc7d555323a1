//! The candidate models. Each fits on a plain slice of values and forecasts a mean with a
//! Gaussian prediction interval; the backtest chooses between them.

use super::ets::{self, EtsFit};
use serde::Serialize;
use std::fmt;

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
    /// Holt's linear method with a damped trend, ETS(A,Ad,N).
    DampedTrend,
    /// Holt's linear method, ETS(A,A,N): the trend goes on, which is what a disk filling at a
    /// steady rate does.
    LinearTrend,
    /// Additive Holt-Winters, damped ETS(A,Ad,A) or linear ETS(A,A,A).
    HoltWinters { period: usize, damped: bool },
    /// Holt-Winters on the logarithm of the series: multiplicative season and growth, for
    /// positive series whose swing grows with their level.
    LogHoltWinters { period: usize, damped: bool },
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelKind::SeasonalNaive { period } => write!(f, "seasonal_naive(m={period})"),
            ModelKind::Mean => write!(f, "mean"),
            ModelKind::Drift => write!(f, "drift"),
            ModelKind::DampedTrend => write!(f, "damped_trend"),
            ModelKind::LinearTrend => write!(f, "linear_trend"),
            ModelKind::HoltWinters { period, damped } => {
                let d = if *damped { "_damped" } else { "" };
                write!(f, "holt_winters{d}(m={period})")
            }
            ModelKind::LogHoltWinters { period, damped } => {
                let d = if *damped { "_damped" } else { "" };
                write!(f, "holt_winters{d}_log(m={period})")
            }
        }
    }
}

impl ModelKind {
    /// The fewest observations the model needs to be fitted at all.
    pub fn min_len(self) -> usize {
        match self {
            ModelKind::SeasonalNaive { period } => period + 2,
            ModelKind::Mean | ModelKind::Drift => 3,
            ModelKind::DampedTrend | ModelKind::LinearTrend => 6,
            ModelKind::HoltWinters { period, .. } | ModelKind::LogHoltWinters { period, .. } => {
                2 * period + 2
            }
        }
    }

    /// The candidates for a series with the given seasonal periods.
    pub fn candidates(periods: &[usize], positive: bool) -> Vec<ModelKind> {
        let mut out = Vec::new();
        for &period in periods {
            out.push(ModelKind::SeasonalNaive { period });
        }
        if periods.is_empty() {
            out.push(ModelKind::SeasonalNaive { period: 1 });
        }
        out.push(ModelKind::Mean);
        out.push(ModelKind::Drift);
        out.push(ModelKind::DampedTrend);
        out.push(ModelKind::LinearTrend);
        for &period in periods {
            for damped in [true, false] {
                out.push(ModelKind::HoltWinters { period, damped });
                if positive {
                    out.push(ModelKind::LogHoltWinters { period, damped });
                }
            }
        }
        out
    }

    /// Fits the model on `y`; `None` when `y` is too short or unsuitable (e.g. a log model on
    /// a series with zeros).
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
            ModelKind::DampedTrend => Model::Ets(ets::fit(y, 0, true)?),
            ModelKind::LinearTrend => Model::Ets(ets::fit(y, 0, false)?),
            ModelKind::HoltWinters { period, damped } => Model::Ets(ets::fit(y, period, damped)?),
            ModelKind::LogHoltWinters { period, damped } => {
                if y.iter().any(|v| *v <= 0.0) {
                    return None;
                }
                let logs: Vec<f64> = y.iter().map(|v| v.ln()).collect();
                Model::LogEts(ets::fit(&logs, period, damped)?)
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
    LogEts(EtsFit),
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

impl Fitted {
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
            Model::Ets(fit) => fit.forecast(horizon).into_iter().map(gaussian).collect(),
            // The interval bounds are quantiles, so they transform exactly; the back-transformed
            // mean is the median of the forecast distribution.
            Model::LogEts(fit) => fit
                .forecast(horizon)
                .into_iter()
                .map(|(mean, sd)| Step {
                    mean: mean.exp(),
                    lower: (mean - z * sd).exp(),
                    upper: (mean + z * sd).exp(),
                })
                .collect(),
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
    fn the_log_model_refuses_non_positive_series() {
        let y: Vec<f64> = (0..40).map(|t| (t % 4) as f64).collect();
        let (period, damped) = (4, true);
        assert!(
            ModelKind::LogHoltWinters { period, damped }
                .fit(&y)
                .is_none()
        );
        assert!(ModelKind::HoltWinters { period, damped }.fit(&y).is_some());
    }
}

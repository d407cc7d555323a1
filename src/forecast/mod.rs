//! Forecasting and capacity planning: pure functions from a series to a forecast, and from a
//! forecast to a capacity plan. No I/O here; `crate::planner` feeds it from the history.
//!
//! - [`series`]: regular series from samples (gaps filled and counted) and season periods;
//! - [`models`]: the candidates: seasonal naive, mean, drift, the ETS family, MSTL;
//! - [`ets`]: the exponential-smoothing state-space models, their forecasts and intervals;
//! - [`ets_fit`]: joint estimation of parameters and initial states, choice by AICc;
//! - [`mstl`]: several seasonal periods by MSTL decomposition with ETS on the adjusted series;
//! - [`backtest`]: rolling-origin MASE / sMAPE / interval coverage and the choice of model;
//! - [`plan`]: exhaustion dates, headroom, recommended capacity, risk, growth what-ifs;
//! - [`chart`]: the SVG a capacity report shows;
//! - [`document`]: the JSON shapes of the API and the CLI.

pub mod backtest;
pub mod chart;
pub mod document;
pub mod ets;
pub mod ets_fit;
pub mod models;
pub mod mstl;
pub mod plan;
pub mod series;

pub use backtest::{Accuracy, CandidateScore};
pub use document::{ForecastDocument, PlanDocument};
pub use models::ModelKind;
pub use plan::{Plan, Risk, TimedStep};
pub use series::Series;

use statrs::distribution::{ContinuousCDF, Normal};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ForecastError {
    #[error("{0}")]
    Input(String),
    #[error(
        "the series has {len} points: too short to backtest any model over {horizon} steps (needs at least {needed})"
    )]
    TooShort {
        len: usize,
        horizon: usize,
        needed: usize,
    },
}

/// How to forecast one series.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastOptions {
    /// Steps to forecast.
    pub horizon: usize,
    /// Seasonal periods to try, in steps; empty: the defaults for the series' step.
    pub periods: Vec<usize>,
    /// Nominal coverage of the prediction interval, e.g. 0.9.
    pub interval: f64,
    /// Most rolling origins in the backtest.
    pub max_origins: usize,
}

impl Default for ForecastOptions {
    fn default() -> Self {
        ForecastOptions {
            horizon: 24,
            periods: Vec::new(),
            interval: 0.9,
            max_origins: 8,
        }
    }
}

/// A forecast with the evidence of how good its model is.
#[derive(Debug, Clone)]
pub struct Forecast {
    pub model: ModelKind,
    /// The fitted model's name, with the ETS member chosen (`ets(M,Ad,M)(m=12)`).
    pub model_name: String,
    pub interval: f64,
    pub steps: Vec<TimedStep>,
    pub accuracy: Accuracy,
    /// Seasonal naive on the same backtest.
    pub benchmark: Option<Accuracy>,
    pub candidates: Vec<CandidateScore>,
    pub periods: Vec<usize>,
}

/// The standard-normal quantile for a central interval of `coverage`.
pub fn z_for(coverage: f64) -> f64 {
    let normal = Normal::standard();
    normal.inverse_cdf(0.5 + coverage.clamp(0.5, 0.999) / 2.0)
}

/// The backtest origins and the candidates that can be fitted at every one of them. Origins
/// leave enough training data for the most demanding candidate when that still gives at least
/// two origins; otherwise the candidates that need the most data drop out, one by one.
fn plan_origins(
    len: usize,
    horizon: usize,
    season: usize,
    max_origins: usize,
    candidates: &[ModelKind],
) -> (backtest::Origins, Vec<ModelKind>) {
    let mut needs: Vec<usize> = candidates.iter().map(|k| k.min_len()).collect();
    needs.sort_unstable_by(|a, b| b.cmp(a));
    needs.dedup();
    let plan = |min_train: usize| {
        backtest::Origins::plan(
            len,
            horizon,
            season,
            max_origins.max(1),
            min_train.max(season + 2),
        )
    };
    let chosen = needs
        .iter()
        .copied()
        .find(|&need| plan(need).train_ends.len() >= 2)
        .or_else(|| {
            needs
                .iter()
                .copied()
                .find(|&need| !plan(need).train_ends.is_empty())
        })
        .unwrap_or(usize::MAX);
    let origins = if chosen == usize::MAX {
        plan(len)
    } else {
        plan(chosen)
    };
    let kept = candidates
        .iter()
        .copied()
        .filter(|k| k.min_len() <= chosen)
        .collect();
    (origins, kept)
}

/// Chooses a model for `series` by backtest and forecasts `options.horizon` steps.
pub fn forecast(series: &Series, options: &ForecastOptions) -> Result<Forecast, ForecastError> {
    if !(0.5..1.0).contains(&options.interval) {
        return Err(ForecastError::Input(
            "the interval must be between 0.5 and 1 (e.g. 0.9)".into(),
        ));
    }
    if options.horizon == 0 {
        return Err(ForecastError::Input(
            "the horizon must be at least 1 step".into(),
        ));
    }
    let y = &series.values;
    let periods: Vec<usize> = if options.periods.is_empty() {
        series::default_periods(series.step, y.len())
    } else {
        options
            .periods
            .iter()
            .copied()
            .filter(|&p| p > 1 && 2 * p < y.len())
            .collect()
    };
    let season = periods.first().copied().unwrap_or(1);
    let mut all_candidates = ModelKind::candidates(&periods);
    if backtest::is_intermittent(y) {
        // Occasional counts have no trend or smooth season to extrapolate: only levels.
        all_candidates.retain(|k| matches!(k, ModelKind::SeasonalNaive { .. }));
        all_candidates.push(ModelKind::Mean);
    }
    let (origins, candidates) = plan_origins(
        y.len(),
        options.horizon,
        season,
        options.max_origins,
        &all_candidates,
    );
    let min_train = candidates.iter().map(|k| k.min_len()).max().unwrap_or(3);
    let z = z_for(options.interval);
    let selection =
        backtest::select(y, &candidates, &origins, season, z).ok_or(ForecastError::TooShort {
            len: y.len(),
            horizon: origins.horizon,
            needed: min_train + origins.horizon,
        })?;
    // A series that has never been negative (usage, counts) is not forecast below zero.
    let floor = if y.iter().all(|v| *v >= 0.0) {
        0.0
    } else {
        f64::NEG_INFINITY
    };
    // The model's interval, widened or narrowed by what its backtest errors showed.
    let scale = selection.accuracy.interval_scale;
    let steps = selection
        .fitted
        .forecast(options.horizon, z)
        .into_iter()
        .enumerate()
        .map(|(i, s)| TimedStep {
            time: series.time(y.len() + i),
            mean: s.mean.max(floor),
            lower: (s.mean - scale * (s.mean - s.lower)).max(floor),
            upper: (s.mean + scale * (s.upper - s.mean)).max(floor),
        })
        .collect();
    Ok(Forecast {
        model: selection.fitted.kind,
        model_name: selection.fitted.name(),
        interval: options.interval,
        steps,
        accuracy: selection.accuracy,
        benchmark: selection.benchmark,
        candidates: selection.candidates,
        periods,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_90_percent_quantile_is_1_645() {
        assert!((z_for(0.9) - 1.6449).abs() < 1e-3);
    }

    #[test]
    fn bad_options_are_refused_with_a_reason() {
        let s = Series::regularize(&[(0, 1.0), (1, 2.0), (2, 3.0)], 1).unwrap();
        let bad = ForecastOptions {
            interval: 1.5,
            ..ForecastOptions::default()
        };
        assert!(
            forecast(&s, &bad)
                .unwrap_err()
                .to_string()
                .contains("interval")
        );
        let err = forecast(&s, &ForecastOptions::default()).unwrap_err();
        assert!(matches!(err, ForecastError::TooShort { .. }), "{err}");
    }
}

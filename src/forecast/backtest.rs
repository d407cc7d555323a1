//! Rolling-origin evaluation and model selection.
//!
//! Every candidate is fitted at the same origins (the series cut short by one backtest horizon,
//! then by further half-horizons) and forecasts the held-out stretch after each. The candidate
//! with the lowest MASE wins; ties go to the earlier, simpler candidate, and seasonal naive comes
//! first, so a model that does not beat seasonal naive is never served in its place.

use super::models::{Fitted, ModelKind, Step};
use serde::Serialize;

/// Out-of-sample accuracy over the backtest origins.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Accuracy {
    /// Mean absolute scaled error: the MAE over the in-sample MAE of seasonal naive (lag = the
    /// primary season). Below 1 beats seasonal naive's in-sample one-step error.
    pub mase: f64,
    /// Symmetric MAPE in percent (0-200).
    pub smape: f64,
    /// Root mean squared scaled error (the M5 competition's measure): like MASE, but squared,
    /// so a forecast of zeros cannot win on a series of occasional counts.
    pub rmsse: f64,
    /// Share of held-out points inside the model's own prediction interval (before the
    /// calibration below).
    pub coverage: f64,
    /// What the served interval's half-widths are multiplied by: the smallest factor that puts
    /// the nominal share of the backtest's held-out points inside (split-conformal calibration
    /// on the rolling origins, as statsforecast's `ConformalIntervals` does). Above 1: the model
    /// was over-confident on this series.
    pub interval_scale: f64,
    /// How many forecast origins the figures average over.
    pub origins: usize,
    /// Steps forecast from each origin.
    pub horizon: usize,
}

/// Where to cut the series for the backtest.
#[derive(Debug, Clone, PartialEq)]
pub struct Origins {
    /// Training lengths, one per origin.
    pub train_ends: Vec<usize>,
    pub horizon: usize,
}

impl Origins {
    /// Up to `max_origins` origins, spaced by half a backtest horizon, each leaving at least
    /// `min_train` points to fit on. The backtest horizon is the requested horizon, capped at a
    /// fifth of the series (but at least one season) so that several origins fit.
    pub fn plan(
        n: usize,
        horizon: usize,
        season: usize,
        max_origins: usize,
        min_train: usize,
    ) -> Origins {
        let horizon = horizon.min((n / 5).max(season)).max(1);
        let step = (horizon / 2).max(1);
        let train_ends = (0..max_origins)
            .map_while(|i| {
                let end = n.checked_sub(horizon + i * step)?;
                (end >= min_train).then_some(end)
            })
            .collect();
        Origins {
            train_ends,
            horizon,
        }
    }
}

/// In-sample MAE of seasonal naive with lag `m`: the MASE denominator.
pub fn mase_scale(train: &[f64], m: usize) -> f64 {
    naive_error(train, m, f64::abs)
}

/// In-sample mean squared error of seasonal naive with lag `m`: the RMSSE denominator.
fn rmsse_scale(train: &[f64], m: usize) -> f64 {
    naive_error(train, m, |e| e * e)
}

fn naive_error(train: &[f64], m: usize, loss: fn(f64) -> f64) -> f64 {
    let m = m.max(1);
    if train.len() <= m {
        return 1.0;
    }
    let total: f64 = (m..train.len())
        .map(|t| loss(train[t] - train[t - m]))
        .sum();
    let scale = total / (train.len() - m) as f64;
    if scale > 0.0 { scale } else { 1.0 }
}

/// A series of occasional counts: more than 30 % zeros. MAE-based measures reward forecasting
/// zero there, so selection uses RMSSE instead (as the M5 competition did).
pub fn is_intermittent(y: &[f64]) -> bool {
    y.iter().filter(|v| **v == 0.0).count() as f64 > 0.3 * y.len() as f64
}

/// How far outside (above 1) or inside its interval a held-out value fell: the error over the
/// interval's half-width on that side.
fn conformity(actual: f64, f: &Step) -> f64 {
    let (error, half_width) = if actual >= f.mean {
        (actual - f.mean, f.upper - f.mean)
    } else {
        (f.mean - actual, f.mean - f.lower)
    };
    match (error, half_width) {
        (e, _) if e <= 0.0 => 0.0,
        (_, w) if w <= 0.0 => f64::INFINITY,
        (e, w) => e / w,
    }
}

/// The split-conformal factor: the `level` quantile of the conformity scores with the
/// finite-sample correction (`ceil((n + 1) level)`-th smallest), 1 without scores.
fn interval_scale(mut scores: Vec<f64>, level: f64) -> f64 {
    if scores.is_empty() {
        return 1.0;
    }
    scores.sort_unstable_by(f64::total_cmp);
    let n = scores.len();
    let rank = (((n + 1) as f64 * level).ceil() as usize).clamp(1, n);
    let scale = scores[rank - 1];
    if scale.is_finite() {
        scale.max(1e-3)
    } else {
        1.0
    }
}

/// Backtests `kind` on `y`; `None` when it cannot be fitted at every origin.
pub fn evaluate(
    kind: ModelKind,
    y: &[f64],
    origins: &Origins,
    season: usize,
    z: f64,
) -> Option<Accuracy> {
    if origins.train_ends.is_empty() {
        return None;
    }
    let (mut mase, mut smape, mut rmsse) = (0.0, 0.0, 0.0);
    let (mut inside, mut points) = (0usize, 0usize);
    let mut scores = Vec::new();
    for &end in &origins.train_ends {
        let train = &y[..end];
        let actual = &y[end..(end + origins.horizon).min(y.len())];
        let forecast = kind.fit(train)?.forecast(actual.len(), z);
        let scale = mase_scale(train, season);
        let mut abs_error = 0.0;
        let mut squared_error = 0.0;
        let mut origin_smape = 0.0;
        for (a, f) in actual.iter().zip(&forecast) {
            abs_error += (a - f.mean).abs();
            squared_error += (a - f.mean) * (a - f.mean);
            let denominator = a.abs() + f.mean.abs();
            if denominator > 0.0 {
                origin_smape += 200.0 * (a - f.mean).abs() / denominator;
            }
            if (f.lower..=f.upper).contains(a) {
                inside += 1;
            }
            scores.push(conformity(*a, f));
        }
        mase += abs_error / actual.len() as f64 / scale;
        rmsse += (squared_error / actual.len() as f64 / rmsse_scale(train, season)).sqrt();
        smape += origin_smape / actual.len() as f64;
        points += actual.len();
    }
    let count = origins.train_ends.len();
    Some(Accuracy {
        mase: mase / count as f64,
        smape: smape / count as f64,
        rmsse: rmsse / count as f64,
        coverage: inside as f64 / points as f64,
        interval_scale: interval_scale(
            scores,
            statrs::function::erf::erf(z / std::f64::consts::SQRT_2),
        ),
        origins: count,
        horizon: origins.horizon,
    })
}

/// One candidate's backtest result (`None`: could not be fitted at every origin).
#[derive(Debug, Clone, Serialize)]
pub struct CandidateScore {
    pub model: String,
    pub accuracy: Option<Accuracy>,
}

/// The chosen model, fitted on the whole series.
#[derive(Debug, Clone)]
pub struct Selection {
    pub fitted: Fitted,
    pub accuracy: Accuracy,
    /// Seasonal naive's backtest on the same origins: the bar the chosen model cleared.
    pub benchmark: Option<Accuracy>,
    pub candidates: Vec<CandidateScore>,
}

/// Backtests every candidate and fits the winner on all of `y`: the lowest MASE wins, or the
/// lowest RMSSE on an intermittent series. `None` when no candidate could be backtested (the
/// series is too short).
pub fn select(
    y: &[f64],
    candidates: &[ModelKind],
    origins: &Origins,
    season: usize,
    z: f64,
) -> Option<Selection> {
    let scored: Vec<(ModelKind, Option<Accuracy>)> = candidates
        .iter()
        .map(|&kind| (kind, evaluate(kind, y, origins, season, z)))
        .collect();
    let benchmark = scored
        .iter()
        .find(|(kind, _)| matches!(kind, ModelKind::SeasonalNaive { .. }))
        .and_then(|(_, a)| *a);
    let mut ranked: Vec<(ModelKind, Accuracy)> = scored
        .iter()
        .filter_map(|(kind, a)| a.map(|a| (*kind, a)))
        .collect();
    // A stable sort keeps the earlier (simpler) candidate first on a tie.
    let key: fn(&Accuracy) -> f64 = if is_intermittent(y) {
        |a| a.rmsse
    } else {
        |a| a.mase
    };
    ranked.sort_by(|a, b| key(&a.1).total_cmp(&key(&b.1)));
    let candidates_out = scored
        .iter()
        .map(|(kind, accuracy)| CandidateScore {
            model: kind.to_string(),
            accuracy: *accuracy,
        })
        .collect();
    // The winner normally fits on the full series; if it does not, the runner-up serves.
    ranked
        .into_iter()
        .find_map(|(kind, accuracy)| {
            Some(Selection {
                fitted: kind.fit(y)?,
                accuracy,
                benchmark,
                candidates: Vec::new(),
            })
        })
        .map(|mut s| {
            s.candidates = candidates_out;
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_leave_enough_training_data() {
        let o = Origins::plan(100, 30, 4, 5, 40);
        assert_eq!(o.horizon, 20); // capped at a fifth of the series
        assert_eq!(o.train_ends, vec![80, 70, 60, 50, 40]);
        let short = Origins::plan(30, 10, 12, 5, 20);
        assert_eq!(short.horizon, 10);
        assert_eq!(short.train_ends, vec![20]);
    }

    #[test]
    fn the_interval_scale_is_the_conformal_quantile() {
        // Ten scores 0.1 .. 1.0: the 90 % quantile with the (n + 1) correction is the 10th.
        let scores: Vec<f64> = (1..=10).map(|i| i as f64 / 10.0).collect();
        assert_eq!(interval_scale(scores.clone(), 0.9), 1.0);
        assert_eq!(interval_scale(scores, 0.8), 0.9);
        assert_eq!(interval_scale(Vec::new(), 0.9), 1.0);
        let step = Step {
            mean: 10.0,
            lower: 8.0,
            upper: 14.0,
        };
        assert_eq!(conformity(16.0, &step), 1.5);
        assert_eq!(conformity(9.0, &step), 0.5);
    }

    #[test]
    fn the_mase_scale_is_the_in_sample_seasonal_naive_error() {
        assert_eq!(mase_scale(&[1.0, 2.0, 4.0, 3.0], 2), 2.0);
        assert_eq!(mase_scale(&[5.0; 10], 3), 1.0); // a flat series cannot divide by zero
    }

    #[test]
    fn occasional_counts_are_not_forecast_as_zero() {
        // One ticket every few days: MASE would crown a forecast of zeros; RMSSE picks a level.
        let y: Vec<f64> = (0..60)
            .map(|t| if t % 3 == 0 { 1.0 } else { 0.0 })
            .collect();
        let origins = Origins::plan(y.len(), 14, 7, 4, 16);
        let kinds = ModelKind::candidates(&[7]);
        let s = select(&y, &kinds, &origins, 7, 1.645).unwrap();
        let mean = s
            .fitted
            .forecast(14, 1.645)
            .iter()
            .map(|p| p.mean)
            .sum::<f64>()
            / 14.0;
        assert!(
            (mean - 1.0 / 3.0).abs() < 0.15,
            "{:?} forecasts {mean}",
            s.fitted.kind
        );
    }

    #[test]
    fn on_a_pure_season_seasonal_naive_is_kept() {
        // Seasonal naive is exact here: nothing can beat it, so nothing replaces it.
        let y: Vec<f64> = (0..120).map(|t| [3.0, 8.0, 1.0, 6.0][t % 4]).collect();
        let origins = Origins::plan(y.len(), 12, 4, 4, 10);
        let kinds = ModelKind::candidates(&[4]);
        let s = select(&y, &kinds, &origins, 4, 1.645).unwrap();
        assert_eq!(s.fitted.kind, ModelKind::SeasonalNaive { period: 4 });
        assert_eq!(s.accuracy.mase, 0.0);
    }

    #[test]
    fn a_trending_season_picks_a_model_that_beats_seasonal_naive() {
        let y: Vec<f64> = (0..200)
            .map(|t| 100.0 + 0.8 * t as f64 + [0.0, 5.0, -3.0, 9.0, -4.0][t % 5])
            .collect();
        let origins = Origins::plan(y.len(), 20, 5, 4, 12);
        let kinds = ModelKind::candidates(&[5]);
        let s = select(&y, &kinds, &origins, 5, 1.645).unwrap();
        assert!(!matches!(s.fitted.kind, ModelKind::SeasonalNaive { .. }));
        assert!(s.accuracy.mase < s.benchmark.unwrap().mase);
    }
}

//! The JSON shapes of forecasts and plans, shared by the API, the CLI and the `forecasts` table.
//! Times are RFC 3339 strings.

use super::backtest::{Accuracy, CandidateScore};
use super::plan::{Plan, Risk};
use super::{Forecast, Series};
use crate::model::{Micros, format_rfc3339};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PointDocument {
    pub time: String,
    pub mean: f64,
    pub lower: f64,
    pub upper: f64,
}

/// Seasonal naive's backtest on the same origins, next to the chosen model's.
#[derive(Debug, Clone, Serialize)]
pub struct BenchmarkDocument {
    pub model: &'static str,
    pub mase: f64,
    pub smape: f64,
    pub rmsse: f64,
    pub coverage: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeriesDocument {
    pub start: String,
    pub end: String,
    pub step_seconds: i64,
    pub points: usize,
    /// Steps without a sample, filled by linear interpolation.
    pub filled: usize,
    pub periods: Vec<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ForecastDocument {
    pub service: Option<String>,
    pub component: Option<String>,
    pub metric: Option<String>,
    /// The fitted model, with the ETS member chosen (`ets(M,A,M)(m=12)`).
    pub model: String,
    /// The backtest candidate it won as (`ets(m=12)`), as named in `candidates`.
    pub candidate: String,
    pub fitted_at: String,
    pub interval: f64,
    pub points: Vec<PointDocument>,
    pub accuracy: Accuracy,
    pub benchmark: Option<BenchmarkDocument>,
    pub candidates: Vec<CandidateScore>,
    pub series: SeriesDocument,
}

/// Names a forecast belongs to (all `None` for a CSV forecast).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    pub service: Option<String>,
    pub component: Option<String>,
    pub metric: Option<String>,
}

impl ForecastDocument {
    pub fn new(key: &SeriesKey, series: &Series, forecast: &Forecast, fitted_at: Micros) -> Self {
        ForecastDocument {
            service: key.service.clone(),
            component: key.component.clone(),
            metric: key.metric.clone(),
            model: forecast.model_name.clone(),
            candidate: forecast.model.to_string(),
            fitted_at: format_rfc3339(fitted_at),
            interval: forecast.interval,
            points: forecast
                .steps
                .iter()
                .map(|s| PointDocument {
                    time: format_rfc3339(s.time),
                    mean: s.mean,
                    lower: s.lower,
                    upper: s.upper,
                })
                .collect(),
            accuracy: forecast.accuracy,
            benchmark: forecast.benchmark.map(|b| BenchmarkDocument {
                model: "seasonal_naive",
                mase: b.mase,
                smape: b.smape,
                rmsse: b.rmsse,
                coverage: b.coverage,
            }),
            candidates: forecast.candidates.clone(),
            series: SeriesDocument {
                start: format_rfc3339(series.start),
                end: format_rfc3339(series.time(series.values.len().saturating_sub(1))),
                step_seconds: series.step / 1_000_000,
                points: series.values.len(),
                filled: series.filled,
                periods: forecast.periods.clone(),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExhaustionDocument {
    pub expected: Option<String>,
    pub earliest: Option<String>,
    pub latest: Option<String>,
}

/// A what-if applied to a plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GrowthDocument {
    /// 0.2 = +20 % demand.
    pub rate: f64,
    pub from: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanDocument {
    pub service: String,
    pub component: String,
    pub resource: String,
    pub unit: Option<String>,
    pub capacity: f64,
    pub threshold: f64,
    pub current: f64,
    /// When `current` was observed (the last step of the series).
    pub current_at: String,
    pub model: String,
    /// The backtest candidate the model won as, as named in `candidates`.
    pub candidate: String,
    pub exhaustion: Option<ExhaustionDocument>,
    pub headroom: f64,
    pub recommended_capacity: f64,
    pub risk: Risk,
    /// The end of the planning horizon the plan looks over.
    pub horizon_end: String,
    pub accuracy: Accuracy,
    /// Seasonal naive's backtest on the same origins: the bar the model cleared.
    pub benchmark: Option<BenchmarkDocument>,
    /// Every candidate's backtest, the forecast accuracy behind the choice.
    pub candidates: Vec<CandidateScore>,
    pub fitted_at: String,
    pub growth: Option<GrowthDocument>,
}

fn time(t: Option<Micros>) -> Option<String> {
    t.map(format_rfc3339)
}

impl PlanDocument {
    pub fn exhaustion(plan: &Plan) -> Option<ExhaustionDocument> {
        plan.exhaustion.map(|e| ExhaustionDocument {
            expected: time(e.expected),
            earliest: time(e.earliest),
            latest: time(e.latest),
        })
    }
}

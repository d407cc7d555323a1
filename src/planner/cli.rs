//! `slacap forecast` and `slacap plan`: the same documents as the API, as JSON or as text
//! tables.

use crate::forecast::document::SeriesKey;
use crate::forecast::{ForecastDocument, ForecastOptions, PlanDocument, Series, series};
use std::fmt::Write;
use std::path::Path;

/// Output format of the forecasting commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Forecasts a `time,value` CSV with the same model selection as the engine.
pub fn forecast_csv(
    input: &Path,
    horizon: usize,
    season: Vec<usize>,
    interval: f64,
) -> anyhow::Result<ForecastDocument> {
    let text = std::fs::read_to_string(input)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", input.display()))?;
    let (rows, step) =
        series::parse_csv(&text).map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
    let series = Series::from_rows(&rows, step)?;
    let options = ForecastOptions {
        horizon,
        periods: season,
        interval,
        ..ForecastOptions::default()
    };
    let forecast = crate::forecast::forecast(&series, &options)?;
    Ok(ForecastDocument::new(
        &SeriesKey::default(),
        &series,
        &forecast,
        chrono::Utc::now().timestamp_micros(),
    ))
}

fn number(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.4}")
    }
}

/// A forecast as text: what was fitted, how good it was, then one row per step.
pub fn forecast_table(doc: &ForecastDocument) -> String {
    let mut out = String::new();
    let name = [&doc.service, &doc.component, &doc.metric]
        .iter()
        .filter_map(|v| v.as_deref())
        .collect::<Vec<_>>()
        .join(" / ");
    let _ = writeln!(
        out,
        "{}model {}  fitted {}",
        if name.is_empty() {
            String::new()
        } else {
            format!("{name}: ")
        },
        doc.model,
        doc.fitted_at
    );
    let a = &doc.accuracy;
    let _ = writeln!(
        out,
        "backtest: MASE {:.3}  sMAPE {:.2}%  {:.0}% interval coverage {:.1}%  ({} origins x {} steps)",
        a.mase,
        a.smape,
        doc.interval * 100.0,
        a.coverage * 100.0,
        a.origins,
        a.horizon
    );
    if let Some(b) = &doc.benchmark {
        let _ = writeln!(
            out,
            "seasonal naive on the same backtest: MASE {:.3}  sMAPE {:.2}%",
            b.mase, b.smape
        );
    }
    let _ = writeln!(
        out,
        "series: {} points from {} ({} filled)\n",
        doc.series.points, doc.series.start, doc.series.filled
    );
    let _ = writeln!(
        out,
        "{:<22} {:>14} {:>14} {:>14}",
        "time", "mean", "lower", "upper"
    );
    for p in &doc.points {
        let _ = writeln!(
            out,
            "{:<22} {:>14} {:>14} {:>14}",
            p.time,
            number(p.mean),
            number(p.lower),
            number(p.upper)
        );
    }
    out
}

/// Plans as a text table.
pub fn plan_table(plans: &[PlanDocument]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<14} {:<16} {:<16} {:>10} {:>10} {:>10} {:>10} {:<11} {:<11} {:<11} {:>12} {:<8} {:>6}  model",
        "service",
        "component",
        "resource",
        "current",
        "threshold",
        "capacity",
        "headroom",
        "earliest",
        "expected",
        "latest",
        "recommended",
        "risk",
        "MASE"
    );
    let day = |t: Option<&String>| t.map_or("-".to_string(), |t| t[..10.min(t.len())].to_string());
    for p in plans {
        let e = p.exhaustion.as_ref();
        let _ = writeln!(
            out,
            "{:<14} {:<16} {:<16} {:>10} {:>10} {:>10} {:>10} {:<11} {:<11} {:<11} {:>12} {:<8} {:>6.3}  {}",
            p.service,
            p.component,
            p.resource,
            number(p.current),
            number(p.threshold),
            number(p.capacity),
            number(p.headroom),
            day(e.and_then(|e| e.earliest.as_ref())),
            day(e.and_then(|e| e.expected.as_ref())),
            day(e.and_then(|e| e.latest.as_ref())),
            number(p.recommended_capacity),
            p.risk.as_str(),
            p.accuracy.mase,
            p.model
        );
    }
    out
}

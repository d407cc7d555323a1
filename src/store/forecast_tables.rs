//! The `forecasts` and `capacity_plans` tables: every fit's points and plans, partitioned by
//! the day of the fit, so BI can compare what was forecast with what happened.

use super::history::{FileOrigin, PendingFile};
use super::tables::{Table, day_of, f, ts, ts_builder};
use crate::forecast::{ForecastDocument, PlanDocument};
use crate::model::{Micros, parse_rfc3339};
use arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use std::sync::{Arc, LazyLock};

pub(super) static FORECASTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("fitted_at", ts(), false),
        f("service", DataType::Utf8, true),
        f("component", DataType::Utf8, true),
        f("metric", DataType::Utf8, false),
        f("model", DataType::Utf8, false),
        f("time", ts(), false),
        f("mean", DataType::Float64, false),
        f("lower", DataType::Float64, false),
        f("upper", DataType::Float64, false),
        f("interval", DataType::Float64, false),
        f("mase", DataType::Float64, false),
        f("smape", DataType::Float64, false),
        f("coverage", DataType::Float64, false),
        f("origins", DataType::Int32, false),
    ]))
});

pub(super) static CAPACITY_PLANS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("fitted_at", ts(), false),
        f("service", DataType::Utf8, false),
        f("component", DataType::Utf8, false),
        f("resource", DataType::Utf8, false),
        f("capacity", DataType::Float64, false),
        f("threshold", DataType::Float64, false),
        f("current", DataType::Float64, false),
        f("model", DataType::Utf8, false),
        f("exhaustion_expected", ts(), true),
        f("exhaustion_earliest", ts(), true),
        f("exhaustion_latest", ts(), true),
        f("headroom", DataType::Float64, false),
        f("recommended_capacity", DataType::Float64, false),
        f("risk", DataType::Utf8, false),
        f("horizon_end", ts(), false),
        f("mase", DataType::Float64, false),
    ]))
});

fn time(text: &str) -> Micros {
    parse_rfc3339(text).unwrap_or_default()
}

fn forecast_batch(
    fitted_at: Micros,
    docs: &[&ForecastDocument],
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let mut at = ts_builder(0);
    let mut times = ts_builder(0);
    let mut s: Vec<StringBuilder> = (0..4).map(|_| StringBuilder::new()).collect();
    let mut v: Vec<Float64Builder> = (0..7).map(|_| Float64Builder::new()).collect();
    let mut origins = Int32Builder::new();
    for doc in docs {
        for p in &doc.points {
            at.append_value(fitted_at);
            s[0].append_option(doc.service.as_deref());
            s[1].append_option(doc.component.as_deref());
            s[2].append_value(doc.metric.as_deref().unwrap_or("value"));
            s[3].append_value(&doc.model);
            times.append_value(time(&p.time));
            for (b, x) in v.iter_mut().zip([
                p.mean,
                p.lower,
                p.upper,
                doc.interval,
                doc.accuracy.mase,
                doc.accuracy.smape,
                doc.accuracy.coverage,
            ]) {
                b.append_value(x);
            }
            origins.append_value(doc.accuracy.origins as i32);
        }
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(at.finish())];
    columns.extend(s.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    columns.insert(5, Arc::new(times.finish()));
    columns.extend(v.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    columns.push(Arc::new(origins.finish()));
    RecordBatch::try_new(FORECASTS.clone(), columns)
}

fn plan_batch(
    fitted_at: Micros,
    plans: &[PlanDocument],
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let mut at = ts_builder(0);
    let mut s: Vec<StringBuilder> = (0..5).map(|_| StringBuilder::new()).collect();
    let mut v: Vec<Float64Builder> = (0..6).map(|_| Float64Builder::new()).collect();
    let mut e: Vec<TimestampMicrosecondBuilder> = (0..4).map(|_| ts_builder(0)).collect();
    for p in plans {
        at.append_value(fitted_at);
        s[0].append_value(&p.service);
        s[1].append_value(&p.component);
        s[2].append_value(&p.resource);
        s[3].append_value(&p.model);
        s[4].append_value(p.risk.as_str());
        let ex = p.exhaustion.as_ref();
        e[0].append_option(ex.and_then(|x| x.expected.as_deref()).map(time));
        e[1].append_option(ex.and_then(|x| x.earliest.as_deref()).map(time));
        e[2].append_option(ex.and_then(|x| x.latest.as_deref()).map(time));
        e[3].append_value(time(&p.horizon_end));
        for (b, x) in v.iter_mut().zip([
            p.capacity,
            p.threshold,
            p.current,
            p.headroom,
            p.recommended_capacity,
            p.accuracy.mase,
        ]) {
            b.append_value(x);
        }
    }
    let [service, component, resource, model, risk] =
        std::array::from_fn(|i| Arc::new(s[i].finish()) as ArrayRef);
    let [capacity, threshold, current, headroom, recommended, mase] =
        std::array::from_fn(|i| Arc::new(v[i].finish()) as ArrayRef);
    let [expected, earliest, latest, horizon_end] =
        std::array::from_fn(|i| Arc::new(e[i].finish()) as ArrayRef);
    RecordBatch::try_new(
        CAPACITY_PLANS.clone(),
        vec![
            Arc::new(at.finish()),
            service,
            component,
            resource,
            capacity,
            threshold,
            current,
            model,
            expected,
            earliest,
            latest,
            headroom,
            recommended,
            risk,
            horizon_end,
            mase,
        ],
    )
}

/// The files of one fit: its forecasts and plans, in the partition of the fit's day.
pub fn fit_files(
    fitted_at: Micros,
    forecasts: &[&ForecastDocument],
    plans: &[PlanDocument],
) -> Result<Vec<PendingFile>, arrow::error::ArrowError> {
    let origin = FileOrigin::Fit { at: fitted_at };
    let day = day_of(fitted_at);
    let mut files = Vec::new();
    if !forecasts.is_empty() {
        files.push(PendingFile {
            table: Table::Forecasts,
            day,
            origin: origin.clone(),
            batch: forecast_batch(fitted_at, forecasts)?,
        });
    }
    if !plans.is_empty() {
        files.push(PendingFile {
            table: Table::CapacityPlans,
            day,
            origin,
            batch: plan_batch(fitted_at, plans)?,
        });
    }
    Ok(files)
}

//! Forecast, capacity-plan and staffing routes. They read the planner's latest fit; only
//! `POST /api/v1/forecasts/refit` fits anything.

use super::AppState;
use super::error::ApiError;
use crate::forecast::chart::Chart;
use crate::forecast::document::SeriesKey;
use crate::forecast::{ForecastDocument, PlanDocument};
use crate::model::{Micros, format_rfc3339, parse_rfc3339};
use crate::planner::{Book, Entry, Growth, RefitSummary, plans_of};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastParams {
    service: Option<String>,
    component: Option<String>,
    metric: Option<String>,
    /// e.g. `30d`, `72h`; at most the planning horizon.
    horizon: Option<String>,
}

fn fitted(state: &AppState) -> Result<Arc<Book>, ApiError> {
    let book = state.planner.book();
    if book.fitted_at.is_none() {
        return Err(ApiError {
            status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
            message: "no forecasts yet: the first fit has not finished".into(),
        });
    }
    Ok(book)
}

fn matches(key: &SeriesKey, p: &ForecastParams) -> bool {
    let eq = |filter: &Option<String>, value: &Option<String>| {
        filter.is_none() || filter.as_deref() == value.as_deref()
    };
    eq(&p.service, &key.service) && eq(&p.component, &key.component) && eq(&p.metric, &key.metric)
}

/// `GET /api/v1/forecasts`: the forecast of the one series the filters name.
pub async fn forecast(
    State(state): State<AppState>,
    params: Result<Query<ForecastParams>, QueryRejection>,
) -> Result<Json<ForecastDocument>, ApiError> {
    let Query(params) = params?;
    let book = fitted(&state)?;
    let found: Vec<(&SeriesKey, &Entry)> = book
        .entries
        .iter()
        .filter(|(k, _)| matches(k, &params))
        .collect();
    let entry = match found.as_slice() {
        [(_, entry)] => *entry,
        [] => {
            return Err(ApiError::not_found(
                "no forecast for that service / component / metric (see /api/v1/capacity/plans and /api/v1/staffing for what is forecast)",
            ));
        }
        several => {
            let names: Vec<String> = several
                .iter()
                .map(|(k, _)| {
                    format!(
                        "{}/{}/{}",
                        k.service.as_deref().unwrap_or("-"),
                        k.component.as_deref().unwrap_or("-"),
                        k.metric.as_deref().unwrap_or("-")
                    )
                })
                .collect();
            return Err(ApiError::bad_request(format!(
                "{} series match; narrow with service, component and metric: {}",
                names.len(),
                names.join(", ")
            )));
        }
    };
    let mut document = entry.document.clone();
    if let Some(text) = params.horizon.as_deref() {
        let horizon = humantime::parse_duration(text)
            .map_err(|e| ApiError::bad_request(format!("horizon `{text}`: {e}")))?;
        let step = entry.series.step.max(1);
        let steps = ((horizon.as_micros() as Micros + step - 1) / step) as usize;
        if steps == 0 {
            return Err(ApiError::bad_request("horizon must be positive"));
        }
        if steps > document.points.len() {
            return Err(ApiError::bad_request(format!(
                "horizon `{text}` is beyond the {} steps fitted (the planning horizon is {})",
                document.points.len(),
                humantime::format_duration(state.config.settings.forecast.planning_horizon)
            )));
        }
        document.points.truncate(steps);
    }
    Ok(Json(document))
}

/// `POST /api/v1/forecasts/refit`: fits everything now and answers when done.
pub async fn refit(State(state): State<AppState>) -> Result<Json<RefitSummary>, ApiError> {
    state
        .planner
        .refit()
        .await
        .map(Json)
        .map_err(ApiError::internal)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanParams {
    /// What-if demand growth, e.g. `0.2` for +20 %.
    growth: Option<f64>,
    /// When the growth starts (RFC 3339 or YYYY-MM-DD; default: now).
    from: Option<String>,
}

fn growth_of(params: &PlanParams) -> Result<Option<Growth>, ApiError> {
    let Some(rate) = params.growth else {
        if params.from.is_some() {
            return Err(ApiError::bad_request("`from` needs `growth`"));
        }
        return Ok(None);
    };
    if !rate.is_finite() || rate <= -1.0 {
        return Err(ApiError::bad_request(
            "growth must be a number above -1 (0.2 = +20 %)",
        ));
    }
    let from = match params.from.as_deref() {
        None => chrono::Utc::now().timestamp_micros(),
        Some(text) => parse_day_or_time(text)
            .ok_or_else(|| ApiError::bad_request(format!("from `{text}` is not a date")))?,
    };
    Ok(Some(Growth { rate, from }))
}

/// RFC 3339, or a `YYYY-MM-DD` date (midnight UTC).
pub fn parse_day_or_time(text: &str) -> Option<Micros> {
    parse_rfc3339(text).or_else(|| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_micros())
    })
}

pub async fn plans(
    State(state): State<AppState>,
    params: Result<Query<PlanParams>, QueryRejection>,
) -> Result<Json<Vec<PlanDocument>>, ApiError> {
    let Query(params) = params?;
    let growth = growth_of(&params)?;
    let book = fitted(&state)?;
    Ok(Json(plans_of(&book, None, None, growth)))
}

fn known_component(state: &AppState, service: &str, component: &str) -> Result<(), ApiError> {
    let known = state
        .config
        .catalogue
        .service(service)
        .is_some_and(|s| s.components.iter().any(|c| c.id == component));
    if known {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "no component `{component}` of service `{service}` in the catalogue"
        )))
    }
}

pub async fn component_plans(
    State(state): State<AppState>,
    Path((service, component)): Path<(String, String)>,
    params: Result<Query<PlanParams>, QueryRejection>,
) -> Result<Json<Vec<PlanDocument>>, ApiError> {
    let Query(params) = params?;
    known_component(&state, &service, &component)?;
    let growth = growth_of(&params)?;
    let book = fitted(&state)?;
    let plans = plans_of(&book, Some(&service), Some(&component), growth);
    Ok(Json(plans))
}

/// `GET .../chart.svg`: history, forecast, interval band, threshold and capacity.
pub async fn chart(
    State(state): State<AppState>,
    Path((service, component)): Path<(String, String)>,
    params: Result<Query<PlanParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params?;
    known_component(&state, &service, &component)?;
    let growth = growth_of(&params)?;
    let book = fitted(&state)?;
    let (key, entry) = book
        .entries
        .iter()
        .find(|(k, e)| {
            k.service.as_deref() == Some(service.as_str())
                && k.component.as_deref() == Some(component.as_str())
                && e.component.is_some()
        })
        .ok_or_else(|| ApiError::not_found(format!("no forecast for {service}/{component} yet")))?;
    let plan = plans_of(&book, Some(&service), Some(&component), growth)
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("no plan"))?;
    let mut steps = entry.forecast.steps.clone();
    if let Some(g) = growth {
        crate::forecast::plan::apply_growth(&mut steps, g.rate, g.from);
    }
    let history: Vec<(Micros, f64)> = entry
        .series
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| (entry.series.time(i), *v))
        .collect();
    let c = entry
        .component
        .as_ref()
        .ok_or_else(|| ApiError::not_found("no component"))?;
    let title = format!(
        "{service} / {component}: {}",
        key.metric.as_deref().unwrap_or("value")
    );
    let subtitle = format!(
        "{} · MASE {:.2} · {:.0}% interval (backtest coverage {:.0}%) · risk {} · fitted {}",
        entry.document.model,
        entry.forecast.accuracy.mase,
        entry.forecast.interval * 100.0,
        entry.forecast.accuracy.coverage * 100.0,
        plan.risk.as_str(),
        &plan.fitted_at[..16.min(plan.fitted_at.len())],
    );
    let expected = plan
        .exhaustion
        .as_ref()
        .and_then(|e| e.expected.as_deref())
        .and_then(parse_rfc3339);
    let svg = Chart {
        title: &title,
        subtitle: &subtitle,
        unit: c.unit.as_deref().unwrap_or(&c.resource),
        history: &history,
        forecast: &steps,
        threshold: c.threshold,
        capacity: c.capacity,
        exhaustion: expected,
    }
    .render();
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffingParams {
    service: Option<String>,
}

/// One week's expected arrivals.
#[derive(Debug, Serialize)]
pub struct WeekDocument {
    pub week_start: String,
    pub expected: f64,
    /// Sums of the daily interval bounds: a conservative (wider than nominal) weekly range.
    pub lower: f64,
    pub upper: f64,
}

#[derive(Debug, Serialize)]
pub struct StaffingDocument {
    pub service: String,
    pub priority: String,
    pub weeks: Vec<WeekDocument>,
    pub forecast: ForecastDocument,
}

/// `GET /api/v1/staffing`: ticket arrivals per service and priority, per day and per week.
pub async fn staffing(
    State(state): State<AppState>,
    params: Result<Query<StaffingParams>, QueryRejection>,
) -> Result<Json<Vec<StaffingDocument>>, ApiError> {
    let Query(params) = params?;
    state.known_service(params.service.as_deref())?;
    let book = fitted(&state)?;
    let out = book
        .entries
        .iter()
        .filter_map(|(key, entry)| {
            let priority = key.metric.as_deref()?.strip_prefix("ticket_arrivals.")?;
            let service = key.service.clone()?;
            if params.service.as_deref().is_some_and(|s| s != service) {
                return None;
            }
            let weeks = entry
                .forecast
                .steps
                .chunks(7)
                .map(|week| WeekDocument {
                    week_start: format_rfc3339(week[0].time),
                    expected: week.iter().map(|s| s.mean.max(0.0)).sum(),
                    lower: week.iter().map(|s| s.lower.max(0.0)).sum(),
                    upper: week.iter().map(|s| s.upper.max(0.0)).sum(),
                })
                .collect();
            Some(StaffingDocument {
                service,
                priority: priority.to_string(),
                weeks,
                forecast: entry.document.clone(),
            })
        })
        .collect();
    Ok(Json(out))
}

//! Evidence routes: the monthly service review pack, the audit sample, problem candidates.

use super::AppState;
use super::error::ApiError;
use crate::model::Micros;
use crate::report::evidence::{EvidenceSample, RecordedBreaches, evidence};
use crate::report::problems::Candidate;
use crate::report::service_review::{self, Inputs, ServiceReview};
use crate::report::tickets::{self as incidents, incidents_and_problems};
use crate::sla::window::{Interval, parse_window};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::collections::HashSet;

fn month_window(month: Option<&str>, state: &AppState) -> Result<(String, Interval), ApiError> {
    let month = match month {
        Some(m) => m.to_string(),
        None => {
            let now = state
                .pipeline
                .engine
                .read()
                .ok()
                .and_then(|e| e.watermark())
                .unwrap_or_else(|| chrono::Utc::now().timestamp_micros());
            crate::model::format_rfc3339(now)[..7].to_string()
        }
    };
    let window = parse_window(&format!("month:{month}"), 0)
        .map_err(|e| ApiError::bad_request(format!("month `{month}`: {e}")))?;
    Ok((month, window))
}

type Guards<'a> = (
    std::sync::RwLockReadGuard<'a, crate::sla::SlaEngine>,
    std::sync::MutexGuard<'a, crate::alert::register::Register>,
);

fn live_state(
    state: &AppState,
) -> Result<std::sync::RwLockReadGuard<'_, crate::sla::SlaEngine>, ApiError> {
    state
        .pipeline
        .engine
        .read()
        .map_err(|_| ApiError::internal("the SLA state lock is poisoned"))
}

fn review_register(
    state: &AppState,
) -> Result<std::sync::MutexGuard<'_, crate::alert::register::Register>, ApiError> {
    state
        .reviews
        .lock()
        .map_err(|_| ApiError::internal("the review register lock is poisoned"))
}

/// The SLA state and the review register, read together (neither lock is held across an await).
fn state_and_register(state: &AppState) -> Result<Guards<'_>, ApiError> {
    Ok((live_state(state)?, review_register(state)?))
}

fn review_due(state: &AppState) -> Micros {
    crate::model::micros_of(state.config.settings.alerts.review_due)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewParams {
    service: Option<String>,
    /// `YYYY-MM` (default: the month of the watermark).
    month: Option<String>,
    /// `html` (default), `csv` or `json`.
    format: Option<String>,
    /// RFC 3339: review statuses and overdue marks as of this instant (default: now).
    as_of: Option<String>,
}

/// Builds the packs of `service` (or every service) for `month` from the live state.
pub async fn service_reviews(
    state: &AppState,
    service: Option<&str>,
    month: Option<&str>,
    as_of: Micros,
) -> Result<Vec<ServiceReview>, ApiError> {
    let services: Vec<_> = state
        .config
        .catalogue
        .services
        .iter()
        .filter(|s| service.is_none_or(|id| s.id == id))
        .cloned()
        .collect();
    if let Some(id) = service
        && services.is_empty()
    {
        return Err(ApiError::not_found(format!(
            "no service `{id}` in the catalogue"
        )));
    }
    let (month, window) = month_window(month, state)?;
    let tickets: Vec<(String, service_review::TicketLine)> = incidents_and_problems(&state.history)
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .filter(|t| window.contains(t.created))
        .map(|t| (t.service.clone(), t.line()))
        .collect();
    let plans = crate::planner::plans_of(&state.planner.book(), service, None, None);
    let needed: Vec<_> = {
        let engine = live_state(state)?;
        services
            .iter()
            .filter_map(|s| Some((s.id.clone(), engine.history_needed(&s.id, window)?)))
            .collect()
    };
    let older = crate::store::older_findings_for(&state.history, &needed)
        .await
        .map_err(ApiError::internal)?;
    let (engine, register) = state_and_register(state)?;
    let inputs = Inputs {
        engine: &engine,
        register: &register,
        plans: &plans,
        tickets: &tickets,
        older: &older,
        review_due: review_due(state),
        now: as_of,
    };
    Ok(services
        .iter()
        .map(|s| service_review::build(s, &month, window, &inputs))
        .collect())
}

/// `GET /api/v1/reports/service-review?service=&month=&format=html|csv|json`.
pub async fn service_review(
    State(state): State<AppState>,
    params: Result<Query<ReviewParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params?;
    let as_of = match params.as_of.as_deref() {
        None => chrono::Utc::now().timestamp_micros(),
        Some(text) => crate::model::parse_rfc3339(text).ok_or_else(|| {
            ApiError::bad_request(format!("as_of `{text}` is not an RFC 3339 time"))
        })?,
    };
    let reviews = service_reviews(
        &state,
        params.service.as_deref(),
        params.month.as_deref(),
        as_of,
    )
    .await?;
    Ok(match params.format.as_deref().unwrap_or("html") {
        "html" => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            service_review::html(&reviews),
        )
            .into_response(),
        "csv" => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            service_review::csv(&reviews),
        )
            .into_response(),
        "json" => Json(reviews).into_response(),
        other => {
            return Err(ApiError::bad_request(format!(
                "format `{other}`: html, csv or json"
            )));
        }
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleParams {
    month: Option<String>,
    n: Option<usize>,
    seed: Option<u64>,
}

/// `GET /api/v1/evidence/sample?month=&n=20&seed=`: the same month, n and seed always give the
/// same tickets (the default seed is derived from the month).
pub async fn sample(
    State(state): State<AppState>,
    params: Result<Query<SampleParams>, QueryRejection>,
) -> Result<Json<EvidenceSample>, ApiError> {
    let Query(params) = params?;
    let n = params.n.unwrap_or(20);
    if !(1..=1000).contains(&n) {
        return Err(ApiError::bad_request("n must be between 1 and 1000"));
    }
    let (month, window) = month_window(params.month.as_deref(), &state)?;
    let seed = params.seed.unwrap_or_else(|| {
        month
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
    });
    let (holds_month, as_of) = {
        let engine = live_state(&state)?;
        (engine.holds_tickets_created_in(window), engine.watermark())
    };
    if holds_month {
        let (engine, register) = state_and_register(&state)?;
        return Ok(Json(evidence(
            &engine,
            RecordedBreaches::OfTheState,
            &register,
            &month,
            window,
            n,
            seed,
        )));
    }
    // The month's closed tickets have left the live state: the population, the clock trails
    // and the breach ids come from the history, so the same month, n and seed draw the same
    // tickets however long ago the month was.
    let population = incidents::tickets_created_in(&state.history, window)
        .await
        .map_err(ApiError::internal)?;
    let ids: HashSet<String> = population.into_iter().collect();
    let recorded = incidents::recorded_breaches_of(&state.history, &ids)
        .await
        .map_err(ApiError::internal)?;
    let config = state.config.clone();
    let rebuilt = tokio::task::spawn_blocking(move || {
        crate::recompute::tickets_from_history(
            &crate::store::HistoryStore::reader_for(&config.settings),
            std::sync::Arc::new(config.catalogue.clone()),
            config.settings.pipeline.allowed_lateness,
            &ids,
            Some(crate::store::day_of(window.start)),
            as_of,
        )
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let register = review_register(&state)?;
    Ok(Json(evidence(
        &rebuilt,
        RecordedBreaches::Read(&recorded),
        &register,
        &month,
        window,
        n,
        seed,
    )))
}

/// `GET /api/v1/problems/candidates`.
pub async fn problem_candidates(
    State(state): State<AppState>,
) -> Result<Json<Vec<Candidate>>, ApiError> {
    crate::report::tickets::current_candidates(&state.config, &state.history)
        .await
        .map(Json)
        .map_err(ApiError::internal)
}

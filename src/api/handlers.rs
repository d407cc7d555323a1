//! Route handlers. Each one reads shared state briefly (no lock is held across `.await`) and
//! answers JSON.

use super::AppState;
use super::error::ApiError;
use crate::model::{Micros, format_rfc3339, parse_rfc3339};
use crate::sla::window::{
    Interval, month_containing, month_containing_in, parse_window, parse_window_in,
};
use crate::sla::{Breach, SlaEngine};
use crate::store::NamedQuery;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::RwLockReadGuard;
use std::sync::atomic::Ordering;

fn engine(state: &AppState) -> RwLockReadGuard<'_, SlaEngine> {
    state
        .pipeline
        .engine
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The instant "now" means for the API: the SLA watermark (event time), or the wall clock before
/// the first event.
fn now(state: &AppState) -> Micros {
    engine(state)
        .watermark()
        .unwrap_or_else(|| chrono::Utc::now().timestamp_micros())
}

/// While the SLA state is rebuilt, data routes answer 503 with the start-up's progress (the
/// state they read is not there yet); health, liveness and metrics answer as usual.
pub async fn until_ready(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    // The console's files load while starting too; its API calls then show the progress.
    let always = matches!(
        path,
        "/" | "/healthz" | "/livez" | "/metrics" | "/api/v1/openapi.json"
    ) || path.starts_with("/console/");
    if always || state.pipeline.startup.is_ready() {
        return next.run(request).await;
    }
    let mut body = state.pipeline.startup.progress();
    body["error"] = serde_json::json!(
        "starting: the SLA state is being rebuilt from the history; retry shortly"
    );
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    response
}

pub async fn timeout(request: Request, next: Next) -> Response {
    match tokio::time::timeout(super::REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError {
            status: StatusCode::REQUEST_TIMEOUT,
            message: "request timed out".into(),
        }
        .into_response(),
    }
}

/// Liveness: the process serves requests (a slow start is not a dead process).
pub async fn livez() -> Response {
    (StatusCode::OK, Json(serde_json::json!({"status": "alive"}))).into_response()
}

/// Readiness: the SLA state is rebuilt, ingest runs and the consumer holds partitions.
pub async fn healthz(State(state): State<AppState>) -> Response {
    let startup = &state.pipeline.startup;
    if !startup.is_ready() {
        let mut body = startup.progress();
        body["status"] = serde_json::json!("starting: rebuilding the SLA state from the history");
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    if state
        .pipeline
        .counters
        .ingest_halted
        .load(Ordering::Relaxed)
        != 0
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "ingest halted: a partition's log ends below the checkpoint (see the log and slacap_offset_regressions_total)"})),
        )
            .into_response();
    }
    if state.pipeline.assigned.load(Ordering::Relaxed) {
        (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "waiting for partition assignment"})),
        )
            .into_response()
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut body = state.pipeline.counters.render();
    let startup = &state.pipeline.startup;
    body.push_str(&format!(
        "# HELP slacap_starting 1 while the SLA state is rebuilt from the history.\n# TYPE slacap_starting gauge\nslacap_starting {}\n# HELP slacap_startup_events_replayed_total Raw events replayed into the SLA state at start-up.\n# TYPE slacap_startup_events_replayed_total counter\nslacap_startup_events_replayed_total {}\n",
        u8::from(!startup.is_ready()),
        startup.replayed()
    ));
    let webhooks = &state.pipeline.alerts.counters;
    for (name, help, value) in [
        (
            "webhook_deliveries_total",
            "Alerts a webhook acknowledged.",
            &webhooks.delivered,
        ),
        (
            "webhook_failed_attempts_total",
            "Webhook delivery attempts that failed.",
            &webhooks.failed_attempts,
        ),
        (
            "webhook_alerts_failed_total",
            "Alerts a webhook refused for good or that ran out of attempts (moved to the outbox's failed/ folder).",
            &webhooks.failed,
        ),
    ] {
        body.push_str(&format!(
            "# HELP slacap_{name} {help}\n# TYPE slacap_{name} counter\nslacap_{name} {}\n",
            value.load(Ordering::Relaxed)
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

pub async fn services(State(state): State<AppState>) -> Json<serde_json::Value> {
    let services: Vec<serde_json::Value> = state
        .config
        .catalogue
        .services
        .iter()
        .map(|s| {
            serde_json::json!({
                "id": s.id,
                "name": s.name,
                "owner": s.owner,
                "agreement": s.agreement,
                "components": s.components,
                "dependencies": s.depends_on,
                "slos": s.slos,
            })
        })
        .collect();
    Json(serde_json::Value::Array(services))
}

#[derive(Deserialize)]
pub struct WindowParams {
    window: Option<String>,
}

pub async fn service_sla(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<WindowParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params?;
    if state.config.catalogue.service(&id).is_none() {
        return Err(ApiError::not_found(format!(
            "no service `{id}` in the catalogue"
        )));
    }
    let tz = state.config.catalogue.time_zone(&id);
    let now = now(&state);
    let window = match params.window.as_deref() {
        None => month_containing_in(now, tz),
        Some(text) => {
            parse_window_in(text, now, tz).map_err(|e| ApiError::bad_request(e.to_string()))?
        }
    };
    // A window before the live state is completed from the history (no lock held meanwhile).
    let needed = engine(&state).history_needed(&id, window);
    let older = match needed {
        Some(span) => crate::store::older_findings(&state.history, &id, span)
            .await
            .map_err(ApiError::internal)?,
        None => Default::default(),
    };
    let report = engine(&state)
        .service_sla_with(&id, window, &older)
        .ok_or_else(|| ApiError::not_found(format!("no service `{id}`")))?;
    Ok(Json(report).into_response())
}

pub async fn ticket_sla(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<crate::sla::TicketSla>, ApiError> {
    let (live, as_of) = {
        let engine = engine(&state);
        (engine.ticket_sla(&id), engine.watermark())
    };
    if let Some(report) = live {
        return Ok(Json(report));
    }
    // Not in the live state: a ticket closed before the open windows left memory; its events
    // are in the history. Rebuilt off the async workers (it reads the ticket_events table).
    let config = state.config.clone();
    let wanted = id.clone();
    let rebuilt = tokio::task::spawn_blocking(move || {
        crate::recompute::ticket_sla_from_history(
            &crate::store::HistoryStore::reader_for(&config.settings),
            std::sync::Arc::new(config.catalogue.clone()),
            config.settings.pipeline.allowed_lateness,
            &wanted,
            as_of,
        )
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    rebuilt
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no ticket `{id}` has been seen")))
}

#[derive(Deserialize)]
pub struct ServiceParam {
    service: Option<String>,
}

pub async fn burn_alerts(
    State(state): State<AppState>,
    params: Result<Query<ServiceParam>, QueryRejection>,
) -> Result<Json<Vec<crate::sla::burn::BurnAlert>>, ApiError> {
    let Query(params) = params?;
    state.known_service(params.service.as_deref())?;
    Ok(Json(engine(&state).burn_alerts(params.service.as_deref())))
}

#[derive(Deserialize)]
pub struct DriftParams {
    days: Option<i64>,
}

/// Telemetry the catalogue lacks, and catalogue entries without telemetry in the last `days`
/// days (default 7).
pub async fn drift(
    State(state): State<AppState>,
    params: Result<Query<DriftParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params?;
    let days = params.days.unwrap_or(7);
    if !(1..=400).contains(&days) {
        return Err(ApiError::bad_request("`days` must be 1 to 400"));
    }
    Ok(Json(engine(&state).drift(days)))
}

#[derive(Deserialize)]
pub struct BreachParams {
    service: Option<String>,
    since: Option<String>,
}

pub async fn breaches(
    State(state): State<AppState>,
    params: Result<Query<BreachParams>, QueryRejection>,
) -> Result<Json<Vec<Breach>>, ApiError> {
    let Query(params) = params?;
    state.known_service(params.service.as_deref())?;
    let since = match params.since.as_deref() {
        None => None,
        Some(text) => Some(parse_rfc3339(text).ok_or_else(|| {
            ApiError::bad_request(format!("`since` is not an RFC 3339 time: `{text}`"))
        })?),
    };
    Ok(Json(
        engine(&state).breaches(params.service.as_deref(), since),
    ))
}

#[derive(Deserialize)]
pub struct ReportParams {
    month: Option<String>,
}

/// A named report from `queries/` over one calendar month (default: the current one).
pub async fn report(
    State(state): State<AppState>,
    Path(name): Path<String>,
    params: Result<Query<ReportParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params?;
    let query = NamedQuery::by_name(&name).map_err(|e| ApiError::not_found(e.to_string()))?;
    let window: Interval = match params.month.as_deref() {
        None => month_containing(now(&state)),
        Some(month) => parse_window(&format!("month:{month}"), 0)
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
    };
    let result = state
        .history
        .run_json(query.render(window))
        .await
        .map_err(ApiError::internal)?;
    // How far the history the report read is final: slices, outcomes and breaches behind it
    // are written (late events' corrections included); the live state's `as_of` may be ahead.
    let history_as_of = state
        .pipeline
        .counters
        .history_watermark()
        .map(format_rfc3339);
    Ok(Json(serde_json::json!({
        "report": query.name(),
        "window": {"start": format_rfc3339(window.start), "end": format_rfc3339(window.end)},
        "history_as_of": history_as_of,
        "columns": result.columns,
        "rows": result.rows,
    })))
}

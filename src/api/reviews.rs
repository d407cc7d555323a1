//! Breach detail and the review register over HTTP.

use super::AppState;
use super::auth::Principal;
use super::error::ApiError;
use crate::alert::register::{
    RegisterError, ReviewEntry, ReviewError, ReviewRequest, ReviewStatus,
};
use crate::model::format_rfc3339;
use crate::sla::Breach;
use crate::store::{HistoryStore, review_file};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;

fn find_breach(state: &AppState, id: &str) -> Result<Breach, ApiError> {
    state
        .pipeline
        .engine
        .read()
        .map_err(|_| ApiError::internal("the SLA state lock is poisoned"))?
        .breaches(None, None)
        .into_iter()
        .find(|b| b.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no breach `{id}`")))
}

/// A breach with its review trail.
#[derive(Debug, Serialize)]
pub struct BreachDetail {
    pub breach: Breach,
    pub review_status: ReviewStatus,
    /// When the review is due (`alerts.review_due` after the breach).
    pub review_due_by: String,
    /// Due and not yet reviewed or closed.
    pub review_overdue: bool,
    /// Every entry, oldest first; corrections are entries of their own.
    pub trail: Vec<ReviewEntry>,
}

fn detail(state: &AppState, breach: Breach) -> Result<BreachDetail, ApiError> {
    let trail = state
        .reviews
        .lock()
        .map_err(|_| ApiError::internal("the review register lock is poisoned"))?
        .trail(&breach.id);
    Ok(BreachDetail::new(
        breach,
        trail,
        crate::model::micros_of(state.config.settings.alerts.review_due),
        chrono::Utc::now().timestamp_micros(),
    ))
}

impl BreachDetail {
    /// `breach` with its `trail`, its review due `due_after` its detection, judged at `now`.
    fn new(breach: Breach, trail: Vec<ReviewEntry>, due_after: i64, now: i64) -> BreachDetail {
        let status = crate::alert::register::status_of(&trail);
        let due = breach.detected_at + due_after;
        BreachDetail {
            review_status: status,
            review_due_by: format_rfc3339(due),
            review_overdue: status < ReviewStatus::Reviewed && now >= due,
            trail,
            breach,
        }
    }
}

/// `GET /api/v1/breaches/{id}`.
pub async fn breach(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<BreachDetail>, ApiError> {
    let breach = find_breach(&state, &id)?;
    Ok(Json(detail(&state, breach)?))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterParams {
    service: Option<String>,
}

/// `GET /api/v1/reviews?service=`: the breach register, every breach (oldest first) with its
/// review status, due date and trail, in one answer (the console's register page).
pub async fn register(
    State(state): State<AppState>,
    params: Result<axum::extract::Query<RegisterParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<BreachDetail>>, ApiError> {
    let axum::extract::Query(params) = params?;
    state.known_service(params.service.as_deref())?;
    let breaches = state
        .pipeline
        .engine
        .read()
        .map_err(|_| ApiError::internal("the SLA state lock is poisoned"))?
        .breaches(params.service.as_deref(), None);
    let register = state
        .reviews
        .lock()
        .map_err(|_| ApiError::internal("the review register lock is poisoned"))?;
    let due_after = crate::model::micros_of(state.config.settings.alerts.review_due);
    let now = chrono::Utc::now().timestamp_micros();
    let details = breaches
        .into_iter()
        .map(|breach| {
            let trail = register.trail(&breach.id);
            BreachDetail::new(breach, trail, due_after, now)
        })
        .collect();
    Ok(Json(details))
}

/// `POST /api/v1/breaches/{id}/review`: appends an entry to the breach's trail (201), or says
/// why not (400 for a bad entry, 409 for the wrong point in the trail).
pub async fn review(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(principal): Extension<Principal>,
    body: Result<Json<ReviewRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let breach = find_breach(&state, &id)?;
    let reviews = state.reviews.clone();
    let history = HistoryStore::reader_for(&state.config.settings);
    // An fsynced append and a Parquet file: blocking I/O, off the async workers.
    let entry = tokio::task::spawn_blocking(move || -> Result<ReviewEntry, RegisterError> {
        let entry = reviews
            .lock()
            .map_err(|_| std::io::Error::other("the review register lock is poisoned"))?
            .append(
                &id,
                request,
                &principal.name,
                chrono::Utc::now().timestamp_micros(),
            )?;
        if let Err(error) = write_review_files(&history, std::slice::from_ref(&entry)) {
            // The journal is the record; the table copy is rewritten at the next start.
            tracing::warn!(%error, seq = entry.seq, "review entry not yet in the reviews table");
        }
        Ok(entry)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| match e {
        RegisterError::Review(ReviewError::Invalid(m)) => ApiError::bad_request(m),
        RegisterError::Review(ReviewError::Conflict(m)) => ApiError {
            status: StatusCode::CONFLICT,
            message: m,
        },
        RegisterError::Io(e) => ApiError::internal(e),
    })?;
    tracing::info!(breach = %entry.breach, seq = entry.seq, status = entry.status.as_str(), by = %entry.recorded_by, "review recorded");
    let detail = detail(&state, breach)?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "entry": entry, "breach": detail })),
    )
        .into_response())
}

/// Adds the `reviews` table rows of `entries` that are not there yet: the table's `txn`
/// (`slacap.reviews`) says up to which register sequence number it holds.
pub fn write_review_files(
    store: &HistoryStore,
    entries: &[ReviewEntry],
) -> Result<usize, crate::store::StoreError> {
    let held = store
        .txn_version(crate::store::Table::Reviews, crate::store::REVIEWS_APP)?
        .unwrap_or(0);
    let mut files = Vec::new();
    for entry in entries.iter().filter(|e| e.seq as i64 > held) {
        files.push(review_file(entry)?);
    }
    store.write(&files)?;
    Ok(files.len())
}

/// `GET /api/v1/reviews/verify`: checks the review journal's hash chain on disk.
pub async fn verify(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let path = state
        .reviews
        .lock()
        .map_err(|_| ApiError::internal("the review register lock is poisoned"))?
        .journal()
        .to_path_buf();
    let report = tokio::task::spawn_blocking(move || {
        let bytes = match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            other => other?,
        };
        Ok::<_, std::io::Error>(crate::alert::register::verify(&bytes))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(Json(
        serde_json::to_value(report).map_err(ApiError::internal)?,
    ))
}

//! The HTTP API (axum). `app(state)` builds the router, so tests can drive it without a socket.

pub mod auth;
mod error;
pub mod evidence;
mod forecasts;
mod handlers;
pub mod reviews;

pub use error::ApiError;

use crate::config::Config;
use crate::ingest::PipelineHandles;
use crate::planner::Planner;
use crate::store::HistoryQuery;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub pipeline: PipelineHandles,
    pub history: HistoryQuery,
    pub planner: Planner,
    /// The breach review register (appends are short: one fsynced line).
    pub reviews: Arc<std::sync::Mutex<crate::alert::register::Register>>,
}

/// Request bodies larger than this are refused with 413.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Requests slower than this are answered with 408.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(handlers::healthz))
        .route("/metrics", get(handlers::metrics))
        .route("/api/v1/services", get(handlers::services))
        .route("/api/v1/services/{id}/sla", get(handlers::service_sla))
        .route("/api/v1/breaches", get(handlers::breaches))
        .route("/api/v1/breaches/{id}", get(reviews::breach))
        .route("/api/v1/breaches/{id}/review", post(reviews::review))
        .route("/api/v1/tickets/{id}/sla", get(handlers::ticket_sla))
        .route("/api/v1/burn-rate-alerts", get(handlers::burn_alerts))
        .route("/api/v1/catalogue/drift", get(handlers::drift))
        .route("/api/v1/query", post(handlers::query))
        .route(
            "/api/v1/reports/service-review",
            get(evidence::service_review),
        )
        .route("/api/v1/reports/{name}", get(handlers::report))
        .route("/api/v1/evidence/sample", get(evidence::sample))
        .route(
            "/api/v1/problems/candidates",
            get(evidence::problem_candidates),
        )
        .route("/api/v1/forecasts", get(forecasts::forecast))
        .route("/api/v1/forecasts/refit", post(forecasts::refit))
        .route("/api/v1/capacity/plans", get(forecasts::plans))
        .route(
            "/api/v1/capacity/plans/{service}/{component}",
            get(forecasts::component_plans),
        )
        .route(
            "/api/v1/capacity/plans/{service}/{component}/chart.svg",
            get(forecasts::chart),
        )
        .route("/api/v1/staffing", get(forecasts::staffing))
        .fallback(handlers::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(handlers::timeout))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

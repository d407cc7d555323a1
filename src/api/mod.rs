//! The HTTP API (axum). `app(state)` builds the router, so tests can drive it without a socket.

pub mod auth;
pub mod console;
mod error;
pub mod evidence;
mod forecasts;
mod handlers;
pub mod openapi;
pub mod reviews;
mod sql;
pub mod tls;

pub use error::ApiError;

use crate::config::{Config, Role};
use crate::ingest::PipelineHandles;
use crate::planner::Planner;
use crate::store::HistoryQuery;
use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodRouter, get, post};
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
    /// User SQL: read-only, isolated per request, bounded, cancellable.
    pub queries: crate::store::UserQueries,
}

impl AppState {
    /// A `service` filter must name a catalogue service (404 otherwise); none is fine.
    pub(crate) fn known_service(&self, service: Option<&str>) -> Result<(), ApiError> {
        match service {
            Some(id) if self.config.catalogue.service(id).is_none() => Err(ApiError::not_found(
                format!("no service `{id}` in the catalogue"),
            )),
            _ => Ok(()),
        }
    }
}

/// Request bodies larger than this are refused with 413.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Requests slower than this are answered with 408.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Who may call a route: declared where the route is defined. The authorization middleware
/// looks the matched route up in these declarations; a route without one is refused (deny by
/// default), so forgetting to declare a route closes it instead of opening it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Open to anyone (probes and scrapers).
    Public,
    /// Needs a token of at least this role.
    Role(Role),
}

/// One declared route.
#[derive(Debug, Clone)]
pub struct Declared {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

/// The router under construction and what each of its routes declared.
struct Routes {
    router: Router<AppState>,
    declared: Vec<Declared>,
}

impl Routes {
    fn new() -> Routes {
        Routes {
            router: Router::new(),
            declared: Vec::new(),
        }
    }

    fn add(
        mut self,
        method: Method,
        path: &'static str,
        access: Access,
        route: MethodRouter<AppState>,
    ) -> Routes {
        self.declared.push(Declared {
            method,
            path,
            access,
        });
        self.router = self.router.route(path, route);
        self
    }

    fn get<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Routes {
        self.add(Method::GET, path, access, get(handler))
    }

    fn post<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Routes {
        self.add(Method::POST, path, access, post(handler))
    }
}

/// Every route of the API with its declared access.
fn routes() -> Routes {
    use Access::Public;
    const VIEWER: Access = Access::Role(Role::Viewer);
    const REVIEWER: Access = Access::Role(Role::Reviewer);
    const ADMIN: Access = Access::Role(Role::Admin);
    Routes::new()
        .get("/", Public, console::index)
        .get("/console/{file}", Public, console::file)
        .get("/healthz", Public, handlers::healthz)
        .get("/livez", Public, handlers::livez)
        .get("/metrics", Public, handlers::metrics)
        .get("/api/v1/openapi.json", Public, openapi::serve)
        .get("/api/v1/session", VIEWER, console::session)
        .get("/api/v1/services", VIEWER, handlers::services)
        .get("/api/v1/services/{id}/sla", VIEWER, handlers::service_sla)
        .get("/api/v1/breaches", VIEWER, handlers::breaches)
        .get("/api/v1/breaches/{id}", VIEWER, reviews::breach)
        .post("/api/v1/breaches/{id}/review", REVIEWER, reviews::review)
        .get("/api/v1/reviews", VIEWER, reviews::register)
        .get("/api/v1/reviews/verify", VIEWER, reviews::verify)
        .get("/api/v1/tickets/{id}/sla", VIEWER, handlers::ticket_sla)
        .get("/api/v1/burn-rate-alerts", VIEWER, handlers::burn_alerts)
        .get("/api/v1/catalogue/drift", VIEWER, handlers::drift)
        .post("/api/v1/query", VIEWER, sql::query)
        .get(
            "/api/v1/reports/service-review",
            VIEWER,
            evidence::service_review,
        )
        .get("/api/v1/reports/{name}", VIEWER, handlers::report)
        .get("/api/v1/evidence/sample", VIEWER, evidence::sample)
        .get(
            "/api/v1/problems/candidates",
            VIEWER,
            evidence::problem_candidates,
        )
        .get("/api/v1/forecasts", VIEWER, forecasts::forecast)
        .post("/api/v1/forecasts/refit", ADMIN, forecasts::refit)
        .get("/api/v1/capacity/plans", VIEWER, forecasts::plans)
        .get(
            "/api/v1/capacity/plans/{service}/{component}",
            VIEWER,
            forecasts::component_plans,
        )
        .get(
            "/api/v1/capacity/plans/{service}/{component}/chart.svg",
            VIEWER,
            forecasts::chart,
        )
        .get("/api/v1/staffing", VIEWER, forecasts::staffing)
}

/// The declared routes, for tests and documentation.
pub fn declared_routes() -> Vec<Declared> {
    routes().declared
}

pub fn app(state: AppState) -> Router {
    let Routes { router, declared } = routes();
    with_layers(router, declared, state)
}

/// Adds the fallback, authorization (from `declared`), body limit and timeout to `router`.
pub fn with_layers(router: Router<AppState>, declared: Vec<Declared>, state: AppState) -> Router {
    let guard = auth::Guard::new(state.clone(), declared);
    router
        .fallback(handlers::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            handlers::until_ready,
        ))
        .layer(axum::middleware::from_fn_with_state(guard, auth::authorize))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(handlers::timeout))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves: over HTTPS with `tls`, else plain
/// HTTP.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        Some(config) => tls::serve_tls(listener, config, app(state), shutdown).await,
        None => {
            axum::serve(listener, app(state))
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

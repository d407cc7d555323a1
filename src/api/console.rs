//! The web console: four static files embedded in the binary and served at `/`, plus the
//! `session` route that tells the page who its token belongs to. The page calls the same
//! `/api/v1` routes a script does, with the token as a bearer header, so it needs no access of
//! its own; the files themselves are public (they hold no data).
//!
//! A Content-Security-Policy allows scripts, styles and connections from this origin only
//! (and `blob:` images, for charts fetched with the token): no inline script runs.

use super::auth::Principal;
use axum::Extension;
use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/app.js");
const CHARTS: &str = include_str!("console/charts.js");
const STYLE: &str = include_str!("console/style.css");

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' blob:; connect-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /`: the console's page.
pub async fn index() -> Response {
    asset(INDEX, "text/html; charset=utf-8")
}

/// `GET /console/{file}`: its scripts and style sheet.
pub async fn file(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "app.js" => asset(SCRIPT, "text/javascript; charset=utf-8"),
        "charts.js" => asset(CHARTS, "text/javascript; charset=utf-8"),
        "style.css" => asset(STYLE, "text/css; charset=utf-8"),
        _ => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": format!("no console file `{name}`")})),
        )
            .into_response(),
    }
}

/// `GET /api/v1/session`: the name and role of the token's holder, so the console offers only
/// what the role may do.
pub async fn session(Extension(principal): Extension<Principal>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "name": principal.name,
        "role": principal.role,
    }))
}

//! The router's answers to bad requests, driven without a socket (`oneshot`), on an engine fed
//! directly: JSON errors with the right status, and the SLA shape.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use slacap::api::auth::token_entry;
use slacap::api::{AppState, app};
use slacap::config::{Config, Role, Topics};
use slacap::ingest::PipelineHandles;
use slacap::model::{Source, StreamKind, parse_rfc3339};
use slacap::sla::SlaEngine;
use slacap::store::{HistoryQuery, HistoryStore};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use tower::ServiceExt;

fn state(data: &std::path::Path) -> AppState {
    let mut settings = slacap::demo::settings_for(
        "127.0.0.1:1".into(),
        "g",
        Topics::default(),
        data.to_path_buf(),
        "127.0.0.1:0".parse().unwrap(),
    );
    settings.api.tokens = vec![
        token_entry("viewer", Role::Viewer, "viewer-token"),
        token_entry("admin", Role::Admin, "admin-token"),
    ];
    let config = Arc::new(Config {
        settings,
        catalogue: slacap::demo::sample_catalogue().unwrap(),
        source: "<test>".into(),
    });
    let mut engine = SlaEngine::new(
        Arc::new(config.catalogue.clone()),
        std::time::Duration::ZERO,
    );
    let source = Source {
        stream: StreamKind::Metrics,
        partition: 0,
    };
    // One hour of payments probes, the last 6 minutes down.
    let start = parse_rfc3339("2026-11-02T10:00:00Z").unwrap();
    for minute in 0..61 {
        engine.apply_sample(
            "payments",
            "up",
            start + minute * 60_000_000,
            if (54..60).contains(&minute) { 0.0 } else { 1.0 },
            source,
        );
    }
    engine.advance();
    let pipeline = PipelineHandles {
        engine: Arc::new(RwLock::new(engine)),
        counters: Default::default(),
        assigned: Arc::new(AtomicBool::new(false)),
        alerts: Default::default(),
        startup: Arc::new(slacap::ingest::Startup::finished()),
    };
    let history = HistoryQuery::new(&HistoryStore::reader(data)).unwrap();
    let planner = slacap::planner::Planner::new(config.clone(), history.clone(), None);
    let reviews = slacap::alert::register::Register::open(data).unwrap();
    let queries =
        slacap::store::UserQueries::new(&HistoryStore::reader(data), &config.settings.api.query)
            .unwrap();
    AppState {
        config,
        pipeline,
        history,
        planner,
        reviews: Arc::new(std::sync::Mutex::new(reviews)),
        queries,
    }
}

async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    call_as(state, Some("admin-token"), method, uri, body).await
}

async fn call_as(
    state: &AppState,
    token: Option<&str>,
    method: &str,
    uri: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(Body::from(body.to_string())).unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn sla_over_a_range_is_computed_from_the_slices() {
    let data = tempfile::tempdir().unwrap();
    let s = state(data.path());
    let (status, body) = call(
        &s,
        "GET",
        "/api/v1/services/payments/sla?window=range:2026-11-02T10:00:00Z/2026-11-02T11:00:00Z",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let a = &body["availability"][0];
    assert_eq!(a["total_seconds"], 3600);
    assert_eq!(a["good_seconds"], 3240);
    assert_eq!(a["attained"], 0.9);
    assert_eq!(a["met"], false);
    assert_eq!(body["window"]["start"], "2026-11-02T10:00:00Z");
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let data = tempfile::tempdir().unwrap();
    let s = state(data.path());
    let cases = [
        (
            "GET",
            "/api/v1/services/ghost/sla",
            "",
            StatusCode::NOT_FOUND,
            "no service `ghost`",
        ),
        (
            "GET",
            "/api/v1/services/payments/sla?window=month:2026-13",
            "",
            StatusCode::BAD_REQUEST,
            "no such month",
        ),
        (
            "GET",
            "/api/v1/breaches?service=ghost",
            "",
            StatusCode::NOT_FOUND,
            "ghost",
        ),
        (
            "GET",
            "/api/v1/breaches?since=tomorrow",
            "",
            StatusCode::BAD_REQUEST,
            "RFC 3339",
        ),
        (
            "GET",
            "/api/v1/nowhere",
            "",
            StatusCode::NOT_FOUND,
            "no such route",
        ),
        (
            "GET",
            "/api/v1/reports/nothing",
            "",
            StatusCode::NOT_FOUND,
            "unknown named query",
        ),
        (
            "POST",
            "/api/v1/query",
            r#"{"sql":"SELEC 1"}"#,
            StatusCode::BAD_REQUEST,
            "SELEC",
        ),
        (
            "POST",
            "/api/v1/query",
            r#"{"query":"SELECT 1"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown field",
        ),
        (
            "POST",
            "/api/v1/query",
            "not json",
            StatusCode::BAD_REQUEST,
            "JSON",
        ),
    ];
    for (method, uri, body, status, needle) in cases {
        let (got, json) = call(&s, method, uri, body).await;
        assert_eq!(got, status, "{method} {uri}: {json}");
        let message = json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{uri}: no JSON error body"));
        assert!(message.contains(needle), "{uri}: {message}");
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let s = state(data.path());
    let big = format!(r#"{{"sql":"SELECT '{}'"}}"#, "x".repeat(100_000));
    let (status, json) = call(&s, "POST", "/api/v1/query", &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}");
}

#[tokio::test]
async fn health_waits_for_partitions_and_sql_answers() {
    let data = tempfile::tempdir().unwrap();
    let s = state(data.path());
    assert_eq!(
        call(&s, "GET", "/healthz", "").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (status, json) = call(
        &s,
        "POST",
        "/api/v1/query",
        r#"{"sql":"SELECT count(*) AS n FROM metrics"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["columns"], serde_json::json!(["n"]));
    assert_eq!(json["rows"], serde_json::json!([[0]]));
    assert_eq!(json["truncated"], false);
}

#[tokio::test]
async fn every_api_route_needs_a_valid_token_of_the_right_role() {
    let data = tempfile::tempdir().unwrap();
    let s = state(data.path());
    let (status, body) = call_as(&s, None, "GET", "/api/v1/services", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error"].as_str().unwrap().contains("Bearer"), "{body}");
    let (status, _) = call_as(&s, Some("not-a-token"), "GET", "/api/v1/services", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call_as(&s, Some("viewer-token"), "GET", "/api/v1/services", "").await;
    assert_eq!(status, StatusCode::OK);
    // A viewer may not re-fit forecasts (admin only).
    let (status, body) = call_as(
        &s,
        Some("viewer-token"),
        "POST",
        "/api/v1/forecasts/refit",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"].as_str().unwrap().contains("admin"), "{body}");
    // Probes and scrapers need no token.
    let (status, _) = call_as(&s, None, "GET", "/healthz", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE); // no partitions in this test
}

#[tokio::test]
async fn while_the_state_is_rebuilt_data_routes_answer_starting_and_liveness_holds() {
    let data = tempfile::tempdir().unwrap();
    let mut s = state(data.path());
    let startup = Arc::new(slacap::ingest::Startup::default());
    startup.count_replayed(1234);
    s.pipeline.startup = startup.clone();

    let (status, body) = call_as(&s, None, "GET", "/livez", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call_as(&s, None, "GET", "/healthz", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["state"], "starting", "{body}");
    assert_eq!(body["events_replayed"], 1234, "{body}");
    let (status, body) = call(&s, "GET", "/api/v1/services", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["error"].as_str().unwrap().starts_with("starting"),
        "{body}"
    );
    // A bad token is still refused first.
    let (status, _) = call_as(&s, Some("not-a-token"), "GET", "/api/v1/services", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    startup.mark_ready();
    let (status, _) = call(&s, "GET", "/api/v1/services", "").await;
    assert_eq!(status, StatusCode::OK);
}

async fn raw(state: &AppState, uri: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let request = Request::builder().uri(uri).body(Body::empty()).unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test]
async fn the_console_is_served_with_a_same_origin_content_security_policy() {
    let data = tempfile::tempdir().unwrap();
    let s = state(data.path());
    let (status, headers, page) = raw(&s, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert!(page.contains(r#"<script src="/console/app.js""#));
    assert!(!page.contains("<script>"), "no inline script");
    let (status, headers, _) = raw(&s, "/console/app.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    for file in ["style.css", "charts.js"] {
        let (status, ..) = raw(&s, &format!("/console/{file}")).await;
        assert_eq!(status, StatusCode::OK, "{file}");
    }
    let (status, _, body) = raw(&s, "/console/other.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("\"error\""), "{body}");
}

#[tokio::test]
async fn the_session_route_tells_the_console_its_role() {
    let data = tempfile::tempdir().unwrap();
    let s = state(data.path());
    let (status, body) = call_as(&s, Some("viewer-token"), "GET", "/api/v1/session", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        serde_json::json!({"name": "viewer", "role": "viewer"})
    );
    let (status, _) = call_as(&s, None, "GET", "/api/v1/session", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[test]
fn the_console_calls_only_routes_the_router_declares() {
    let script = include_str!("../src/api/console/app.js");
    let declared = slacap::api::declared_routes();
    let mut called = 0;
    for piece in script.split('"').filter(|p| p.starts_with("/api/v1/")) {
        // Literal prefixes such as "/api/v1/services/" are followed by an id in the script.
        let literal = piece.split('?').next().unwrap();
        let matches = declared.iter().any(|route| {
            let template = route.path;
            let fixed = template.split('{').next().unwrap();
            template == literal
                || (literal.starts_with(fixed) && fixed.len() > "/api/v1/".len())
                || fixed.starts_with(literal)
        });
        assert!(
            matches,
            "the console calls {literal}, which no route declares"
        );
        called += 1;
    }
    assert!(called >= 10, "{called} API paths found in the console");
}

/// The OpenAPI document: every route the router declares is in it, with its method, its path
/// parameters and who may call it; it validates as OpenAPI 3.1 with an independent validator
/// (Python's `openapi-spec-validator`, installed by `scripts/prerequisites.sh`); and the
/// router's real answers match the schemas it gives them.
#[tokio::test]
async fn the_openapi_document_describes_every_route_and_validates() {
    let data = tempfile::tempdir().unwrap();
    let s = state(data.path());
    let (status, doc) = call_as(&s, None, "GET", "/api/v1/openapi.json", "").await;
    assert_eq!(status, StatusCode::OK, "public, like the probes");
    assert!(
        doc.get("x-undescribed").is_none(),
        "routes without a description: {}",
        doc["x-undescribed"]
    );
    let declared = slacap::api::declared_routes();
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(
        operations,
        declared.len(),
        "one operation per declared route"
    );
    for route in &declared {
        let op = &doc["paths"][route.path][route.method.as_str().to_ascii_lowercase()];
        assert!(
            op.is_object(),
            "{} {} is not in the document",
            route.method,
            route.path
        );
        let in_path: Vec<&str> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = slacap::api::openapi::path_parameters(route.path).collect();
        assert_eq!(in_path, expected, "{}", route.path);
        match route.access {
            slacap::api::Access::Public => assert_eq!(op["security"], serde_json::json!([])),
            slacap::api::Access::Role(role) => {
                assert_eq!(op["security"], serde_json::json!([{"bearer": []}]));
                assert_eq!(op["x-required-role"], role.as_str(), "{}", route.path);
            }
        }
    }

    // Real answers, checked against the schemas the document names for them.
    let mut samples = Vec::new();
    for (uri, schema) in [
        ("/api/v1/services", "Services"),
        (
            "/api/v1/services/payments/sla?window=month:2026-11",
            "ServiceSla",
        ),
        ("/api/v1/breaches", "Breaches"),
        ("/api/v1/reviews", "Register"),
        ("/api/v1/session", "Session"),
        ("/api/v1/reports/breach_register?month=2026-11", "Report"),
    ] {
        let (status, body) = call(&s, "GET", uri, "").await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        samples.push(serde_json::json!([schema, body]));
    }
    let (status, body) = call(&s, "POST", "/api/v1/query", r#"{"sql": "SELECT 1 AS one"}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    samples.push(serde_json::json!(["QueryResult", body]));
    let (status, body) = call(&s, "GET", "/api/v1/services/nope/sla", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    samples.push(serde_json::json!(["Error", body]));

    let document = data.path().join("openapi.json");
    let answers = data.path().join("answers.json");
    std::fs::write(&document, doc.to_string()).unwrap();
    std::fs::write(&answers, serde_json::Value::Array(samples).to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/validate_openapi.py"
        ))
        .arg(&document)
        .arg(&answers)
        .output()
        .expect("python3 (scripts/prerequisites.sh installs the validator)");
    assert!(
        out.status.success(),
        "the OpenAPI document or an answer does not validate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

//! Attacks on the API of a running slacap (real broker, real socket): SQL that writes, reads
//! files, changes the shared session or exhausts the process; tokens used where their role
//! does not reach; plain-text tokens (HTTPS); a tampered review journal.

mod common;

use common::certs::make_certs;
use common::*;
use slacap::config::{Config, MemoryLimit, Role, TlsFiles, Topics};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn start(
    test: &str,
    data: &std::path::Path,
    tweak: impl FnOnce(&mut slacap::config::Settings),
) -> slacap::app::Running {
    let topics: Topics = unique_topics(test);
    let broker = TestBroker::Real(real_broker());
    broker.create_topics(&topics).await;
    let mut config = Arc::unwrap_or_clone(config_for(&broker, &topics, data, test));
    tweak(&mut config.settings);
    let config: Arc<Config> = Arc::new(config);
    let running = slacap::app::start(config).await.expect("start");
    // The API listens at once; these tests exercise it once the SLA state is rebuilt.
    running.ready().await;
    running
}

async fn post_as(addr: SocketAddr, token: &str, path: &str, body: String) -> (u16, String) {
    let (token, path) = (token.to_string(), path.to_string());
    tokio::task::spawn_blocking(move || http_as(addr, Some(&token), "POST", &path, Some(&body)))
        .await
        .unwrap()
}

fn sql(statement: &str) -> String {
    serde_json::json!({ "sql": statement }).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_that_writes_reads_files_or_changes_the_session_is_refused_for_every_role() {
    let data = tempfile::tempdir().unwrap();
    let running = start("hostile-sql", data.path(), |_| {}).await;
    let addr = running.api_addr;
    let target = data.path().join("copied.csv");
    let attacks = [
        "CREATE EXTERNAL TABLE pw (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'".to_string(),
        format!("COPY (SELECT 1 AS a) TO '{}'", target.display()),
        "INSERT INTO metrics SELECT * FROM metrics".to_string(),
        "DROP TABLE metrics".to_string(),
        "CREATE OR REPLACE VIEW breaches AS SELECT 1 AS x".to_string(),
        "CREATE TABLE t AS SELECT 1 AS x".to_string(),
        "SET datafusion.execution.batch_size = 1".to_string(),
        "SELECT * FROM generate_series(1, 60000000)".to_string(),
        "SELECT * FROM '/etc/passwd'".to_string(),
        "SELECT 1; DROP TABLE metrics".to_string(),
    ];
    for token in [VIEWER_TOKEN, REVIEWER_TOKEN, ADMIN_TOKEN] {
        for attack in &attacks {
            let (status, body) = post_as(addr, token, "/api/v1/query", sql(attack)).await;
            assert_eq!(status, 400, "{attack} with {token}: {body}");
            let json: serde_json::Value = serde_json::from_str(&body).expect("JSON error body");
            assert!(
                json["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{body}"
            );
        }
    }
    assert!(!target.exists(), "COPY wrote no file");
    // The shared tables, and what the planner reads, are as they were.
    let (status, body) = post_as(
        addr,
        VIEWER_TOKEN,
        "/api/v1/query",
        sql("SELECT count(*) AS n FROM metrics"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = get_json(addr, "/api/v1/problems/candidates").await;
    assert_eq!(status, 200, "{body}");
    let (_, metrics) = http(addr, "GET", "/metrics", None);
    // Nine attacks are refused as such; the file URL fails to plan (no such table): 400 too.
    assert!(
        metrics.contains("slacap_sql_refused_total 27\n"),
        "{metrics}"
    );
    running.run_until(async {}).await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_results_are_capped_and_flagged_while_extracts_stream_whole() {
    let data = tempfile::tempdir().unwrap();
    let running = start("hostile-limits", data.path(), |s| s.api.query.max_rows = 3).await;
    let addr = running.api_addr;
    let statement = "SELECT table_name, column_name FROM information_schema.columns";
    let (status, body) = post_as(addr, VIEWER_TOKEN, "/api/v1/query", sql(statement)).await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), 3);
    assert_eq!(json["truncated"], true);

    let ndjson = serde_json::json!({"sql": statement, "format": "ndjson"}).to_string();
    let (status, body) = post_as(addr, VIEWER_TOKEN, "/api/v1/query", ndjson).await;
    assert_eq!(status, 200, "{body}");
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert!(lines.len() > 50, "the whole result: {} rows", lines.len());
    assert!(lines.iter().all(|l| l["column_name"].is_string()));

    let arrow = serde_json::json!({"sql": statement, "format": "arrow"}).to_string();
    let bytes = tokio::task::spawn_blocking(move || raw_post(addr, VIEWER_TOKEN, &arrow))
        .await
        .unwrap();
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .expect("an Arrow IPC stream");
    let rows: usize = reader.map(|b| b.expect("batch").num_rows()).sum();
    assert_eq!(rows, lines.len());
    running.run_until(async {}).await.expect("clean stop");
}

/// The body of a POST as bytes (the Arrow stream is binary).
fn raw_post(addr: SocketAddr, token: &str, body: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /api/v1/query HTTP/1.0\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    response[split + 4..].to_vec()
}

/// A query that needs far more than 16 MiB to sort.
const HUNGRY: &str = "SELECT a.column_name, b.column_name, c.column_name FROM information_schema.columns a, information_schema.columns b, information_schema.columns c ORDER BY 1, 2, 3";

#[tokio::test(flavor = "multi_thread")]
async fn a_query_past_the_memory_limit_fails_with_422_and_the_next_one_runs() {
    let data = tempfile::tempdir().unwrap();
    let running = start("hostile-memory", data.path(), |s| {
        s.api.query.memory_limit = MemoryLimit::Bytes(16 << 20);
        s.api.query.timeout = Duration::from_secs(120);
    })
    .await;
    let addr = running.api_addr;
    let (status, body) = post_as(addr, VIEWER_TOKEN, "/api/v1/query", sql(HUNGRY)).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("memory_limit"), "{body}");
    let (status, body) = post_as(addr, VIEWER_TOKEN, "/api/v1/query", sql("SELECT 1 AS one")).await;
    assert_eq!(status, 200, "{body}");
    running.run_until(async {}).await.expect("clean stop");
}

/// Endless: 10^10 rows to count.
const ENDLESS: &str = "SELECT count(*) FROM information_schema.columns a, information_schema.columns b, information_schema.columns c, information_schema.columns d, information_schema.columns e";

#[tokio::test(flavor = "multi_thread")]
async fn a_timed_out_query_answers_on_time_and_shutdown_does_not_wait_for_one() {
    let data = tempfile::tempdir().unwrap();
    let running = start("hostile-timeout", data.path(), |s| {
        s.api.query.timeout = Duration::from_secs(2);
    })
    .await;
    let addr = running.api_addr;
    let started = Instant::now();
    let (status, body) = post_as(addr, VIEWER_TOKEN, "/api/v1/query", sql(ENDLESS)).await;
    assert_eq!(status, 408, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered after {:?}",
        started.elapsed()
    );
    // Other queries run meanwhile. (The cancelled one's thread stops at DataFusion's next yield
    // point: at once in a debug build, later for a release build's tight join loop.)
    let (status, body) = post_as(addr, VIEWER_TOKEN, "/api/v1/query", sql("SELECT 1 AS one")).await;
    assert_eq!(status, 200, "{body}");
    let (_, metrics) = http(addr, "GET", "/metrics", None);
    assert!(
        metrics.contains("slacap_sql_cancelled_total 1\n"),
        "{metrics}"
    );
    running.run_until(async {}).await.expect("clean stop");

    // With a query running, shutdown cancels it and completes at once.
    let running = start("hostile-shutdown", data.path(), |s| {
        s.api.query.timeout = Duration::from_secs(600);
    })
    .await;
    let addr = running.api_addr;
    let client = tokio::task::spawn_blocking(move || {
        http_as(
            addr,
            Some(VIEWER_TOKEN),
            "POST",
            "/api/v1/query",
            Some(&sql(ENDLESS)),
        )
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopping = Instant::now();
    running.run_until(async {}).await.expect("clean stop");
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        stopping.elapsed()
    );
    let (status, _) = client.await.unwrap();
    assert_eq!(status, 503, "the running query was cancelled");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_declares_its_role_and_a_route_without_one_is_closed() {
    let data = tempfile::tempdir().unwrap();
    let running = start("hostile-routes", data.path(), |_| {}).await;
    let addr = running.api_addr;
    let routes = slacap::api::declared_routes();
    assert!(routes.len() >= 20, "every route of the router is declared");
    for route in &routes {
        let path = route
            .path
            .split('/')
            .map(|p| if p.starts_with('{') { "x" } else { p })
            .collect::<Vec<_>>()
            .join("/");
        let method = route.method.as_str().to_string();
        let call = |token: Option<&'static str>| {
            let (path, method) = (path.clone(), method.clone());
            move || http_as(addr, token, &method, &path, Some("{}")).0
        };
        let anonymous = tokio::task::spawn_blocking(call(None)).await.unwrap();
        match route.access {
            slacap::api::Access::Public => assert_ne!(anonymous, 401, "{path}"),
            slacap::api::Access::Role(role) => {
                assert_eq!(anonymous, 401, "{} {path} without a token", route.method);
                let below = match role {
                    Role::Viewer => None,
                    Role::Reviewer => Some(VIEWER_TOKEN),
                    Role::Admin => Some(REVIEWER_TOKEN),
                };
                if let Some(token) = below {
                    let status = tokio::task::spawn_blocking(call(Some(token)))
                        .await
                        .unwrap();
                    assert_eq!(status, 403, "{} {path} with a lesser role", route.method);
                }
            }
        }
    }
    // The scheme is case-insensitive.
    let lower = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET /api/v1/services HTTP/1.0\r\nAuthorization: bearer {VIEWER_TOKEN}\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    assert!(
        lower.starts_with("HTTP/1.0 200") || lower.starts_with("HTTP/1.1 200"),
        "{lower}"
    );

    // A route added without a declaration is refused, whatever the token.
    use axum::body::Body;
    use tower::ServiceExt;
    let undeclared = axum::Router::new().route(
        "/api/v1/secret",
        axum::routing::get(|| async { "the crown jewels" }),
    );
    let router = slacap::api::with_layers(
        undeclared,
        slacap::api::declared_routes(),
        running.state.clone(),
    );
    let request = axum::http::Request::get("/api/v1/secret")
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 403);
    running.run_until(async {}).await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_serves_https_from_the_configured_certificate() {
    let data = tempfile::tempdir().unwrap();
    let certs = make_certs(data.path());
    let tls = TlsFiles {
        cert: certs.cert.clone(),
        key: certs.key.clone(),
    };
    let running = start("hostile-https", data.path(), |s| s.api.tls = Some(tls)).await;
    assert_eq!(running.api_scheme(), "https");
    let addr = running.api_addr;
    let config = slacap::tls::client_config(Some(&certs.ca)).unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut stream = connector.connect(name, tcp).await.expect("TLS handshake");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(
            format!("GET /api/v1/services HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {VIEWER_TOKEN}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("payments"), "{text}");
    // Plain HTTP on the TLS port gets no answer.
    let plain = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).to_string()
    })
    .await
    .unwrap();
    assert!(!plain.contains("ok"), "{plain}");
    running.run_until(async {}).await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_review_journal_is_reported_at_its_first_broken_link() {
    use slacap::alert::register::{Register, ReviewRequest, ReviewStatus};
    let data = tempfile::tempdir().unwrap();
    let mut register = Register::open(data.path()).unwrap();
    for breach in ["b1", "b2", "b3"] {
        let request: ReviewRequest = serde_json::from_value(serde_json::json!({
            "reviewer": "Service manager", "status": "acknowledged"
        }))
        .unwrap();
        register.append(breach, request, "ann", 1).unwrap();
    }
    let journal = register.journal().to_path_buf();
    drop(register);
    let running = start("hostile-journal", data.path(), |_| {}).await;
    let (status, report) = get_json(running.api_addr, "/api/v1/reviews/verify").await;
    assert_eq!(status, 200);
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["entries"], 3);
    // Someone with disk access rewrites who recorded the second entry.
    let text = std::fs::read_to_string(&journal).unwrap();
    let tampered: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 1 {
                l.replace("\"ann\"", "\"bob\"")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&journal, tampered.join("\n") + "\n").unwrap();
    let (_, report) = get_json(running.api_addr, "/api/v1/reviews/verify").await;
    assert_eq!(report["intact"], false, "{report}");
    assert_eq!(report["first_broken"]["line"], 3, "{report}");
    running.run_until(async {}).await.expect("clean stop");
    let _ = ReviewStatus::Open;
}

//! Webhook delivery through the real broker to a real HTTP receiver on 127.0.0.1: with the
//! receiver down, ingest goes on and the alerts wait in the outbox; `slacap run` is killed
//! (SIGKILL) and restarted; when the receiver comes up, every alert on the alerts topic arrives
//! exactly once, with a valid HMAC-SHA256 signature and its id as the idempotency key.

mod common;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::*;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use slacap::demo::generator::generate_month;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "webhook-test-secret-0123456789";

/// What the receiver got: (idempotency key, signature header, body).
type Deliveries = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

async fn hook(State(got): State<Deliveries>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    got.lock().unwrap().push((
        header("idempotency-key"),
        header("x-slacap-signature"),
        body.to_vec(),
    ));
    StatusCode::OK
}

fn pending(data: &std::path::Path) -> usize {
    std::fs::read_dir(data.join("outbox/ops/pending")).map_or(0, |d| {
        d.filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
        })
        .count()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_a_webhook_once_signed_across_an_outage_and_a_kill() {
    let broker = TestBroker::real();
    let topics = unique_topics("webhook");
    broker.create_topics(&topics).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    // A port with nothing listening yet: the receiver is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = run_config(
        dir.path(),
        &broker,
        &topics,
        &format!(
            r#"
[alerts]
max_backoff = "1s"
# The receiver stays down for minutes here: with one try a second, the default 100 tries would
# move the oldest alert to failed/ before it comes up.
max_attempts = 1000000
[[alerts.webhooks]]
name = "ops"
url = "http://127.0.0.1:{port}/hook"
secret = "{SECRET}"
"#
        ),
    );

    let messages = generate_month(2026, 11).expect("month");
    // This deployment has run live since before the month: its breaches' reviews came due
    // while it ran, so the overdue ones are alerted (a backfill's would not be).
    std::fs::create_dir_all(data.join("reviews")).unwrap();
    let live_since = slacap::model::parse_rfc3339("2026-11-01T00:00:00Z").unwrap();
    std::fs::write(data.join("reviews/live_since"), live_since.to_string()).unwrap();
    let mut child = start_slacap(&config, &dir.path().join("run1.log"));
    slacap::demo::produce(&broker.bootstrap(), &topics, &messages)
        .await
        .expect("produce");
    // Ingest does not wait for the webhook: the whole month becomes durable while it is down.
    wait_until_durable(
        &data,
        messages.len(),
        Duration::from_secs(240),
        "ingest stalled while the webhook was down",
    )
    .await;
    // The month's findings follow once the quiet partitions release the watermark.
    let start = Instant::now();
    while pending(&data) <= 50 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "alerts wait in the outbox ({})",
            pending(&data)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    // Restarted, still without a receiver; then the receiver comes up.
    let mut child = start_slacap(&config, &dir.path().join("run2.log"));
    // The restarted pipeline closes the month (and raises what the killed one had not) once its
    // quiet partitions release the watermark.
    let month_closed = slacap::model::parse_rfc3339("2026-11-30T23:50:00Z").unwrap();
    let start = Instant::now();
    while checkpoint(&data)
        .and_then(|cp| cp.watermark)
        .is_none_or(|w| w < month_closed)
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the month did not close"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got: Deliveries = Arc::default();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("receiver binds its port");
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(got.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let start = Instant::now();
    while pending(&data) > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{} alerts still pending",
            pending(&data)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the periodic checks raise theirs (overdue reviews, problem candidates, capacity
    // exhaustion after the restart's refit, which a slow machine takes a while over), then let
    // their alerts drain too. Missing kinds fail below.
    let periodic = [
        "review-overdue:",
        "problem-candidate:",
        "capacity-exhaustion:",
    ];
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(120) {
        let seen = got.lock().unwrap().clone();
        if periodic
            .iter()
            .all(|kind| seen.iter().any(|(key, _, _)| key.contains(kind)))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start = Instant::now();
    while pending(&data) > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "alerts still pending"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    child.kill().ok();
    child.wait().ok();
    server.abort();
    let failed = std::fs::read_dir(data.join("outbox/ops/failed")).map_or(0, |d| d.count());
    assert_eq!(failed, 0, "alerts moved to failed/");

    let got = got.lock().unwrap().clone();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (key, signature, body) in &got {
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(body);
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            signature,
            &format!("sha256={expected}"),
            "signature of {key}"
        );
        let value: serde_json::Value = serde_json::from_slice(body).expect("JSON body");
        assert_eq!(value["id"], key.as_str());
        assert!(
            value["summary"].is_string() && value["alert"].is_object(),
            "{value}"
        );
        *counts.entry(key.clone()).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");

    // Every alert on the topic reached the webhook, and nothing else did.
    let read = read_topic(
        &broker.bootstrap(),
        &topics.alerts,
        usize::MAX,
        Duration::from_secs(30),
    );
    let on_topic: BTreeSet<String> = read.iter().filter_map(|(key, _, _)| key.clone()).collect();
    let delivered: BTreeSet<String> = counts.into_keys().collect();
    assert!(
        on_topic.len() > 50,
        "{} alerts on the topic",
        on_topic.len()
    );
    assert_eq!(
        delivered
            .symmetric_difference(&on_topic)
            .collect::<Vec<_>>(),
        Vec::<&String>::new()
    );
    for kind in [
        ":response",
        "review-overdue:",
        "problem-candidate:",
        "capacity-exhaustion:",
    ] {
        assert!(
            delivered.iter().any(|id| id.contains(kind)),
            "{kind} alerts are among them"
        );
    }
}

//! An unanswered P1 with no other traffic: once every partition is idle, the watermark follows
//! the wall clock, and the breach reaches the webhook within target + allowed lateness + 5 s.

mod common;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::*;
use slacap::config::{Catalogue, Config, Webhook, WebhookFormat};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CATALOGUE: &str = r#"
[[service]]
id = "payments"
name = "Payments"

[[ticket_policy]]
type = "incident"
priority = "P1"
response = "10s"
resolution = "1h"
"#;

type Keys = Arc<Mutex<Vec<(String, Instant)>>>;

async fn hook(State(keys): State<Keys>, headers: HeaderMap) -> StatusCode {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    keys.lock().unwrap().push((key, Instant::now()));
    StatusCode::OK
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unanswered_p1_breaches_on_the_wall_clock_without_other_traffic() {
    let keys: Keys = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(keys.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let broker = TestBroker::real();
    let topics = unique_topics("quiet-stream");
    broker.create_topics(&topics).await;
    let data = tempfile::tempdir().unwrap();
    let mut config = Arc::unwrap_or_clone(config_for(&broker, &topics, data.path(), "quiet"));
    config.catalogue = toml::from_str::<Catalogue>(CATALOGUE).unwrap();
    let s = &mut config.settings;
    s.pipeline.idle_watermark_follows_clock = true;
    s.pipeline.allowed_lateness = Duration::from_secs(2);
    s.pipeline.idle_partition_timeout = Duration::from_secs(1);
    s.pipeline.batch_max_wait = Duration::from_millis(200);
    s.alerts.webhooks = vec![Webhook {
        name: "ops".into(),
        url: format!("http://{hook_addr}/hook"),
        secret: "quiet-stream-secret-0123".into(),
        ca_file: None,
        format: WebhookFormat::Json,
    }];
    let config: Arc<Config> = Arc::new(config);
    let running = slacap::app::start(config).await.expect("start");

    let created = chrono::Utc::now();
    let event = serde_json::json!({
        "time": created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "ticket": "INC-1", "type": "incident", "service": "payments",
        "priority": "P1", "status": "new",
    });
    let producer: rdkafka::producer::FutureProducer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .expect("producer");
    let payload = event.to_string();
    producer
        .send(
            rdkafka::producer::FutureRecord::to(&topics.tickets)
                .key("payments")
                .payload(&payload),
            Duration::from_secs(10),
        )
        .await
        .expect("produced");
    let produced = Instant::now();
    // Target 10 s + lateness 2 s + 5 s.
    let deadline = Duration::from_secs(17);
    let arrived = eventually(Duration::from_secs(60), "the breach on the webhook", || {
        keys.lock()
            .unwrap()
            .iter()
            .find(|(k, _)| k == "INC-1:response")
            .map(|(_, at)| *at)
    })
    .await;
    let took = arrived.duration_since(produced);
    assert!(took <= deadline, "the breach arrived after {took:?}");
    assert!(
        took >= Duration::from_secs(9),
        "not before the target ran out: {took:?}"
    );
    running.run_until(async {}).await.expect("clean stop");
}

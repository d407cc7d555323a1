//! Alert latency: from the moment the event that reveals a breach is produced to the moment a
//! webhook receiver on 127.0.0.1 has the alert, while the pipeline ingests a background load at
//! half its measured maximum rate (0.23 M events/s: half of the 0.46 M events/s end to end of
//! `benches/pipeline.rs` on the Delta history; `SLACAP_BENCH_RATE` overrides it).
//!
//! Event time is the wall clock. A P1 incident is opened every 100 ms with a 2-second response
//! target and never acknowledged, so each one breaches 2 s after it opened. slacap finds a
//! breach when the watermark passes that instant; with `allowed_lateness = "0s"`, the tickets
//! partition (the slowest) moves the watermark, so the event that reveals ticket k's breach is
//! the first ticket event stamped at or after its breach instant. Latency = receipt of the
//! alert − production of that event. Needs the test broker (`scripts/bench.sh alerts`).

mod common;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use rdkafka::producer::{FutureProducer, FutureRecord};
use slacap::config::{Catalogue, Config, Webhook, WebhookFormat};
use slacap::model::format_rfc3339;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CATALOGUE: &str = r#"
[[service]]
id = "bench"
name = "Benchmark service"
  [[service.component]]
  id = "web"
  resource = "cpu_utilization"
  capacity = 1.0
  threshold = 0.8

[[ticket_policy]]
type = "incident"
priority = "P1"
response = "2s"
resolution = "1h"
"#;

const TARGET: Duration = Duration::from_secs(2);
const TICKET_EVERY: Duration = Duration::from_millis(100);
const RUN_FOR: Duration = Duration::from_secs(30);
const EVENTS_PER_MESSAGE: usize = 80;

type Receipts = Arc<Mutex<HashMap<String, Instant>>>;

async fn hook(State(got): State<Receipts>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
        && let Some(id) = v["id"].as_str()
    {
        got.lock().unwrap().entry(id.to_string()).or_insert(at);
    }
    StatusCode::OK
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let brokers = std::env::var("SLACAP_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let rate: f64 = std::env::var("SLACAP_BENCH_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(230_000.0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // The default batch wait, and the earlier default: a batch is flushed when it is full or
    // this old.
    for wait in [200, 500] {
        runtime.block_on(run(&brokers, rate, Duration::from_millis(wait)));
    }
}

async fn run(brokers: &str, rate: f64, batch_max_wait: Duration) {
    let name = format!(
        "latency-{}-{}",
        std::process::id(),
        batch_max_wait.as_millis()
    );
    let topics = common::create_topics(brokers, &name, 1).await;

    let receipts: Receipts = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(receipts.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let data = tempfile::tempdir().expect("temp dir");
    let mut settings = slacap::demo::settings_for(
        brokers.to_string(),
        &format!("{name}-group"),
        topics.clone(),
        data.path().to_path_buf(),
        "127.0.0.1:0".parse().unwrap(),
    );
    settings.pipeline.allowed_lateness = Duration::ZERO;
    settings.pipeline.batch_max_wait = batch_max_wait;
    settings.alerts.webhooks = vec![Webhook {
        name: "bench".into(),
        url: format!("http://{hook_addr}/hook"),
        secret: "benchmark-secret-0123456789".into(),
        ca_file: None,
        format: WebhookFormat::Json,
    }];
    let catalogue: Catalogue = toml::from_str(CATALOGUE).expect("catalogue");
    let config = Arc::new(Config {
        settings,
        catalogue,
        source: "<bench>".into(),
    });
    let running = slacap::app::start(config.clone())
        .await
        .expect("slacap starts");
    let producer: FutureProducer = slacap::ingest::producer_config(&config.settings.kafka)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer");
    // Wait for the consumer to hold its partitions.
    while !running
        .state
        .pipeline
        .assigned
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Background load: arrays of metric samples stamped with the wall clock, paced every 10 ms.
    let load = {
        let producer = producer.clone();
        let topic = topics.metrics.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut sent_events = 0usize;
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            while started.elapsed() < RUN_FOR + TARGET * 2 {
                tick.tick().await;
                let due = (started.elapsed().as_secs_f64() * rate) as usize;
                while sent_events + EVENTS_PER_MESSAGE <= due {
                    // Written by hand, not through serde_json::Value: the generator shares
                    // the machine with slacap and should take as little of it as it can.
                    let at = format_rfc3339(now_micros());
                    let mut payload = String::with_capacity(EVENTS_PER_MESSAGE * 110);
                    for i in 0..EVENTS_PER_MESSAGE {
                        payload.push(if i == 0 { '[' } else { ',' });
                        let value = (i % 100) as f64 / 100.0;
                        let _ = write!(
                            payload,
                            r#"{{"time":"{at}","service":"bench","component":"web","metric":"cpu_utilization","value":{value}}}"#
                        );
                    }
                    payload.push(']');
                    let record = FutureRecord::to(&topic).key("bench").payload(&payload);
                    if producer.send_result(record).is_err() {
                        break; // queue full: this tick falls behind, the next catches up
                    }
                    sent_events += EVENTS_PER_MESSAGE;
                }
            }
            sent_events as f64 / started.elapsed().as_secs_f64()
        })
    };

    // Tickets: (id, event time, production instant), one every 100 ms.
    let mut tickets: Vec<(String, i64, Instant)> = Vec::new();
    let started = Instant::now();
    let mut tick = tokio::time::interval(TICKET_EVERY);
    let mut k = 0;
    while started.elapsed() < RUN_FOR + TARGET * 2 {
        tick.tick().await;
        k += 1;
        let id = format!("INC-{k}");
        let time = now_micros();
        let payload = serde_json::json!({"time": format_rfc3339(time), "ticket": id, "type": "incident", "service": "bench", "priority": "P1", "status": "new"}).to_string();
        let record = FutureRecord::to(&topics.tickets)
            .key("bench")
            .payload(&payload);
        let produced = Instant::now();
        if producer.send(record, Duration::from_secs(5)).await.is_ok() {
            tickets.push((id, time, produced));
        }
    }
    let load_rate = load.await.expect("load");
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Ticket k breaches at its event time + TARGET; the first later-stamped ticket event reveals
    // it. Tickets of the last 2 s have no such event and are left out.
    let got = receipts.lock().unwrap().clone();
    let mut latencies: Vec<f64> = Vec::new();
    let mut missing = 0;
    for (id, time, _) in &tickets {
        let breach_at = time + TARGET.as_micros() as i64;
        let Some((_, _, revealed_by)) = tickets.iter().find(|(_, t, _)| *t >= breach_at) else {
            continue;
        };
        match got.get(&format!("{id}:response")) {
            Some(received) => latencies.push(
                received
                    .saturating_duration_since(*revealed_by)
                    .as_secs_f64(),
            ),
            None => missing += 1,
        }
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize] * 1000.0;
    println!(
        "\n[pipeline.batch_max_wait = {batch_max_wait:?}] background load {:.0} events/s (target {rate:.0}); {} breaches measured, {missing} not received",
        load_rate,
        latencies.len()
    );
    if !latencies.is_empty() {
        println!(
            "alert latency, breach-revealing event produced -> webhook received: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            at(0.5),
            at(0.9),
            at(0.99),
            at(1.0)
        );
    }
    running.run_until(async {}).await.expect("clean shutdown");
}

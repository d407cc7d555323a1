//! End-to-end throughput: Kafka → decode → SLA state → Parquet (durable, checkpointed), next to
//! the raw consume rate of the same messages from the same broker, and Parquet bytes per metric
//! point.
//!
//! Needs a Kafka-protocol broker (the mock cluster keeps only 5 MB per partition, too little):
//! `scripts/bench.sh` starts the test broker and runs `cargo bench --bench pipeline`.
//! Set SLACAP_BENCH_MONTHS (default 3) to change the volume, and SLACAP_BENCH_S3=<endpoint>
//! (`scripts/bench.sh s3` sets it) to keep the history in a bucket of that S3 server.

mod common;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use slacap::config::{Config, KafkaSettings, Topics};
use slacap::demo::generator::{Message as Msg, generate_month};
use slacap::ingest::{IngestContext, consumer_config};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// CPU seconds (user + system, all threads) this process has used so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of /proc/<pid>/stat; after the ')' they are 12 and 13.
    (ticks(11) + ticks(12)) / 100.0
}

fn events_in(messages: &[Msg]) -> u64 {
    messages
        .iter()
        .map(|m| {
            serde_json::from_slice::<serde_json::Value>(&m.payload)
                .ok()
                .map_or(0, |v| v.as_array().map_or(1, Vec::len) as u64)
        })
        .sum()
}

struct Measure {
    wall: f64,
    cpu: f64,
}

async fn raw_consume(brokers: &str, topics: &Topics, expected: usize) -> Measure {
    let kafka = KafkaSettings {
        brokers: brokers.to_string(),
        group_id: format!("{}-raw", topics.metrics),
        topics: topics.clone(),
        session_timeout: Duration::from_secs(6),
        client: Default::default(),
    };
    let assigned = Arc::new(AtomicBool::new(false));
    let context = IngestContext {
        assigned: assigned.clone(),
        counters: Default::default(),
        assignment: Default::default(),
        high_watermarks: Default::default(),
    };
    let consumer: StreamConsumer<IngestContext> = consumer_config(&kafka)
        .create_with_context(context)
        .expect("consumer");
    consumer
        .subscribe(&[&topics.metrics, &topics.tickets])
        .expect("subscribe");
    let mut received = Vec::with_capacity(expected);
    // Timed from the same instant as the pipeline: the partitions are assigned.
    let first = consumer.recv().await.expect("first message");
    while !assigned.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (start, cpu) = (Instant::now(), cpu_seconds());
    received.push(first.payload().map(<[u8]>::to_vec));
    while received.len() < expected {
        let m = consumer.recv().await.expect("message");
        // The pipeline copies each payload off the consumer too.
        received.push(m.payload().map(<[u8]>::to_vec));
    }
    Measure {
        wall: start.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - cpu,
    }
}

async fn pipeline(
    brokers: &str,
    topics: &Topics,
    expected: usize,
    data: &std::path::Path,
    history: &slacap::store::HistoryLocation,
) -> Measure {
    let mut settings = slacap::demo::settings_for(
        brokers.to_string(),
        &format!("{}-pipeline", topics.metrics),
        topics.clone(),
        data.to_path_buf(),
        "127.0.0.1:0".parse().expect("addr"),
    );
    // The default batch bounds; SLACAP_BENCH_BATCH_BYTES=<n> tries another byte bound.
    if let Some(bytes) = std::env::var("SLACAP_BENCH_BATCH_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        settings.pipeline.batch_max_bytes = bytes;
    }
    settings.history.resolved = Some(history.clone());
    let config = Arc::new(Config {
        settings,
        catalogue: slacap::demo::sample_catalogue().expect("catalogue"),
        source: "<bench>".into(),
    });
    let running = slacap::app::start(config).await.expect("start");
    let counters = running.state.pipeline.counters.clone();
    while !running.state.pipeline.assigned.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (start, cpu) = (Instant::now(), cpu_seconds());
    // Stops when the last record's batch is committed to the Delta history and checkpointed.
    while counters.records_durable_total.load(Ordering::Relaxed) < expected as u64 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let measure = Measure {
        wall: start.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - cpu,
    };
    running.run_until(async {}).await.expect("shutdown");
    measure
}

/// The same events with one event per Kafka message (how many monitoring agents send them).
fn one_event_per_message(messages: &[Msg]) -> Vec<Msg> {
    let mut out = Vec::new();
    for m in messages {
        match serde_json::from_slice::<serde_json::Value>(&m.payload) {
            Ok(serde_json::Value::Array(items)) => {
                for item in items {
                    out.push(Msg {
                        payload: item.to_string().into_bytes(),
                        ..m.clone()
                    });
                }
            }
            _ => out.push(m.clone()),
        }
    }
    out
}

async fn run_case(brokers: &str, name: &str, messages: &[Msg]) {
    let events = events_in(messages);
    let topics = common::create_topics(brokers, &format!("{name}-{}", std::process::id()), 3).await;
    slacap::demo::produce(brokers, &topics, messages)
        .await
        .expect("produce");
    println!(
        "\n[{name}] {} messages, {} events on {brokers}",
        messages.len(),
        events
    );

    let raw = raw_consume(brokers, &topics, messages.len()).await;
    // SLACAP_BENCH_KEEP=<dir> keeps the history in <dir>/<case> for inspection.
    let data = match std::env::var_os("SLACAP_BENCH_KEEP") {
        Some(dir) => tempfile::Builder::new()
            .prefix(name)
            .disable_cleanup(true)
            .tempdir_in(dir)
            .expect("kept dir"),
        None => tempfile::tempdir().expect("temp dir"),
    };
    let history = match std::env::var("SLACAP_BENCH_S3") {
        Ok(endpoint) => s3_history(&endpoint, name),
        Err(_) => slacap::store::HistoryLocation::local(&data.path().join("history")),
    };
    println!("history at {}", history.url());
    let full = pipeline(brokers, &topics, messages.len(), data.path(), &history).await;
    let metric_rows: u64 = messages
        .iter()
        .filter(|m| m.stream == slacap::model::StreamKind::Metrics)
        .map(|m| events_in(std::slice::from_ref(m)))
        .sum();
    // What stays: the closed days compacted (sorted, one file per day), superseded files gone.
    let store = slacap::store::HistoryStore::reader_at(data.path(), history.clone());
    let metric_bytes: u64 = store
        .files_by_day(slacap::store::Table::Metrics)
        .expect("files")
        .iter()
        .map(|f| f.size)
        .sum();
    let policy = slacap::store::MaintenancePolicy {
        vacuum_grace: Duration::ZERO,
        ..Default::default()
    };
    let compact_started = Instant::now();
    let compacted = tokio::task::spawn_blocking(move || {
        store.maintain(&policy, i64::MAX / 2, i64::MAX / 2)?;
        store.files_by_day(slacap::store::Table::Metrics)
    })
    .await
    .expect("maintenance thread")
    .expect("maintenance");
    let compact_seconds = compact_started.elapsed().as_secs_f64();
    let compacted_bytes: u64 = compacted.iter().map(|f| f.size).sum();

    let rate = |m: &Measure| (events as f64 / m.wall, events as f64 / m.cpu.max(1e-9));
    let (raw_wall, raw_cpu) = rate(&raw);
    let (full_wall, full_cpu) = rate(&full);
    println!(
        "raw consume : {raw_wall:>10.0} events/s wall, {raw_cpu:>10.0} events per CPU-second ({:.2}s wall, {:.2}s CPU)",
        raw.wall, raw.cpu
    );
    println!(
        "end to end  : {full_wall:>10.0} events/s wall, {full_cpu:>10.0} events per CPU-second ({:.2}s wall, {:.2}s CPU)",
        full.wall, full.cpu
    );
    println!(
        "end to end / raw consume (wall): {:.2}",
        full_wall / raw_wall
    );
    println!(
        "history as ingested: {metric_bytes} bytes for {metric_rows} metric points = {:.2} bytes per point",
        metric_bytes as f64 / metric_rows as f64
    );
    println!(
        "history compacted  : {compacted_bytes} bytes in {} files = {:.2} bytes per point (compaction {compact_seconds:.2}s)",
        compacted.len(),
        compacted_bytes as f64 / metric_rows as f64
    );
}

/// A new bucket on the S3-compatible server at `endpoint` (moto's: `scripts/test-s3.sh start`;
/// credentials from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, any value).
fn s3_history(endpoint: &str, case: &str) -> slacap::store::HistoryLocation {
    use std::io::{Read, Write};
    let host = endpoint.trim_start_matches("http://");
    let bucket = format!("slacap-bench-{case}-{}", std::process::id());
    let mut stream = std::net::TcpStream::connect(host).expect("the S3 server");
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("create bucket");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("bucket created");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let settings = slacap::store::S3Settings {
        endpoint: Some(endpoint.to_string()),
        region: Some("us-east-1".into()),
        allow_http: Some(true),
    };
    slacap::store::HistoryLocation::parse(&format!("s3://{bucket}/slacap"), &settings)
        .expect("an S3 location")
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the list of benchmarks
    }
    // RUST_LOG=slacap::ingest=debug prints each batch's stage times.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let brokers = std::env::var("SLACAP_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let months: u32 = std::env::var("SLACAP_BENCH_MONTHS")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(3);
    // One async worker: the pipeline's CPU work runs on one blocking thread besides it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut messages = Vec::new();
        // The months that end with 2026-11: all in the past, so none is refused as too far
        // ahead of the wall clock (`pipeline.max_clock_skew`).
        for back in (0..months as i32).rev() {
            let index = 2026 * 12 + 10 - back;
            messages.extend(generate_month(index / 12, (index % 12) as u32 + 1).expect("month"));
        }
        println!("{months} months of the sample catalogue");
        // SLACAP_BENCH_CASES=arrays (or single) runs one case only.
        let cases = std::env::var("SLACAP_BENCH_CASES").unwrap_or_default();
        if cases.is_empty() || cases.contains("arrays") {
            run_case(&brokers, "arrays", &messages).await;
        }
        if cases.is_empty() || cases.contains("single") {
            run_case(&brokers, "single", &one_event_per_message(&messages)).await;
        }
    });
}

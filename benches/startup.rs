//! Start-up after months of history: the demo's rates for 1 and for 12 months are ingested
//! through the test broker into a fresh history (stopped cleanly, so a snapshot is written at
//! shutdown); then a fresh process starts on that history and the benchmark reports how long
//! until `/healthz` would say ready and the process's peak RSS. For 12 months it also starts
//! once with the snapshots removed (the whole raw history replayed) and measures one late
//! metric sample six months back: from its production until its batch is durable (the rebuild
//! from the snapshot before its day, the corrected derived rows committed).
//!
//! `scripts/bench.sh startup` starts the test broker and runs `cargo bench --bench startup`.
//! The measured start runs in a child process (this binary again, with
//! `SLACAP_STARTUP_CHILD` set), so its peak RSS is its own.

mod common;

use slacap::config::{Config, Topics};
use slacap::demo::generator::{Message as Msg, generate_month};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn config(brokers: &str, topics: &Topics, data: &std::path::Path) -> Arc<Config> {
    let mut settings = slacap::demo::settings_for(
        brokers.to_string(),
        &format!("{}-startup", topics.metrics),
        topics.clone(),
        data.to_path_buf(),
        "127.0.0.1:0".parse().expect("addr"),
    );
    settings.pipeline.batch_max_records = 100_000;
    // Some ticket partitions get no events; they stop holding the watermark after this, as
    // they would within the first minute of a live stream.
    settings.pipeline.idle_partition_timeout = Duration::from_secs(1);
    Arc::new(Config {
        settings,
        catalogue: slacap::demo::sample_catalogue().expect("catalogue"),
        source: "<bench>".into(),
    })
}

/// The `months` months that end with 2026-11 (all in the past, inside `max_clock_skew`).
fn months_ending_november(months: u32) -> Vec<Msg> {
    let mut messages = Vec::new();
    for back in (0..months as i32).rev() {
        let index = 2026 * 12 + 10 - back; // 2026-11 is month index 10 of 2026
        let (y, m) = (index / 12, (index % 12) as u32 + 1);
        messages.extend(generate_month(y, m).expect("month"));
    }
    messages
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn ingest(config: Arc<Config>, expected: u64) {
    let running = slacap::app::start(config).await.expect("start");
    let counters = running.state.pipeline.counters.clone();
    while counters.records_durable_total.load(Ordering::Relaxed) < expected {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Stop as a live stream would be found: the watermark at the end of the data (without
    // one, nothing is final and nothing leaves memory), and the batch that moved it durable.
    let end = slacap::model::parse_rfc3339("2026-11-30T23:00:00Z").expect("time");
    let engine = running.state.pipeline.engine.clone();
    while engine
        .read()
        .expect("engine")
        .watermark()
        .is_none_or(|w| w < end)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.run_until(async {}).await.expect("shutdown");
}

/// In the child: start on the history, wait until ready, report; optionally send one late
/// sample and time it.
async fn child(brokers: String, topics: Topics, data: std::path::PathBuf, late: bool) {
    let config = config(&brokers, &topics, &data);
    let started = Instant::now();
    let running = slacap::app::start(config).await.expect("start");
    let listening = started.elapsed();
    running.ready().await;
    let ready = started.elapsed();
    let replayed = running.state.pipeline.startup.replayed();
    let rss = peak_rss_kib();
    let mut late_ms = -1.0;
    if late {
        while !running.state.pipeline.assigned.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let counters = running.state.pipeline.counters.clone();
        let before = counters.records_durable_total.load(Ordering::Relaxed);
        let at = slacap::model::parse_rfc3339("2026-05-20T12:00:30Z").expect("time");
        let payload = serde_json::json!({
            "time": slacap::model::format_rfc3339(at),
            "service": "payments",
            "metric": "up",
            "value": 0.0,
        });
        let message = Msg {
            stream: slacap::model::StreamKind::Metrics,
            key: "payments".into(),
            payload: payload.to_string().into_bytes(),
            time: at,
        };
        let sent = Instant::now();
        slacap::demo::produce(&brokers, &topics, &[message])
            .await
            .expect("produce");
        while counters.records_durable_total.load(Ordering::Relaxed) <= before {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        late_ms = sent.elapsed().as_secs_f64() * 1000.0;
    }
    println!(
        "RESULT listening_ms={:.0} ready_ms={:.0} replayed={replayed} peak_rss_mib={:.0} late_ms={late_ms:.0}",
        listening.as_secs_f64() * 1000.0,
        ready.as_secs_f64() * 1000.0,
        rss as f64 / 1024.0
    );
    running.run_until(async {}).await.expect("shutdown");
}

fn measure(brokers: &str, topics: &Topics, data: &std::path::Path, late: bool) -> String {
    let output = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env("SLACAP_STARTUP_CHILD", data)
        .env("SLACAP_STARTUP_BROKERS", brokers)
        .env("SLACAP_STARTUP_TOPIC_PREFIX", &topics.metrics)
        .env("SLACAP_STARTUP_LATE", if late { "1" } else { "0" })
        .output()
        .expect("child runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .expect("a RESULT line")
        .to_string()
}

fn topics_from_metrics(metrics: &str) -> Topics {
    let stem = metrics.strip_suffix(".metrics").expect("bench topic");
    Topics {
        metrics: metrics.to_string(),
        tickets: format!("{stem}.tickets"),
        dead_letter: format!("{stem}.dead-letter"),
        alerts: format!("{stem}.alerts"),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    if let Ok(data) = std::env::var("SLACAP_STARTUP_CHILD") {
        if std::env::var_os("RUST_LOG").is_some() {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_writer(std::io::stderr)
                .init();
        }
        let brokers = std::env::var("SLACAP_STARTUP_BROKERS").expect("brokers");
        let topics =
            topics_from_metrics(&std::env::var("SLACAP_STARTUP_TOPIC_PREFIX").expect("topics"));
        let late = std::env::var("SLACAP_STARTUP_LATE").is_ok_and(|v| v == "1");
        runtime.block_on(child(brokers, topics, data.into(), late));
        return;
    }
    let brokers = std::env::var("SLACAP_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    // SLACAP_STARTUP_MONTHS=12 measures one history only; SLACAP_STARTUP_KEEP=<dir> keeps the
    // histories there (to profile a start: run this binary with SLACAP_STARTUP_CHILD=<history>).
    let only: Option<u32> = std::env::var("SLACAP_STARTUP_MONTHS")
        .ok()
        .and_then(|m| m.parse().ok());
    for months in [1u32, 12]
        .into_iter()
        .filter(|m| only.is_none_or(|o| o == *m))
    {
        let messages = months_ending_november(months);
        let events: u64 = messages
            .iter()
            .map(
                |m| match serde_json::from_slice::<serde_json::Value>(&m.payload) {
                    Ok(serde_json::Value::Array(items)) => items.len() as u64,
                    _ => 1,
                },
            )
            .sum();
        let data = match std::env::var_os("SLACAP_STARTUP_KEEP") {
            Some(dir) => tempfile::Builder::new()
                .prefix(&format!("months{months}-"))
                .disable_cleanup(true)
                .tempdir_in(dir)
                .expect("kept dir"),
            None => tempfile::tempdir().expect("temp dir"),
        };
        println!("history in {}", data.path().display());
        let topics = runtime.block_on(async {
            let topics = common::create_topics(
                &brokers,
                &format!("startup{months}-{}", std::process::id()),
                3,
            )
            .await;
            slacap::demo::produce(&brokers, &topics, &messages)
                .await
                .expect("produce");
            let started = Instant::now();
            ingest(
                config(&brokers, &topics, data.path()),
                messages.len() as u64,
            )
            .await;
            println!(
                "\n[{months} month(s)] {} messages, {events} events ingested in {:.1}s",
                messages.len(),
                started.elapsed().as_secs_f64()
            );
            topics
        });
        println!("topics {}", topics.metrics);
        // A live history is compacted every `maintenance_every` as its days close; the
        // backfill above wrote a year in a few minutes, so its round runs here.
        let compacting = Instant::now();
        let store = slacap::store::HistoryStore::reader(data.path());
        let policy = slacap::store::MaintenancePolicy {
            vacuum_grace: Duration::ZERO,
            ..Default::default()
        };
        let report = store
            .maintain(&policy, i64::MAX / 2, i64::MAX / 2)
            .expect("maintenance");
        println!(
            "maintenance: {} days compacted, {} files vacuumed, {:.1}s",
            report.days_compacted,
            report.files_vacuumed,
            compacting.elapsed().as_secs_f64()
        );
        let snapshots = std::fs::read_dir(data.path().join("history/_snapshots"))
            .map(|d| d.count())
            .unwrap_or(0);
        println!("snapshots kept: {snapshots}");
        println!(
            "start from snapshot : {}",
            measure(&brokers, &topics, data.path(), months == 12)
        );
        if months == 12 {
            let _ = std::fs::remove_dir_all(data.path().join("history/_snapshots"));
            println!(
                "start, full replay  : {}",
                measure(&brokers, &topics, data.path(), false)
            );
        }
    }
}

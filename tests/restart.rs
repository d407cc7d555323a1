//! Crash safety: `slacap run` is killed (SIGKILL, no shutdown) in the middle of a stream and
//! started again; every produced record must be in the history exactly once.

mod common;

use common::*;
use slacap::demo::generator::generate_month;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pipeline_resumes_without_losing_or_doubling_records() {
    let lost = killed_and_restarted("restart", "").await;
    assert!(
        lost.is_empty(),
        "breaches differ after the restart: {lost:?}"
    );
}

/// The same with the history in a bucket of the test S3 server (`history.location`): the
/// commits, their `txn`, the snapshots and the restart's rebuild all go through S3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pipeline_on_an_s3_history_resumes_without_losing_or_doubling_records() {
    let (endpoint, bucket) = s3_bucket();
    let extra = format!(
        r#"
[history]
location = "s3://{bucket}/slacap"
[history.s3]
endpoint = "{endpoint}"
region = "us-east-1"
allow_http = true
"#
    );
    let lost = killed_and_restarted("restart-s3", &extra).await;
    assert!(
        lost.is_empty(),
        "breaches differ after the restart: {lost:?}"
    );
}

/// Runs `slacap run` with the settings `extra` adds, kills it (SIGKILL) mid-stream, starts it
/// again, and checks that every produced event is in the history exactly once and no derived
/// row doubles. Returns how the `breaches` table differs from the breaches a rebuild from the
/// history yields (`missing <id>`, `extra <id>`). The local and the S3 variant run one after the other: each drives a `slacap
/// run` process, the broker and (for S3) the S3 server, which on two cores starve each other.
/// Starved partitions go idle, so the restarted run sees late events and corrects the history
/// many times: the comparison covers corrections too.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn killed_and_restarted(name: &str, extra: &str) -> Vec<String> {
    let _turn = ONE_AT_A_TIME.lock().await;
    let broker = TestBroker::real();
    let topics = unique_topics(name);
    broker.create_topics(&topics).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let config = run_config(dir.path(), &broker, &topics, extra);
    let history = {
        let config = slacap::config::Config::load(&config).expect("config");
        slacap::store::HistoryStore::reader_for(&config.settings)
    };

    let messages = generate_month(2026, 11).expect("month");
    let (first_half, second_half) = messages.split_at(messages.len() / 2);
    let mut child = start_slacap(&config, &dir.path().join("run1.log"));
    slacap::demo::produce(&broker.bootstrap(), &topics, first_half)
        .await
        .expect("produce");

    // Kill it hard once a few batches are durable, while records are still in flight.
    let start = Instant::now();
    let at_kill = loop {
        if let Some(cp) = checkpoint(&data).filter(|cp| cp.seq >= 3) {
            child.kill().expect("SIGKILL");
            break cp;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no durable batch within 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    child.wait().expect("reaped");
    let durable_at_kill = durable_records(&at_kill);
    assert!(
        durable_at_kill < first_half.len() as i64,
        "killed mid-stream ({durable_at_kill} of {} durable)",
        first_half.len()
    );

    let mut child = start_slacap(&config, &dir.path().join("run2.log"));
    slacap::demo::produce(&broker.bootstrap(), &topics, second_half)
        .await
        .expect("produce");
    // Starved partitions make the restarted run correct the history again and again, and each
    // correction rebuilds from the history (in S3: many requests to the local S3 server, on the
    // same two cores): catching up can take minutes. The test is about what ends up durable.
    wait_until_durable(
        &data,
        messages.len(),
        Duration::from_secs(480),
        "the restarted pipeline did not catch up",
    )
    .await;
    // The state rebuilt from the history (a snapshot no late event follows, and the raw events
    // after it), advanced as far as its events allow.
    let replayed = {
        let config = slacap::config::Config::load(&config).expect("config");
        tokio::task::spawn_blocking(move || slacap::recompute::engine_from_history(&config))
            .await
            .unwrap()
            .expect("replay")
    };
    // The month's last clocks are decided only once the stream's watermark gets there (its
    // idle partitions stop holding it back a few seconds after the last record): the stream
    // is compared once it has, not at the instant its last record is durable.
    let end = replayed.watermark().expect("a replayed watermark");
    eventually(
        Duration::from_secs(60),
        "the stream's watermark to reach the replay's",
        || {
            checkpoint(&data)
                .and_then(|cp| cp.watermark)
                .filter(|w| *w >= end)
        },
    )
    .await;
    child.kill().ok();
    child.wait().ok();

    // Exactly once: as many rows as events produced, and no event twice.
    let (mut metric_events, mut ticket_events) = (0u64, 0u64);
    for m in &messages {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&m.payload) else {
            continue;
        };
        if v.to_string().contains("\"billing\"") {
            continue;
        }
        let n = v.as_array().map_or(1, Vec::len) as u64;
        match m.stream {
            slacap::model::StreamKind::Metrics => metric_events += n,
            slacap::model::StreamKind::Tickets => ticket_events += n,
        }
    }
    assert_eq!(
        sql_value_in(&history, "SELECT count(*) FROM metrics").await,
        metric_events
    );
    assert_eq!(
        sql_value_in(&history, "SELECT count(*) FROM (SELECT DISTINCT source_partition, source_offset, service, component, metric, time FROM metrics)").await,
        metric_events
    );
    assert_eq!(
        sql_value_in(&history, "SELECT count(*) FROM ticket_events").await,
        ticket_events
    );
    assert_eq!(sql_value_in(&history, "SELECT count(*) FROM (SELECT DISTINCT source_partition, source_offset FROM ticket_events)").await, ticket_events);
    // Derived tables do not double either.
    let breaches = sql_value_in(&history, "SELECT count(*) FROM breaches").await;
    assert_eq!(
        sql_value_in(&history, "SELECT count(DISTINCT id) FROM breaches").await,
        breaches
    );
    assert!(breaches.as_u64().unwrap() > 10);
    let outcomes = sql_value_in(&history, "SELECT count(*) FROM ticket_sla_outcomes").await;
    assert_eq!(
        sql_value_in(
            &history,
            "SELECT count(*) FROM (SELECT DISTINCT ticket, metric FROM ticket_sla_outcomes)"
        )
        .await,
        outcomes
    );
    let slices = sql_value_in(&history, "SELECT count(*) FROM availability_slices").await;
    assert_eq!(sql_value_in(&history, "SELECT count(*) FROM (SELECT DISTINCT service, slo, slice_start FROM availability_slices)").await, slices);

    // ...and the breaches are those the history yields: none missing (a restart that advanced
    // its rebuilt state past the checkpoint's watermark would have swallowed some), none extra
    // (a breach a late-event correction withdrew, or one decided twice).
    let stored: std::collections::BTreeSet<String> =
        sql_rows_in(&history, "SELECT id FROM breaches")
            .await
            .into_iter()
            .map(|r| r[0].as_str().unwrap().to_string())
            .collect();
    let expected: std::collections::BTreeSet<String> = replayed
        .breaches(None, None)
        .into_iter()
        .map(|b| b.id)
        .collect();
    let lost: Vec<String> = expected
        .difference(&stored)
        .map(|id| format!("missing {id}"))
        .chain(stored.difference(&expected).map(|id| format!("extra {id}")))
        .collect();
    let run2 = std::fs::read_to_string(dir.path().join("run2.log")).unwrap_or_default();
    eprintln!(
        "{name}: after the restart, {} late-event correction(s), {} rebalance line(s)",
        run2.matches("late events corrected").count(),
        run2.matches("assign").count()
    );
    if !lost.is_empty() {
        // Keep the logs and the history of a failed run for diagnosis.
        let kept = dir.keep();
        eprintln!(
            "{name}: breaches differ; logs and history kept in {}",
            kept.display()
        );
    }
    lost
}

/// A clean stop right after a start that restored the newest snapshot, with nothing new in
/// between, writes no snapshot: the one on disk is already that state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_right_after_a_restore_rewrites_no_snapshot() {
    let broker = TestBroker::mock();
    let topics = unique_topics("no-rewrite");
    broker.create_topics(&topics).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let messages = generate_month(2026, 11).expect("month");
    let first = &messages[..300];
    slacap::demo::produce(&broker.bootstrap(), &topics, first)
        .await
        .expect("produce");
    let config = config_for(&broker, &topics, dir.path(), "no-rewrite");
    let running = slacap::app::start(config.clone()).await.expect("start");
    wait_until_durable(dir.path(), first.len(), Duration::from_secs(60), "ingest").await;
    let counters = running.state.pipeline.counters.clone();
    running.run_until(async {}).await.expect("stop");
    let written = counters
        .snapshots_total
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(written >= 1, "the first run's stop writes one");

    let running = slacap::app::start(config).await.expect("restart");
    running.ready().await;
    let counters = running.state.pipeline.counters.clone();
    running.run_until(async {}).await.expect("stop");
    assert_eq!(
        counters
            .snapshots_total
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "nothing changed since the snapshot the start restored"
    );
}

//! Guards around the history's writers. One writer per history: `slacap run` and `slacap
//! recompute` never write the same history at once. A local history is locked with `flock`
//! (released by the kernel however the holder ends); a history in S3 (moto's server) with a
//! lease that is renewed, refused to a second writer, and taken over once it has expired. And
//! metrics and tickets topics partitioned unlike each other are refused at start-up.

mod common;

use common::*;
use object_store::ObjectStoreExt;
use slacap::store::{HistoryLocation, LockError, S3Settings};
use std::time::{Duration, Instant};

fn held_by(error: LockError) -> String {
    match error {
        LockError::Held { holder, .. } => holder,
        other => panic!("expected the lock to be held, got {other}"),
    }
}

#[test]
fn a_local_history_has_one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let location = HistoryLocation::local(&dir.path().join("history"));
    let first = location
        .lock_writer(dir.path(), "run")
        .expect("the first writer");
    let refused = held_by(location.lock_writer(dir.path(), "recompute").unwrap_err());
    assert!(
        refused.starts_with(&format!("slacap run (pid {}", std::process::id())),
        "{refused}"
    );
    drop(first);
    let second = location
        .lock_writer(dir.path(), "recompute")
        .expect("free again");
    assert!(!second.lost());
}

#[test]
fn an_s3_lease_refuses_a_second_writer_and_is_taken_over_once_expired() {
    let (endpoint, bucket) = s3_bucket();
    let settings = S3Settings {
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        allow_http: Some(true),
    };
    let location = HistoryLocation::parse(&format!("s3://{bucket}/h"), &settings).unwrap();
    // Two instances (two data folders) share the bucket.
    let (here, there) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = location
        .lock_writer(here.path(), "run")
        .expect("the first writer");
    let refused = held_by(location.lock_writer(there.path(), "recompute").unwrap_err());
    assert!(refused.starts_with("slacap run (pid"), "{refused}");
    drop(first); // a clean stop deletes the lease
    let second = location
        .lock_writer(there.path(), "recompute")
        .expect("free after a clean stop");
    drop(second);

    // A holder killed without a clean stop leaves its lease; once older than the TTL it is
    // taken over.
    let lease = location.object_path("_writer.lease");
    let stale = serde_json::json!({
        "holder": "slacap run (pid 1 on elsewhere, since 2026-01-01T00:00:00Z)",
        "instance": "elsewhere:/var/lib/slacap",
        "renewed_at_ms": chrono::Utc::now().timestamp_millis()
            - slacap::store::LEASE_TTL.as_millis() as i64
            - 1_000,
    });
    let objects = location.objects().clone();
    let put = |body: serde_json::Value| {
        let objects = objects.clone();
        let lease = lease.clone();
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                objects
                    .put(&lease, body.to_string().into_bytes().into())
                    .await
                    .unwrap()
            })
        })
        .join()
        .unwrap();
    };
    put(stale);
    let taker = location
        .lock_writer(here.path(), "run")
        .expect("an expired lease is taken over");
    assert!(!taker.lost());

    // Its holder finds out at its next renewal when another process took the lease over, and
    // stops writing.
    put(serde_json::json!({
        "holder": "slacap run (pid 2 on elsewhere)",
        "instance": "elsewhere:/var/lib/slacap",
        "renewed_at_ms": chrono::Utc::now().timestamp_millis(),
    }));
    let start = Instant::now();
    while !taker.lost() {
        assert!(
            start.elapsed() < slacap::store::LEASE_TTL / 3 + Duration::from_secs(5),
            "the lost lease went unnoticed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(taker);

    // A fresh lease of this very instance (its data folder) that no process here holds was
    // left by a killed predecessor: a restart takes it over at once instead of waiting the
    // TTL out.
    let instance = format!(
        "{}:{}",
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim(),
        here.path().display()
    );
    put(serde_json::json!({
        "holder": "slacap run (pid 3, killed)",
        "instance": instance,
        "renewed_at_ms": chrono::Utc::now().timestamp_millis(),
    }));
    let restarted = location
        .lock_writer(here.path(), "run")
        .expect("the killed predecessor's lease is taken over at once");
    // ...while a second process on the same data folder is refused by the folder's lock.
    let refused = held_by(location.lock_writer(here.path(), "run").unwrap_err());
    assert!(refused.starts_with("slacap run (pid"), "{refused}");
    drop(restarted);
}

/// The real processes: `slacap recompute` and a second `slacap run` are refused while a
/// `slacap run` holds the history, naming it; once that one is killed (SIGKILL) the recompute
/// runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recompute_is_refused_while_run_holds_the_history() {
    let broker = TestBroker::real();
    let topics = unique_topics("writer-lock");
    broker.create_topics(&topics).await;
    let dir = tempfile::tempdir().unwrap();
    let config = run_config(dir.path(), &broker, &topics, "");
    let mut run = start_slacap(&config, &dir.path().join("run.log"));
    let lock_file = dir.path().join("data/history/_writer.lock");
    eventually(Duration::from_secs(60), "slacap run took the lock", || {
        std::fs::read_to_string(&lock_file)
            .ok()
            .filter(|t| t.starts_with("slacap run"))
    })
    .await;
    let slacap = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_slacap"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .expect("slacap runs")
    };
    let recompute = slacap(&["recompute", "--from", "2026-11-01"]);
    let stderr = String::from_utf8_lossy(&recompute.stderr);
    assert!(!recompute.status.success(), "{stderr}");
    assert!(
        stderr.contains("is in use by slacap run (pid"),
        "the refusal names the holder: {stderr}"
    );
    let second = slacap(&["run"]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    assert!(stderr.contains("is in use by slacap run (pid"), "{stderr}");

    run.kill().expect("SIGKILL");
    run.wait().unwrap();
    let recompute = slacap(&["recompute", "--from", "2026-11-01"]);
    assert!(
        recompute.status.success(),
        "{}",
        String::from_utf8_lossy(&recompute.stderr)
    );
}

/// A service's metrics and tickets must land on the same partition number: topics with
/// different partition counts are refused at start-up, naming both and their counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_partitioned_unlike_each_other_are_refused_at_start() {
    let broker = TestBroker::real();
    let topics = unique_topics("co-partitioned");
    broker.create_topics_with(&topics, 3, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let config = run_config(dir.path(), &broker, &topics, "");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_slacap"))
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .expect("slacap runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    let expected = format!(
        "kafka.topics.metrics `{}` has 3 partitions but kafka.topics.tickets `{}` has 2",
        topics.metrics, topics.tickets
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

//! The history in object storage: Delta tables and snapshots in a bucket of a real
//! S3-compatible server (moto's, which scripts/test.sh starts), written and read through
//! object_store's S3 client, with Delta commits as conditional puts. An independent reader
//! (Python's `deltalake`) reads the same tables from the bucket.

mod common;

use common::rows::{START, append_small_batches, count_and_sum, metric_files, sample};
use slacap::store::{
    HistoryLocation, HistoryStore, MaintenancePolicy, S3Settings, Table, source_app,
};
use std::time::Duration;

fn s3_location(prefix: &str) -> (HistoryLocation, String, String) {
    let (endpoint, bucket) = common::s3_bucket();
    let settings = S3Settings {
        endpoint: Some(endpoint.clone()),
        region: Some("us-east-1".into()),
        allow_http: Some(true),
    };
    let url = format!("s3://{bucket}/{prefix}");
    let location = HistoryLocation::parse(&url, &settings).expect("an S3 location");
    (location, url, endpoint)
}

/// The files of one batch of `count` samples from `topic`'s partition 0, offsets `first..`.
fn batch_from(topic: &str, first: i64, count: i64) -> Vec<slacap::store::PendingFile> {
    let rows: Vec<_> = (first..first + count).map(|i| sample(i, 0)).collect();
    metric_files(topic, &rows, first, first + count - 1)
}

/// One commit of [`batch_from`].
fn append_from(store: &HistoryStore, topic: &str, first: i64, count: i64) {
    store.write(&batch_from(topic, first, count)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_in_s3_commits_compacts_and_reads_back() {
    let local = tempfile::tempdir().unwrap();
    let (location, url, endpoint) = s3_location("slacap/history");
    let (store, _) = HistoryStore::open_at(local.path(), location).unwrap();
    let writer = store.clone();
    tokio::task::spawn_blocking(move || append_small_batches(&writer, 6, 10))
        .await
        .unwrap();
    let expected = (60, (0..60).sum::<i64>() as f64);
    assert_eq!(count_and_sum(&store).await, expected);
    assert!(
        !local.path().join("history").exists(),
        "nothing of the history is written locally"
    );
    let txn = store
        .txn_version(Table::Metrics, &source_app("slacap.metrics", 0))
        .unwrap();
    assert_eq!(txn, Some(59), "the last offset is the table's txn version");

    // Compaction, vacuum and the log checkpoint work against the bucket too.
    let maintainer = store.clone();
    let today = slacap::store::day_of(START) + 10;
    let report = tokio::task::spawn_blocking(move || {
        let policy = MaintenancePolicy {
            vacuum_grace: Duration::ZERO,
            ..Default::default()
        };
        maintainer.maintain(&policy, today, today).unwrap()
    })
    .await
    .unwrap();
    assert_eq!((report.days_compacted, report.files_compacted), (2, 12));
    assert_eq!(report.files_vacuumed, 12);
    assert_eq!(store.files_by_day(Table::Metrics).unwrap().len(), 2);
    assert_eq!(count_and_sum(&store).await, expected);

    // A second process opening the same bucket sees the same history.
    let other = tempfile::tempdir().unwrap();
    let (again, _) = HistoryStore::open_at(other.path(), store.location().clone()).unwrap();
    assert_eq!(count_and_sum(&again).await, expected);

    // Python's deltalake reads the table from the bucket (from slacap's checkpoint).
    let read = common::rows::python_count_and_sum(&format!("{url}/metrics"), Some(&endpoint));
    assert_eq!(read, expected);
}

/// Two writers committing to one table at once: every commit is a conditional put of the next
/// log entry, so the loser of a race retries at the next version instead of overwriting the
/// winner's commit (which would lose its rows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_to_one_bucket_lose_no_commit() {
    let (location, _, _) = s3_location("shared");
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (first, _) = HistoryStore::open_at(dirs[0].path(), location.clone()).unwrap();
    let (second, _) = HistoryStore::open_at(dirs[1].path(), location).unwrap();
    const COMMITS: i64 = 12;
    let writers: Vec<_> = [(first.clone(), "a.metrics"), (second, "b.metrics")]
        .into_iter()
        .map(|(store, topic)| {
            tokio::task::spawn_blocking(move || {
                for c in 0..COMMITS {
                    append_from(&store, topic, c * 5, 5);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let (rows, _) = count_and_sum(&first).await;
    assert_eq!(rows, 2 * COMMITS * 5);
    for topic in ["a.metrics", "b.metrics"] {
        assert_eq!(
            first
                .txn_version(Table::Metrics, &source_app(topic, 0))
                .unwrap(),
            Some(COMMITS * 5 - 1)
        );
    }
}

#[test]
fn snapshots_in_s3_round_trip_and_thin_out() {
    let local = tempfile::tempdir().unwrap();
    let (location, url, _) = s3_location("snapshots-test");
    let store = HistoryStore::reader_at(local.path(), location);
    assert!(store.snapshots().unwrap().is_empty());
    let (catalogue, engine) = common::rows::daily_snapshots(&store, 50);
    let kept = store.snapshots().unwrap();
    assert!(kept.len() < 50 && kept.len() > 36, "{} kept", kept.len());
    let newest = kept.last().unwrap();
    assert_eq!(newest.seq, 50);
    assert!(newest.path.to_string_lossy().starts_with(&url));
    let loaded = store.load_snapshot(newest).unwrap();
    assert_eq!(loaded.checkpoint.next_offset("slacap.metrics", 0), 50);
    let restored =
        slacap::sla::SlaEngine::from_snapshot(catalogue, Duration::ZERO, loaded.engine).unwrap();
    assert_eq!(restored.watermark(), engine.watermark());
    assert!(!local.path().join("history").exists());
}

#[test]
fn a_bad_location_is_refused_with_its_reason() {
    let settings = S3Settings::default();
    let error = HistoryLocation::parse("s3:///no-bucket", &settings).unwrap_err();
    assert!(error.contains("names no bucket"), "{error}");
    let error = HistoryLocation::parse("gs://bucket/x", &settings).unwrap_err();
    assert!(error.contains("scheme `gs` is not supported"), "{error}");
}

/// Fencing: a process that claimed a source partition refuses to commit its rows once another
/// process has committed rows of it since (the partition moved; the first one is a zombie).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zombie_cannot_commit_a_partition_another_process_took_over() {
    let (location, _, _) = s3_location("fenced");
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (zombie, _) = HistoryStore::open_at(dirs[0].path(), location.clone()).unwrap();
    let (owner, _) = HistoryStore::open_at(dirs[1].path(), location).unwrap();
    let app = source_app("t.metrics", 0);
    let outcome = tokio::task::spawn_blocking(move || {
        assert_eq!(zombie.claim_source(Table::Metrics, &app).unwrap(), None);
        append_from(&zombie, "t.metrics", 0, 10);
        append_from(&zombie, "t.metrics", 10, 10); // its own commits do not fence it
        // The partition moves: the new owner claims it at the zombie's last offset and writes.
        assert_eq!(owner.claim_source(Table::Metrics, &app).unwrap(), Some(19));
        append_from(&owner, "t.metrics", 20, 10);
        // The zombie's next batch is refused, naming the source.
        let files = batch_from("t.metrics", 20, 10);
        let refused = zombie.write(&files).unwrap_err().to_string();
        (refused, owner)
    })
    .await
    .unwrap();
    let (refused, owner) = outcome;
    assert!(
        refused.contains("was written by another process") && refused.contains("t.metrics"),
        "{refused}"
    );
    assert_eq!(
        count_and_sum(&owner).await.0,
        30,
        "the zombie's rows are not in"
    );
}

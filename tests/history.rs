//! The Delta history on its own: commits with application transactions, compaction, vacuum,
//! retention, withdrawal of uncheckpointed derived commits, and an independent Delta reader
//! (Python's `deltalake`) seeing what slacap's SQL sees.

use slacap::store::{
    FileOrigin, HistoryQuery, HistoryStore, MaintenancePolicy, PendingFile, Table,
};
use std::time::Duration;

mod common;

use common::rows::{DAY, START, append, append_small_batches, count_and_sum, metric_files, sample};

fn parquet_files_on_disk(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.ends_with("_delta_log") {
            n += parquet_files_on_disk(&path);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            n += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_leaves_one_file_per_day_and_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = HistoryStore::open(dir.path()).unwrap();
    let writer = store.clone();
    tokio::task::spawn_blocking(move || append_small_batches(&writer, 40, 10))
        .await
        .unwrap();
    let files = store.files_by_day(Table::Metrics).unwrap();
    assert_eq!(files.len(), 80, "40 batches over 2 days");
    let before = count_and_sum(&store).await;
    assert_eq!(before.0, 400);

    let policy = MaintenancePolicy {
        vacuum_grace: Duration::ZERO,
        ..Default::default()
    };
    let maintainer = store.clone();
    let today = slacap::store::day_of(START) + 10;
    let report =
        tokio::task::spawn_blocking(move || maintainer.maintain(&policy, today, today).unwrap())
            .await
            .unwrap();
    assert_eq!(report.days_compacted, 2);
    assert_eq!(report.files_compacted, 80);
    assert_eq!(report.files_written, 2);
    assert_eq!(
        report.files_vacuumed, 80,
        "grace 0: superseded files go at once"
    );
    let files = store.files_by_day(Table::Metrics).unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(parquet_files_on_disk(&store.table_dir(Table::Metrics)), 2);
    // The round ends with a Delta checkpoint of the table as it left it, so a reader (and the
    // next start) reads one Parquet file of the live files instead of the commits' JSON.
    let last_checkpoint: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            store
                .table_dir(Table::Metrics)
                .join("_delta_log/_last_checkpoint"),
        )
        .expect("a checkpoint after the round"),
    )
    .unwrap();
    let version = store.versions(&[Table::Metrics]).unwrap()["metrics"];
    assert_eq!(last_checkpoint["version"].as_i64(), Some(version));
    let (reopened, _) = HistoryStore::open(dir.path()).unwrap();
    assert_eq!(count_and_sum(&reopened).await, before);
    assert_eq!(
        count_and_sum(&store).await,
        before,
        "compaction changes no row"
    );
    // The raw table still knows which offsets it holds.
    let txn = store
        .txn_version(
            Table::Metrics,
            &slacap::store::source_app("slacap.metrics", 0),
        )
        .unwrap();
    assert_eq!(txn, Some(399));
    assert!(files.iter().all(|f| f.compacted));

    // A second round leaves compaction's own files alone; a day that gets a batch's file again
    // (a late event), even a single one, is rewritten.
    let again = |store: &HistoryStore| {
        let (maintainer, policy) = (
            store.clone(),
            MaintenancePolicy {
                vacuum_grace: Duration::ZERO,
                ..Default::default()
            },
        );
        tokio::task::spawn_blocking(move || maintainer.maintain(&policy, today, today).unwrap())
    };
    assert_eq!(again(&store).await.unwrap().days_compacted, 0);
    let writer = store.clone();
    tokio::task::spawn_blocking(move || append(&writer, &[sample(1_000, 0)], 1_000, 1_000))
        .await
        .unwrap();
    let report = again(&store).await.unwrap();
    assert_eq!((report.days_compacted, report.files_compacted), (1, 2));
    assert_eq!(count_and_sum(&store).await.0, 401);
    assert_eq!(store.files_by_day(Table::Metrics).unwrap().len(), 2);
}

/// A closed day that got a single file from its batches is compacted too (sorted, encoded for
/// keeping), and only once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_of_one_batch_file_is_compacted_once() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = HistoryStore::open(dir.path()).unwrap();
    let writer = store.clone();
    tokio::task::spawn_blocking(move || append_small_batches(&writer, 1, 10))
        .await
        .unwrap();
    assert_eq!(store.files_by_day(Table::Metrics).unwrap().len(), 2);
    let today = slacap::store::day_of(START) + 10;
    for expected in [2, 0] {
        let maintainer = store.clone();
        let report = tokio::task::spawn_blocking(move || {
            maintainer
                .maintain(&MaintenancePolicy::default(), today, today)
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(report.days_compacted, expected);
    }
    assert!(
        store
            .files_by_day(Table::Metrics)
            .unwrap()
            .iter()
            .all(|f| f.compacted)
    );
    // The mark survives the log's Parquet checkpoints (one per 100 commits): 110 commits to
    // another day later, a fresh reader still sees the two compacted files as such.
    let writer = store.clone();
    tokio::task::spawn_blocking(move || {
        for i in 100..210 {
            append(&writer, &[sample(i, 5)], i, i);
        }
    })
    .await
    .unwrap();
    let fresh = HistoryStore::reader(dir.path());
    let files = fresh.files_by_day(Table::Metrics).unwrap();
    assert_eq!(files.iter().filter(|f| f.compacted).count(), 2);
    assert_eq!(files.len(), 112);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn superseded_files_stay_readable_through_the_grace_period_and_retention_expires_old_days() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = HistoryStore::open(dir.path()).unwrap();
    let writer = store.clone();
    tokio::task::spawn_blocking(move || append_small_batches(&writer, 5, 10))
        .await
        .unwrap();
    let today = slacap::store::day_of(START) + 10;
    let policy = MaintenancePolicy {
        vacuum_grace: Duration::from_secs(3600),
        ..Default::default()
    };
    let maintainer = store.clone();
    let report = tokio::task::spawn_blocking(move || maintainer.maintain(&policy, today, today))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.files_vacuumed, 0, "inside the grace period");
    assert_eq!(
        parquet_files_on_disk(&store.table_dir(Table::Metrics)),
        12,
        "10 superseded + 2 compacted files on disk"
    );
    assert_eq!(
        count_and_sum(&store).await.0,
        50,
        "the scan reads only the live files"
    );

    // Keep 9 days: the first of the two days (today - 10) leaves the table.
    let policy = MaintenancePolicy {
        raw_retention_days: Some(9),
        ..Default::default()
    };
    let maintainer = store.clone();
    let report = tokio::task::spawn_blocking(move || maintainer.maintain(&policy, today, today))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.days_expired, 1);
    assert_eq!(count_and_sum(&store).await.0, 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derived_commits_beyond_the_checkpoint_are_withdrawn_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let (store, mut checkpoint) = HistoryStore::open(&data).unwrap();
        let correction = |seq: u64, key: &str| {
            let records = vec![slacap::sla::CorrectionRecord {
                corrected_at: START + seq as i64,
                kind: "breach",
                key: key.into(),
                before: None,
                after: Some("x".into()),
                cause: "test".into(),
            }];
            slacap::store::correction_batches(&records)
                .unwrap()
                .into_iter()
                .map(|(day, batch)| PendingFile {
                    table: Table::Corrections,
                    day,
                    origin: FileOrigin::Batch { seq },
                    batch,
                })
                .collect::<Vec<_>>()
        };
        store.write(&correction(1, "kept")).unwrap();
        checkpoint.seq = 1;
        checkpoint.versions = store.versions(&slacap::store::DERIVED).unwrap();
        store.save_checkpoint(&checkpoint).unwrap();
        // Batch 2 commits, then the process dies before its checkpoint.
        store.write(&correction(2, "withdrawn")).unwrap();
        drop(store);

        let (store, reopened) = HistoryStore::open(&data).unwrap();
        assert_eq!(reopened.seq, 1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let keys = rt.block_on(async {
            HistoryQuery::new(&store)
                .unwrap()
                .sql_json("SELECT key FROM corrections ORDER BY key")
                .await
                .unwrap()
                .rows
        });
        assert_eq!(keys, vec![vec![serde_json::json!("kept")]]);
    })
    .await
    .unwrap();
}

/// Python's `deltalake` (delta-rs's Python binding, its own build) reads the table slacap
/// wrote: same rows, same sum. It fails where Python lacks the package;
/// `scripts/prerequisites.sh` installs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_delta_reader_sees_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = HistoryStore::open(dir.path()).unwrap();
    let writer = store.clone();
    tokio::task::spawn_blocking(move || append_small_batches(&writer, 6, 10))
        .await
        .unwrap();
    let ours = count_and_sum(&store).await;
    let table = store
        .table_dir(Table::Metrics)
        .to_string_lossy()
        .into_owned();
    let read_with_python = || common::rows::python_count_and_sum(&table, None);
    assert_eq!(read_with_python(), ours, "from the commits' JSON");
    // After a maintenance round the log starts from slacap's checkpoint (and the day's files
    // are compacted): the independent reader must read that checkpoint too.
    let maintainer = store.clone();
    let today = slacap::store::day_of(START) + 10;
    tokio::task::spawn_blocking(move || {
        maintainer
            .maintain(&MaintenancePolicy::default(), today, today)
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        store
            .table_dir(Table::Metrics)
            .join("_delta_log/_last_checkpoint")
            .exists()
    );
    assert_eq!(read_with_python(), ours, "from slacap's checkpoint");
}

#[test]
fn snapshots_round_trip_and_thin_out_to_daily_then_weekly() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::reader(dir.path());
    let (catalogue, engine) = common::rows::daily_snapshots(&store, 100);
    let kept = store.snapshots().unwrap();
    // The newest 36 days daily (35 back plus the newest), then one a week for the 64 before.
    assert!(
        (36 + 9..=36 + 11).contains(&kept.len()),
        "{} snapshots kept",
        kept.len()
    );
    let newest = kept.last().unwrap();
    assert_eq!(newest.seq, 100);
    let loaded = store.load_snapshot(newest).unwrap();
    assert_eq!(loaded.checkpoint.next_offset("slacap.metrics", 0), 100);
    let restored =
        slacap::sla::SlaEngine::from_snapshot(catalogue, Duration::ZERO, loaded.engine).unwrap();
    assert_eq!(restored.watermark(), engine.watermark());
    let window = slacap::sla::window::Interval {
        start: START,
        end: START + 100 * DAY,
    };
    assert_eq!(
        format!("{:?}", restored.service_sla("payments", window)),
        format!("{:?}", engine.service_sla("payments", window)),
    );
}

/// A store that holds a table open sees another writer's commits on its next read (it checks
/// for a newer commit instead of listing the log each time, so the check must not miss one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_holding_a_table_sees_commits_made_through_another_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let writer = HistoryStore::reader(&data);
        let reader = HistoryStore::reader(&data);
        append_small_batches(&writer, 1, 10);
        assert_eq!(reader.files(Table::Metrics).unwrap().len(), 2);
        // The log's statistics give each raw file its largest offset (the start-up's tail
        // replay opens only the files that reach past a snapshot).
        let largest: Vec<_> = reader
            .files_by_day(Table::Metrics)
            .unwrap()
            .iter()
            .map(|f| f.max_offset)
            .collect();
        assert_eq!(largest, vec![Some(8), Some(9)]);
        let partitions: Vec<_> = reader
            .files_by_day(Table::Metrics)
            .unwrap()
            .iter()
            .map(|f| f.partition)
            .collect();
        assert_eq!(partitions, vec![Some(0), Some(0)]);
        for round in 2..=4 {
            append_small_batches(&writer, 1, 10);
            assert_eq!(
                reader.files(Table::Metrics).unwrap().len(),
                2 * round,
                "after commit {round}"
            );
        }
    })
    .await
    .unwrap();
}

/// The rows a window before the live SLA state is completed with: the slices and outcomes the
/// stream wrote to `availability_slices` and `ticket_sla_outcomes`, read back for one service
/// and one span (the day before the span is read too, for a slice straddling its start).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_before_the_live_state_reads_the_rows_the_stream_wrote() {
    use slacap::sla::{Findings, SliceRecord, TicketOutcomeRecord, older::OlderFindings};
    let dir = tempfile::tempdir().unwrap();
    let slice = |service: &str, start: i64, good: f64| SliceRecord {
        definition: "d".into(),
        service: service.into(),
        slo: "up".into(),
        sli: "probe",
        target: 0.99,
        start,
        seconds: 60,
        excluded_seconds: 0,
        good,
        total: 1.0,
        state: if good > 0.0 { "good" } else { "bad" },
    };
    let outcome = |ticket: &str, decided_at: i64, outcome| TicketOutcomeRecord {
        definition: "d".into(),
        service: "svc".into(),
        ticket: ticket.into(),
        ticket_type: slacap::model::TicketType::Incident,
        priority: "P1".into(),
        metric: "response",
        created: decided_at - 60_000_000,
        target_seconds: 900,
        elapsed_seconds: 60,
        outcome,
        decided_at,
    };
    let mut findings = Findings::default();
    for day in 0..4 {
        findings
            .slices
            .push(slice("svc", START + day * DAY, (day % 2) as f64));
        findings.slices.push(slice("other", START + day * DAY, 1.0));
    }
    findings.outcomes = vec![
        outcome(
            "INC-1",
            START + 12 * 3_600_000_000,
            slacap::sla::ticket_clock::Outcome::Met,
        ),
        outcome(
            "INC-2",
            START + 2 * DAY,
            slacap::sla::ticket_clock::Outcome::Breached,
        ),
    ];
    let data = dir.path().to_path_buf();
    let written = findings.clone();
    let store = tokio::task::spawn_blocking(move || {
        let (store, _) = HistoryStore::open(&data).unwrap();
        let files = slacap::store::derived_files(&written, &FileOrigin::Batch { seq: 1 }).unwrap();
        store.write(&files).unwrap();
        store
    })
    .await
    .unwrap();
    let history = HistoryQuery::new(&store).unwrap();
    let span = slacap::sla::window::Interval {
        start: START + DAY,
        end: START + 3 * DAY,
    };
    let read = slacap::store::older_findings(&history, "svc", span)
        .await
        .unwrap();
    let mut expected = OlderFindings::from_findings(&findings, START)
        .remove("svc")
        .unwrap();
    // Slices from the day before the span to its end; outcomes decided in the span.
    expected
        .slices
        .retain(|s| s.start >= START && s.start < START + 3 * DAY);
    expected
        .outcomes
        .retain(|o| o.decided_at >= span.start && o.decided_at < span.end);
    let mut read_sorted = read.clone();
    read_sorted.slices.sort_by_key(|s| s.start);
    assert_eq!(read_sorted, expected);
    assert_eq!(read.outcomes.len(), 1, "INC-1 was decided before the span");
    assert_eq!(
        read.slices.len(),
        3,
        "one a day, the day before the span included"
    );
}

/// A filter on a table's time column alone prunes its dates: a report over one month of a
/// years-long history opens that month's files only, and still reads every row it asks for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_range_reads_only_the_dates_it_spans() {
    use slacap::sla::{Findings, SliceRecord};
    let dir = tempfile::tempdir().unwrap();
    let mut findings = Findings::default();
    for day in 0..4 {
        for (service, minute) in [("svc", 0), ("other", 23 * 60 + 59)] {
            findings.slices.push(SliceRecord {
                definition: "d".into(),
                service: service.into(),
                slo: "up".into(),
                sli: "probe",
                target: 0.99,
                start: START + day * DAY + minute * 60_000_000,
                seconds: 60,
                excluded_seconds: 0,
                good: 1.0,
                total: 1.0,
                state: "good",
            });
        }
    }
    let data = dir.path().to_path_buf();
    let store = tokio::task::spawn_blocking(move || {
        let (store, _) = HistoryStore::open(&data).unwrap();
        let files = slacap::store::derived_files(&findings, &FileOrigin::Batch { seq: 1 }).unwrap();
        store.write(&files).unwrap();
        store
    })
    .await
    .unwrap();
    let history = HistoryQuery::new(&store).unwrap();
    let at = |t: i64| format!("TIMESTAMP '{}'", slacap::model::format_rfc3339(t));
    let date = |day: i64| slacap::store::date_label((START + day * DAY).div_euclid(DAY));
    // Days 1 and 2, up to the last microsecond of day 2 (its last-minute slice included).
    let filter = format!(
        "slice_start >= {} AND slice_start <= {}",
        at(START + DAY),
        at(START + 3 * DAY - 1)
    );
    let count = history
        .sql_json(&format!(
            "SELECT count(*) FROM availability_slices WHERE {filter}"
        ))
        .await
        .unwrap();
    assert_eq!(count.rows, vec![vec![serde_json::json!(4)]]);
    let plan = history
        .sql_json(&format!(
            "EXPLAIN SELECT service FROM availability_slices WHERE {filter}"
        ))
        .await
        .unwrap();
    let plan = serde_json::to_string(&plan.rows).unwrap();
    for day in [1, 2] {
        assert!(plan.contains(&format!("date={}", date(day))), "{plan}");
    }
    for day in [0, 3] {
        assert!(!plan.contains(&format!("date={}", date(day))), "{plan}");
    }
    // A filter the dates cannot decide (here on another column) prunes none of them.
    let all = history
        .sql_json("SELECT count(*) FROM availability_slices WHERE service = 'svc'")
        .await
        .unwrap();
    assert_eq!(all.rows, vec![vec![serde_json::json!(4)]]);
}

/// A raw file's `add` carries each partition's largest offset (a batch's file and a compacted
/// one both mix partitions), so a start-up's tail skips it when every partition ends before
/// the checkpoint (the log's statistics give only the largest offset over all partitions).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_files_record_each_partitions_largest_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = HistoryStore::open(dir.path()).unwrap();
    let writer = store.clone();
    tokio::task::spawn_blocking(move || {
        // Partition 0: offsets 0..=99 in ten batches; partition 1: offsets 0..=4 in one.
        for (partition, first, last) in (0..10).map(|b| (0, b * 10, b * 10 + 9)).chain([(1, 0, 4)])
        {
            let rows: Vec<_> = (first..=last)
                .map(|i| {
                    let (mut position, event) = sample(i, 0);
                    position.partition = partition;
                    (position, event)
                })
                .collect();
            writer
                .write(&metric_files("slacap.metrics", &rows, first, last))
                .unwrap();
        }
    })
    .await
    .unwrap();
    let written = store.files_by_day(Table::Metrics).unwrap();
    assert_eq!(written.len(), 11);
    assert!(
        written
            .iter()
            .all(|f| f.partition_max.as_ref().is_some_and(|m| m.len() == 1)),
        "a batch's file records its partition's largest offset: {written:?}"
    );
    let maintainer = store.clone();
    let today = slacap::store::day_of(START) + 10;
    tokio::task::spawn_blocking(move || {
        maintainer
            .maintain(&MaintenancePolicy::default(), today, today)
            .unwrap()
    })
    .await
    .unwrap();
    let files = store.files_by_day(Table::Metrics).unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].compacted);
    assert_eq!(files[0].max_offset, Some(99));
    assert_eq!(files[0].partition_max, Some(vec![(0, 99), (1, 4)]));
}

/// A ticket that has left the live state is answered from the history: its events are read
/// back from `ticket_events` and its clocks rebuilt, giving the report the live state gave.
/// The raw `ticket_events` files of `events`, as source partition `partition` delivered them
/// (offsets in slice order).
fn ticket_event_files(events: &[slacap::model::TicketEvent], partition: i32) -> Vec<PendingFile> {
    let rows: Vec<_> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let position = slacap::model::SourcePosition {
                partition,
                offset: i as i64,
            };
            (position, e.clone())
        })
        .collect();
    let origin = FileOrigin::Source {
        topic: "slacap.tickets".into(),
        partition,
        first: 0,
        last: rows.len() as i64 - 1,
    };
    slacap::store::ticket_batches(&rows)
        .unwrap()
        .into_iter()
        .map(|(day, batch)| PendingFile {
            table: Table::TicketEvents,
            day,
            origin: origin.clone(),
            batch,
        })
        .collect()
}

/// A live SLA state that applied `events` from ticket partition `partition`, at `as_of`.
fn live_state_of(
    catalogue: &std::sync::Arc<slacap::config::Catalogue>,
    events: &[slacap::model::TicketEvent],
    partition: i32,
    as_of: i64,
) -> slacap::sla::SlaEngine {
    let mut live = slacap::sla::SlaEngine::new(catalogue.clone(), Duration::ZERO);
    let source = slacap::model::Source {
        stream: slacap::model::StreamKind::Tickets,
        partition,
    };
    for e in events {
        live.apply_ticket(e, source);
    }
    live.restore_watermark(as_of);
    live
}

#[test]
fn a_ticket_rebuilt_from_the_history_reports_what_the_live_state_did() {
    use slacap::model::{TicketEvent, TicketStatus, TicketType};
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = HistoryStore::open(dir.path()).unwrap();
    let catalogue = std::sync::Arc::new(slacap::demo::sample_catalogue().unwrap());
    let hour = 3_600_000_000;
    let event = |h: i64, ticket: &str, status| {
        TicketEvent::status_change(
            START + h * hour,
            ticket,
            TicketType::Incident,
            "payments",
            "P2",
            status,
        )
    };
    let events = [
        event(0, "INC-1", TicketStatus::New),
        event(1, "INC-2", TicketStatus::New),
        event(2, "INC-1", TicketStatus::Acknowledged),
        event(5, "INC-1", TicketStatus::OnHold),
        event(30, "INC-1", TicketStatus::InProgress),
        event(50, "INC-1", TicketStatus::Resolved),
        event(52, "INC-2", TicketStatus::Resolved),
    ];
    store.write(&ticket_event_files(&events, 1)).unwrap();

    let as_of = START + 100 * hour;
    let live = live_state_of(&catalogue, &events, 1, as_of);
    let expected = live.ticket_sla("INC-1").expect("a live report");
    let rebuilt = slacap::recompute::ticket_sla_from_history(
        &store,
        catalogue.clone(),
        Duration::ZERO,
        "INC-1",
        Some(as_of),
    )
    .unwrap()
    .expect("the ticket is in the history");
    assert_eq!(
        serde_json::to_value(&rebuilt).unwrap(),
        serde_json::to_value(&expected).unwrap()
    );
    assert_eq!(rebuilt.events.len(), 5, "INC-2's events are not INC-1's");
    assert!(
        slacap::recompute::ticket_sla_from_history(
            &store,
            catalogue,
            Duration::ZERO,
            "INC-404",
            Some(as_of)
        )
        .unwrap()
        .is_none()
    );
}

/// Batch commits do not clean the log up (delta-rs would list the whole `_delta_log` on every
/// commit, and reload the table's state whenever it deleted something); the maintenance round
/// does, once per round: commit files older than the log's retention (an hour) that a
/// checkpoint supersedes go, and the table reads the same afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_log_files_are_cleaned_up_by_maintenance_not_by_each_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = HistoryStore::open(dir.path()).unwrap();
    let writer = store.clone();
    // 101 batch commits after the table's creation: a checkpoint at version 99.
    tokio::task::spawn_blocking(move || append_small_batches(&writer, 101, 1))
        .await
        .unwrap();
    let log = store.table_dir(Table::Metrics).join("_delta_log");
    let commit_files = || {
        std::fs::read_dir(&log)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "json")
            })
            .count()
    };
    assert!(
        log.join("00000000000000000099.checkpoint.parquet").exists(),
        "the every-100-commits checkpoint is still written with the commit"
    );
    assert_eq!(commit_files(), 102);
    // Two hours old: past the log's retention.
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    for entry in std::fs::read_dir(&log).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "json") {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(two_hours_ago)
                .unwrap();
        }
    }

    let writer = store.clone();
    tokio::task::spawn_blocking(move || {
        append(&writer, &[sample(101, 0)], 101, 101);
    })
    .await
    .unwrap();
    assert_eq!(commit_files(), 103, "a batch commit deletes nothing");

    let maintainer = store.clone();
    let report = tokio::task::spawn_blocking(move || {
        maintainer
            .maintain(&MaintenancePolicy::default(), i64::MIN / 2, i64::MIN / 2)
            .unwrap()
    })
    .await
    .unwrap();
    // The round's own checkpoint (version 102) supersedes every expired commit file before it.
    assert!(
        report.log_files_removed >= 99,
        "{} expired log files removed",
        report.log_files_removed
    );
    assert!(
        commit_files() < 103 - 98,
        "{} commit files left",
        commit_files()
    );
    assert!(
        log.join("00000000000000000102.json").exists(),
        "the newest stays"
    );
    assert_eq!(count_and_sum(&store).await.0, 102);
    let reopened = HistoryStore::reader_at(dir.path(), store.location().clone());
    assert_eq!(count_and_sum(&reopened).await.0, 102, "a fresh reader too");
}

/// An auditor samples months long gone: once the live state has let a month's closed tickets
/// go, the sample (population, clock trails, breach ids) comes from the history and is the one
/// the live state drew while it held them, so the same month, n and seed give the same tickets
/// however long ago the month was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_sample_of_a_month_the_live_state_let_go_of_is_drawn_from_the_history() {
    use slacap::model::{TicketEvent, TicketStatus, TicketType};
    use slacap::report::evidence::{RecordedBreaches, evidence};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let catalogue = std::sync::Arc::new(slacap::demo::sample_catalogue().unwrap());
    let minute = 60_000_000;
    let hour = 60 * minute;
    let event = |at: i64, ticket: &str, status| {
        TicketEvent::status_change(at, ticket, TicketType::Incident, "payments", "P2", status)
    };
    // P2 incidents: 30 minutes to respond, 8 hours to resolve. Odd tickets answer late, every
    // third one is resolved late.
    let mut events = Vec::new();
    for k in 0..10i64 {
        let id = format!("INC-{k}");
        let created = START + k * hour;
        let acknowledged = created + if k % 2 == 1 { 60 } else { 10 } * minute;
        let resolved = created + if k % 3 == 0 { 10 } else { 2 } * hour;
        events.push(event(created, &id, TicketStatus::New));
        events.push(event(acknowledged, &id, TicketStatus::Acknowledged));
        events.push(event(resolved, &id, TicketStatus::Resolved));
    }
    // Created in October, resolved in November: not November's.
    events.push(event(START - 3 * DAY, "INC-OCT", TicketStatus::New));
    events.push(event(START + hour, "INC-OCT", TicketStatus::Resolved));
    events.sort_by_key(|e| e.time);

    let as_of = START + 5 * DAY;
    let mut live = live_state_of(&catalogue, &events, 0, as_of);
    let findings = live.settle();
    assert!(findings.breaches.len() >= 5, "{:?}", findings.breaches);
    let mut files = ticket_event_files(&events, 0);
    files.extend(slacap::store::derived_files(&findings, &FileOrigin::Batch { seq: 1 }).unwrap());
    let store_dir = data.clone();
    let store = tokio::task::spawn_blocking(move || {
        let (store, _) = HistoryStore::open(&store_dir).unwrap();
        store.write(&files).unwrap();
        store
    })
    .await
    .unwrap();

    let register = slacap::alert::register::Register::open(&dir.path().join("reviews")).unwrap();
    let window = slacap::sla::window::parse_window("month:2026-11", 0).unwrap();
    let (n, seed) = (6, 7);
    assert!(live.holds_tickets_created_in(window));
    let draw_from_the_live_state = |live: &slacap::sla::SlaEngine| {
        evidence(
            live,
            RecordedBreaches::OfTheState,
            &register,
            "2026-11",
            window,
            n,
            seed,
        )
    };
    let drawn_live = draw_from_the_live_state(&live);

    let history = HistoryQuery::new(&store).unwrap();
    let population = slacap::report::tickets::tickets_created_in(&history, window)
        .await
        .unwrap();
    assert_eq!(
        population.len(),
        10,
        "{population:?}: INC-OCT was created in October"
    );
    let ids: std::collections::HashSet<String> = population.into_iter().collect();
    let recorded = slacap::report::tickets::recorded_breaches_of(&history, &ids)
        .await
        .unwrap();
    let rebuilt = {
        let (store, catalogue, ids) = (store.clone(), catalogue.clone(), ids.clone());
        tokio::task::spawn_blocking(move || {
            slacap::recompute::tickets_from_history(
                &store,
                catalogue,
                Duration::ZERO,
                &ids,
                Some(slacap::store::day_of(window.start)),
                Some(as_of),
            )
            .unwrap()
        })
        .await
        .unwrap()
    };
    let drawn_from_history = evidence(
        &rebuilt,
        RecordedBreaches::Read(&recorded),
        &register,
        "2026-11",
        window,
        n,
        seed,
    );
    let live_json = serde_json::to_value(&drawn_live).unwrap();
    assert_eq!(
        serde_json::to_value(&drawn_from_history).unwrap(),
        live_json
    );
    assert_eq!(drawn_live.population, 10);
    assert_eq!(drawn_live.tickets.len(), n);
    assert!(
        drawn_live.tickets.iter().any(|t| !t.breaches.is_empty()),
        "the sample shows breaches: {live_json}"
    );

    // Two months on, the live state has let November's closed tickets go: what it would draw
    // is no longer the month's sample, and the API reads the history instead.
    live.restore_watermark(START + 60 * DAY);
    live.settle();
    assert!(!live.holds_tickets_created_in(window));
    let drawn_late = draw_from_the_live_state(&live);
    assert!(drawn_late.population < 10, "{}", drawn_late.population);
}

/// A batch's append commits its version without reading the table back (the writer knows the
/// version it wrote). The log stays whole: a commit by another writer in between sends the next
/// append through delta-rs's checked commit, the interval's log checkpoints are still written,
/// and the writer's own view of the files catches up when it reads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_that_skip_the_snapshot_refresh_keep_the_log_whole() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let (store, _) = HistoryStore::open(&data).unwrap();
    let writer = store.clone();
    let other_data = data.clone();
    tokio::task::spawn_blocking(move || {
        let one = |partition: i32, offset: i64| -> Vec<PendingFile> {
            let (mut position, event) = sample(offset, 0);
            position.partition = partition;
            metric_files("slacap.metrics", &[(position, event)], offset, offset)
        };
        for offset in 0..120 {
            writer.write(&one(0, offset)).unwrap();
            if offset == 50 {
                // Another writer of the same table commits between two appends.
                HistoryStore::reader(&other_data).write(&one(1, 0)).unwrap();
            }
        }
    })
    .await
    .unwrap();
    let fresh = HistoryStore::reader(&data);
    let expected = fresh.versions(&[Table::Metrics]).unwrap();
    assert_eq!(
        expected["metrics"], 121,
        "creation, 120 appends, 1 other commit"
    );
    assert_eq!(store.versions(&[Table::Metrics]).unwrap(), expected);
    assert_eq!(fresh.files_by_day(Table::Metrics).unwrap().len(), 121);
    assert_eq!(store.files_by_day(Table::Metrics).unwrap().len(), 121);
    assert_eq!(
        fresh
            .txn_version(
                Table::Metrics,
                &slacap::store::source_app("slacap.metrics", 0)
            )
            .unwrap(),
        Some(119)
    );
    let log = data.join("history").join("metrics").join("_delta_log");
    assert!(
        log.join("00000000000000000099.checkpoint.parquet").exists(),
        "the log checkpoint of version 99 is written"
    );
    assert_eq!(count_and_sum(&fresh).await.0, 121);
}

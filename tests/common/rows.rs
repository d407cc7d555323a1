//! Metric rows for the history tests: samples, appends as a batch commits them, and the
//! count and sum slacap's SQL sees.

use slacap::model::{MetricEvent, SourcePosition};
use slacap::store::{FileOrigin, HistoryQuery, HistoryStore, PendingFile, Table, metrics_batches};

pub const DAY: i64 = 86_400_000_000;
/// 2026-11-02T00:00:00Z
pub const START: i64 = 1_793_577_600_000_000;

pub fn sample(i: i64, day: i64) -> (SourcePosition, MetricEvent) {
    (
        SourcePosition {
            partition: 0,
            offset: i,
        },
        MetricEvent {
            time: START + day * DAY + i * 1_000_000,
            service: format!("svc-{}", i % 3),
            component: None,
            metric: "latency_ms".into(),
            value: i as f64,
            labels: Default::default(),
        },
    )
}

/// Appends `rows` (partition 0, offsets `first..=last`) as one batch does: one commit.
pub fn append(store: &HistoryStore, rows: &[(SourcePosition, MetricEvent)], first: i64, last: i64) {
    store
        .write(&metric_files("slacap.metrics", rows, first, last))
        .unwrap();
}

/// The files a batch of `rows` from one partition of `topic` (the rows' own, 0 when there are
/// none; offsets `first..=last`) writes.
pub fn metric_files(
    topic: &str,
    rows: &[(SourcePosition, MetricEvent)],
    first: i64,
    last: i64,
) -> Vec<PendingFile> {
    let origin = FileOrigin::Source {
        topic: topic.into(),
        partition: rows.first().map_or(0, |(position, _)| position.partition),
        first,
        last,
    };
    metrics_batches(rows)
        .unwrap()
        .into_iter()
        .map(|(day, batch)| PendingFile {
            table: Table::Metrics,
            day,
            origin: origin.clone(),
            batch,
        })
        .collect()
}

/// `batches` small appends of `per_batch` samples spread over two days, each with its offsets.
pub fn append_small_batches(store: &HistoryStore, batches: i64, per_batch: i64) {
    for b in 0..batches {
        let rows: Vec<_> = (0..per_batch)
            .map(|k| sample(b * per_batch + k, k % 2))
            .collect();
        append(store, &rows, b * per_batch, b * per_batch + per_batch - 1);
    }
}

pub async fn count_and_sum(store: &HistoryStore) -> (i64, f64) {
    let q = HistoryQuery::new(store).unwrap();
    let json = q
        .sql_json("SELECT count(*) AS n, sum(value) AS s FROM metrics")
        .await
        .unwrap();
    let row = &json.rows[0];
    (row[0].as_i64().unwrap(), row[1].as_f64().unwrap())
}

/// Feeds an engine one `payments` probe a day for `days` days and saves a snapshot at the end
/// of each (checkpoint `seq` = day + 1, `slacap.metrics` partition 0 at offset day + 1); returns
/// the catalogue and the engine.
pub fn daily_snapshots(
    store: &HistoryStore,
    days: i64,
) -> (
    std::sync::Arc<slacap::config::Catalogue>,
    slacap::sla::SlaEngine,
) {
    let catalogue = std::sync::Arc::new(slacap::demo::sample_catalogue().unwrap());
    let mut engine = slacap::sla::SlaEngine::new(catalogue.clone(), std::time::Duration::ZERO);
    let source = slacap::model::Source {
        stream: slacap::model::StreamKind::Metrics,
        partition: 0,
    };
    for day in 0..days {
        engine.apply_sample("payments", "up", START + day * DAY, 1.0, source);
        engine.advance();
        let mut checkpoint = slacap::store::Checkpoint {
            seq: day as u64 + 1,
            ..Default::default()
        };
        checkpoint.advance("slacap.metrics", 0, day + 1);
        store
            .save_snapshot(
                &checkpoint,
                engine.snapshot(),
                ("slacap.metrics".into(), "slacap.tickets".into()),
                400,
            )
            .unwrap();
    }
    (catalogue, engine)
}

/// The row count and value sum of the `metrics` Delta table at `uri`, read by Python's
/// `deltalake` (delta-rs's Python binding, its own build): an independent reader. An S3 `uri`
/// is read through the S3 server at `s3_endpoint`, with the environment's credentials.
pub fn python_count_and_sum(uri: &str, s3_endpoint: Option<&str>) -> (i64, f64) {
    let script = r#"
import os, sys
from deltalake import DeltaTable, QueryBuilder
options = None
if len(sys.argv) > 2:
    options = {"AWS_ENDPOINT_URL": sys.argv[2], "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
               "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
               "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"]}
dt = DeltaTable(sys.argv[1], storage_options=options)
rows = QueryBuilder().register("metrics", dt).execute(
    "SELECT count(*) AS n, sum(value) AS s FROM metrics").read_all()
print(rows.column("n")[0].as_py(), rows.column("s")[0].as_py())
"#;
    let mut command = std::process::Command::new("python3");
    command.arg("-c").arg(script).arg(uri);
    if let Some(endpoint) = s3_endpoint {
        command.arg(endpoint);
    }
    let output = command.output().expect("python3 runs");
    assert!(
        output.status.success(),
        "python deltalake failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let mut parts = text.split_whitespace();
    let n: i64 = parts.next().unwrap().parse().unwrap();
    let s: f64 = parts.next().unwrap().parse().unwrap();
    (n, s)
}

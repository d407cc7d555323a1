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
    let origin = FileOrigin::Source {
        topic: "slacap.metrics".into(),
        partition: 0,
        first,
        last,
    };
    let files: Vec<PendingFile> = metrics_batches(rows)
        .unwrap()
        .into_iter()
        .map(|(day, batch)| PendingFile {
            table: Table::Metrics,
            day,
            origin: origin.clone(),
            batch,
        })
        .collect();
    store.write(&files).unwrap();
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

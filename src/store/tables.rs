//! The history tables: their Arrow schemas, and the conversion of events and findings into
//! record batches, one per UTC date (the hive partition `date=YYYY-MM-DD`).

use crate::model::{MetricEvent, Micros, SourcePosition, TicketEvent};
use crate::sla::{Breach, SliceRecord, TicketOutcomeRecord};
use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

/// A history table: its folder name under `history/` and the column its date partition and
/// row order follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Metrics,
    TicketEvents,
    AvailabilitySlices,
    TicketSlaOutcomes,
    Breaches,
    Corrections,
    Forecasts,
    CapacityPlans,
    Reviews,
}

impl Table {
    pub const ALL: [Table; 9] = [
        Table::Metrics,
        Table::TicketEvents,
        Table::AvailabilitySlices,
        Table::TicketSlaOutcomes,
        Table::Breaches,
        Table::Corrections,
        Table::Forecasts,
        Table::CapacityPlans,
        Table::Reviews,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Metrics => "metrics",
            Table::TicketEvents => "ticket_events",
            Table::AvailabilitySlices => "availability_slices",
            Table::TicketSlaOutcomes => "ticket_sla_outcomes",
            Table::Breaches => "breaches",
            Table::Corrections => "corrections",
            Table::Forecasts => "forecasts",
            Table::CapacityPlans => "capacity_plans",
            Table::Reviews => "reviews",
        }
    }

    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Metrics => METRICS.clone(),
            Table::TicketEvents => TICKET_EVENTS.clone(),
            Table::AvailabilitySlices => SLICES.clone(),
            Table::TicketSlaOutcomes => OUTCOMES.clone(),
            Table::Breaches => BREACHES.clone(),
            Table::Corrections => CORRECTIONS.clone(),
            Table::Forecasts => super::forecast_tables::FORECASTS.clone(),
            Table::CapacityPlans => super::forecast_tables::CAPACITY_PLANS.clone(),
            Table::Reviews => super::review_table::REVIEWS.clone(),
        }
    }

    /// The event-time column (delta-encoded in Parquet).
    pub fn time_column(self) -> &'static str {
        match self {
            Table::Metrics | Table::TicketEvents => "time",
            Table::AvailabilitySlices => "slice_start",
            Table::TicketSlaOutcomes => "decided_at",
            Table::Breaches => "detected_at",
            Table::Corrections => "corrected_at",
            Table::Forecasts | Table::CapacityPlans => "fitted_at",
            Table::Reviews => "recorded_at",
        }
    }
}

pub(super) fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

pub(super) fn f(name: &str, t: DataType, nullable: bool) -> Field {
    Field::new(name, t, nullable)
}

static METRICS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("service", DataType::Utf8, false),
        f("component", DataType::Utf8, true),
        f("metric", DataType::Utf8, false),
        f("time", ts(), false),
        f("value", DataType::Float64, false),
        f("labels", DataType::Utf8, true),
        f("source_partition", DataType::Int32, false),
        f("source_offset", DataType::Int64, false),
    ]))
});

static TICKET_EVENTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("service", DataType::Utf8, false),
        f("time", ts(), false),
        f("ticket", DataType::Utf8, false),
        f("type", DataType::Utf8, false),
        f("priority", DataType::Utf8, false),
        f("status", DataType::Utf8, false),
        f("component", DataType::Utf8, true),
        f("assignee", DataType::Utf8, true),
        f("problem", DataType::Utf8, true),
        f("summary", DataType::Utf8, true),
        f("planned_start", ts(), true),
        f("planned_end", ts(), true),
        f("approved", DataType::Boolean, true),
        f("outage", DataType::Boolean, true),
        f("source_partition", DataType::Int32, false),
        f("source_offset", DataType::Int64, false),
    ]))
});

static SLICES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("service", DataType::Utf8, false),
        f("slo", DataType::Utf8, false),
        f("sli", DataType::Utf8, false),
        f("target", DataType::Float64, false),
        f("slice_start", ts(), false),
        f("slice_seconds", DataType::Int64, false),
        f("excluded_seconds", DataType::Int64, false),
        f("good", DataType::Float64, false),
        f("total", DataType::Float64, false),
        f("state", DataType::Utf8, false),
        f("definition", DataType::Utf8, false),
    ]))
});

static OUTCOMES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("service", DataType::Utf8, false),
        f("decided_at", ts(), false),
        f("ticket", DataType::Utf8, false),
        f("type", DataType::Utf8, false),
        f("priority", DataType::Utf8, false),
        f("metric", DataType::Utf8, false),
        f("created", ts(), false),
        f("target_seconds", DataType::Int64, false),
        f("elapsed_seconds", DataType::Int64, false),
        f("outcome", DataType::Utf8, false),
        f("definition", DataType::Utf8, false),
    ]))
});

static BREACHES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("service", DataType::Utf8, false),
        f("detected_at", ts(), false),
        f("id", DataType::Utf8, false),
        f("kind", DataType::Utf8, false),
        f("ticket", DataType::Utf8, true),
        f("slo", DataType::Utf8, true),
        f("slo_window", DataType::Utf8, true),
        f("observed", DataType::Float64, false),
        f("target", DataType::Float64, false),
        f("definition", DataType::Utf8, false),
    ]))
});

static CORRECTIONS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        f("corrected_at", ts(), false),
        f("kind", DataType::Utf8, false),
        f("key", DataType::Utf8, false),
        f("before", DataType::Utf8, true),
        f("after", DataType::Utf8, true),
        f("cause", DataType::Utf8, false),
    ]))
});

/// Days since the epoch of a UTC instant: the partition key.
pub fn day_of(t: Micros) -> i64 {
    t.div_euclid(86_400_000_000)
}

/// `YYYY-MM-DD` of a day number.
pub fn date_label(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Groups rows by day and sorts each group with `order`, then builds one batch per day.
fn by_day<T>(
    rows: &[T],
    time: impl Fn(&T) -> Micros,
    order: impl Fn(&T, &T) -> Ordering,
    build: impl Fn(&[&T]) -> Result<RecordBatch, arrow::error::ArrowError>,
) -> Result<Vec<(i64, RecordBatch)>, arrow::error::ArrowError> {
    let mut days: BTreeMap<i64, Vec<&T>> = BTreeMap::new();
    for r in rows {
        days.entry(day_of(time(r))).or_default().push(r);
    }
    days.into_iter()
        .map(|(day, mut group)| {
            group.sort_by(|a, b| order(a, b));
            build(&group).map(|b| (day, b))
        })
        .collect()
}

fn finish(
    schema: SchemaRef,
    columns: Vec<ArrayRef>,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    RecordBatch::try_new(schema, columns)
}

pub(super) fn ts_builder(n: usize) -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC")
}

/// Raw metric samples in the order they arrived (source partition, offset). A batch's file
/// lives until its day is compacted, which sorts by series; sorting here by the name strings
/// cost a tenth of the ingest CPU for a few days' smaller files.
pub fn metrics_batches(
    rows: &[(SourcePosition, MetricEvent)],
) -> Result<Vec<(i64, RecordBatch)>, arrow::error::ArrowError> {
    by_day(
        rows,
        |(_, m)| m.time,
        |(p, _), (q, _)| (p.partition, p.offset).cmp(&(q.partition, q.offset)),
        |group| {
            let n = group.len();
            let (mut service, mut component, mut metric) = (
                StringBuilder::new(),
                StringBuilder::new(),
                StringBuilder::new(),
            );
            let (mut time, mut value, mut labels) = (
                ts_builder(n),
                Float64Builder::with_capacity(n),
                StringBuilder::new(),
            );
            let (mut part, mut offset) = (
                Int32Builder::with_capacity(n),
                Int64Builder::with_capacity(n),
            );
            for (p, m) in group {
                service.append_value(&m.service);
                component.append_option(m.component.as_deref());
                metric.append_value(&m.metric);
                time.append_value(m.time);
                value.append_value(m.value);
                if m.labels.is_empty() {
                    labels.append_null();
                } else {
                    labels.append_value(serde_json::to_string(&m.labels).unwrap_or_default());
                }
                part.append_value(p.partition);
                offset.append_value(p.offset);
            }
            finish(
                METRICS.clone(),
                vec![
                    Arc::new(service.finish()),
                    Arc::new(component.finish()),
                    Arc::new(metric.finish()),
                    Arc::new(time.finish()),
                    Arc::new(value.finish()),
                    Arc::new(labels.finish()),
                    Arc::new(part.finish()),
                    Arc::new(offset.finish()),
                ],
            )
        },
    )
}

pub fn ticket_batches(
    rows: &[(SourcePosition, TicketEvent)],
) -> Result<Vec<(i64, RecordBatch)>, arrow::error::ArrowError> {
    by_day(
        rows,
        |(_, t)| t.time,
        |(p, a), (q, b)| {
            (&a.service, a.time, &a.ticket, p.partition, p.offset).cmp(&(
                &b.service,
                b.time,
                &b.ticket,
                q.partition,
                q.offset,
            ))
        },
        |group| {
            let n = group.len();
            let mut s: Vec<StringBuilder> = (0..9).map(|_| StringBuilder::new()).collect();
            let (mut time, mut start, mut end) = (ts_builder(n), ts_builder(n), ts_builder(n));
            let (mut approved, mut outage) = (BooleanBuilder::new(), BooleanBuilder::new());
            let (mut part, mut offset) = (
                Int32Builder::with_capacity(n),
                Int64Builder::with_capacity(n),
            );
            for (p, t) in group {
                s[0].append_value(&t.service);
                time.append_value(t.time);
                s[1].append_value(&t.ticket);
                s[2].append_value(t.ticket_type.as_str());
                s[3].append_value(&t.priority);
                s[4].append_value(t.status.as_str());
                s[5].append_option(t.component.as_deref());
                s[6].append_option(t.assignee.as_deref());
                s[7].append_option(t.problem.as_deref());
                s[8].append_option(t.summary.as_deref());
                start.append_option(t.planned_start);
                end.append_option(t.planned_end);
                approved.append_option(t.approved);
                outage.append_option(t.outage);
                part.append_value(p.partition);
                offset.append_value(p.offset);
            }
            let [
                service,
                ticket,
                ty,
                priority,
                status,
                component,
                assignee,
                problem,
                summary,
            ] = s.map_array();
            finish(
                TICKET_EVENTS.clone(),
                vec![
                    service,
                    Arc::new(time.finish()),
                    ticket,
                    ty,
                    priority,
                    status,
                    component,
                    assignee,
                    problem,
                    summary,
                    Arc::new(start.finish()),
                    Arc::new(end.finish()),
                    Arc::new(approved.finish()),
                    Arc::new(outage.finish()),
                    Arc::new(part.finish()),
                    Arc::new(offset.finish()),
                ],
            )
        },
    )
}

pub fn slice_batches(
    rows: &[SliceRecord],
) -> Result<Vec<(i64, RecordBatch)>, arrow::error::ArrowError> {
    by_day(
        rows,
        |r| r.start,
        |a, b| (&a.service, &a.slo, a.start).cmp(&(&b.service, &b.slo, b.start)),
        |group| {
            let n = group.len();
            let (mut service, mut slo, mut sli, mut state) = (
                StringBuilder::new(),
                StringBuilder::new(),
                StringBuilder::new(),
                StringBuilder::new(),
            );
            let (mut start, mut secs) = (ts_builder(n), Int64Builder::with_capacity(n));
            let mut excluded = Int64Builder::with_capacity(n);
            let (mut good, mut total) = (
                Float64Builder::with_capacity(n),
                Float64Builder::with_capacity(n),
            );
            let mut target = Float64Builder::with_capacity(n);
            let mut definition = StringBuilder::new();
            for r in group {
                definition.append_value(&r.definition);
                service.append_value(&r.service);
                slo.append_value(&r.slo);
                sli.append_value(r.sli);
                target.append_value(r.target);
                start.append_value(r.start);
                secs.append_value(r.seconds);
                excluded.append_value(r.excluded_seconds);
                good.append_value(r.good);
                total.append_value(r.total);
                state.append_value(r.state);
            }
            finish(
                SLICES.clone(),
                vec![
                    Arc::new(service.finish()),
                    Arc::new(slo.finish()),
                    Arc::new(sli.finish()),
                    Arc::new(target.finish()),
                    Arc::new(start.finish()),
                    Arc::new(secs.finish()),
                    Arc::new(excluded.finish()),
                    Arc::new(good.finish()),
                    Arc::new(total.finish()),
                    Arc::new(state.finish()),
                    Arc::new(definition.finish()),
                ],
            )
        },
    )
}

pub fn outcome_batches(
    rows: &[TicketOutcomeRecord],
) -> Result<Vec<(i64, RecordBatch)>, arrow::error::ArrowError> {
    by_day(
        rows,
        |r| r.decided_at,
        |a, b| {
            (&a.service, a.decided_at, &a.ticket, a.metric).cmp(&(
                &b.service,
                b.decided_at,
                &b.ticket,
                b.metric,
            ))
        },
        |group| {
            let n = group.len();
            let mut s: Vec<StringBuilder> = (0..6).map(|_| StringBuilder::new()).collect();
            let (mut decided, mut created) = (ts_builder(n), ts_builder(n));
            let (mut target, mut elapsed) = (
                Int64Builder::with_capacity(n),
                Int64Builder::with_capacity(n),
            );
            let mut definition = StringBuilder::new();
            for r in group {
                definition.append_value(&r.definition);
                s[0].append_value(&r.service);
                decided.append_value(r.decided_at);
                s[1].append_value(&r.ticket);
                s[2].append_value(r.ticket_type.as_str());
                s[3].append_value(&r.priority);
                s[4].append_value(r.metric);
                created.append_value(r.created);
                target.append_value(r.target_seconds);
                elapsed.append_value(r.elapsed_seconds);
                s[5].append_value(match r.outcome {
                    crate::sla::ticket_clock::Outcome::Met => "met",
                    crate::sla::ticket_clock::Outcome::Breached => "breached",
                });
            }
            let [service, ticket, ty, priority, metric, outcome] = s.map_array();
            finish(
                OUTCOMES.clone(),
                vec![
                    service,
                    Arc::new(decided.finish()),
                    ticket,
                    ty,
                    priority,
                    metric,
                    Arc::new(created.finish()),
                    Arc::new(target.finish()),
                    Arc::new(elapsed.finish()),
                    outcome,
                    Arc::new(definition.finish()),
                ],
            )
        },
    )
}

pub fn breach_batches(
    rows: &[Breach],
) -> Result<Vec<(i64, RecordBatch)>, arrow::error::ArrowError> {
    by_day(
        rows,
        |r| r.detected_at,
        |a, b| (&a.service, a.detected_at, &a.id).cmp(&(&b.service, b.detected_at, &b.id)),
        |group| {
            let n = group.len();
            let mut s: Vec<StringBuilder> = (0..6).map(|_| StringBuilder::new()).collect();
            let mut detected = ts_builder(n);
            let (mut observed, mut target) = (
                Float64Builder::with_capacity(n),
                Float64Builder::with_capacity(n),
            );
            let mut definition = StringBuilder::new();
            for r in group {
                definition.append_value(&r.definition);
                s[0].append_value(&r.service);
                detected.append_value(r.detected_at);
                s[1].append_value(&r.id);
                s[2].append_value(r.kind.as_str());
                s[3].append_option(r.ticket.as_deref());
                s[4].append_option(r.slo.as_deref());
                s[5].append_option(r.slo_window.as_deref());
                observed.append_value(r.observed);
                target.append_value(r.target);
            }
            let [service, id, kind, ticket, slo, window] = s.map_array();
            finish(
                BREACHES.clone(),
                vec![
                    service,
                    Arc::new(detected.finish()),
                    id,
                    kind,
                    ticket,
                    slo,
                    window,
                    Arc::new(observed.finish()),
                    Arc::new(target.finish()),
                    Arc::new(definition.finish()),
                ],
            )
        },
    )
}

pub fn correction_batches(
    rows: &[crate::sla::CorrectionRecord],
) -> Result<Vec<(i64, RecordBatch)>, arrow::error::ArrowError> {
    by_day(
        rows,
        |r| r.corrected_at,
        |a, b| (a.corrected_at, a.kind, &a.key).cmp(&(b.corrected_at, b.kind, &b.key)),
        |group| {
            let mut at = ts_builder(group.len());
            let mut s: Vec<StringBuilder> = (0..5).map(|_| StringBuilder::new()).collect();
            for r in group {
                at.append_value(r.corrected_at);
                s[0].append_value(r.kind);
                s[1].append_value(&r.key);
                s[2].append_option(r.before.as_deref());
                s[3].append_option(r.after.as_deref());
                s[4].append_value(&r.cause);
            }
            let [kind, key, before, after, cause] = s.map_array();
            finish(
                CORRECTIONS.clone(),
                vec![Arc::new(at.finish()), kind, key, before, after, cause],
            )
        },
    )
}

/// The derived-table files of one set of findings, all named `origin`.
pub fn derived_files(
    findings: &crate::sla::Findings,
    origin: &super::history::FileOrigin,
) -> Result<Vec<super::history::PendingFile>, arrow::error::ArrowError> {
    let mut files = Vec::new();
    for (table, batches) in [
        (Table::AvailabilitySlices, slice_batches(&findings.slices)?),
        (
            Table::TicketSlaOutcomes,
            outcome_batches(&findings.outcomes)?,
        ),
        (Table::Breaches, breach_batches(&findings.breaches)?),
    ] {
        for (day, batch) in batches {
            files.push(super::history::PendingFile {
                table,
                day,
                origin: origin.clone(),
                batch,
            });
        }
    }
    Ok(files)
}

/// Finishes a fixed number of string builders into arrays.
trait MapArray<const N: usize> {
    fn map_array(self) -> [ArrayRef; N];
}

impl<const N: usize> MapArray<N> for Vec<StringBuilder> {
    fn map_array(self) -> [ArrayRef; N] {
        let mut arrays = self
            .into_iter()
            .map(|mut b| Arc::new(b.finish()) as ArrayRef);
        std::array::from_fn(|_| {
            arrays
                .next()
                .unwrap_or_else(|| Arc::new(StringBuilder::new().finish()))
        })
    }
}

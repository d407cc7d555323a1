//! The `reviews` table: one row per review-register entry, so BI tools can report on the
//! management review of breaches next to the breaches themselves.

use super::history::{FileOrigin, PendingFile};
use super::tables::{Table, day_of, f, ts, ts_builder};
use crate::alert::register::ReviewEntry;
use crate::model::parse_rfc3339;
use arrow::array::{ArrayRef, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use std::sync::{Arc, LazyLock};

pub(super) static REVIEWS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str, nullable: bool| f(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        f("recorded_at", ts(), false),
        text("breach", false),
        f("seq", DataType::Int64, false),
        text("recorded_by", false),
        text("reviewer", false),
        text("status", false),
        text("decision", true),
        text("root_cause", true),
        text("actions", false),
        text("problem", true),
        text("minutes", true),
        f("corrects", DataType::Int64, true),
        text("note", true),
    ]))
});

/// The file of one entry (`review-<seq>.parquet` in the partition of its day).
pub fn review_file(entry: &ReviewEntry) -> Result<PendingFile, arrow::error::ArrowError> {
    let at = parse_rfc3339(&entry.recorded_at).unwrap_or_default();
    let mut recorded = ts_builder(1);
    recorded.append_value(at);
    let string = |v: Option<&str>| {
        let mut b = StringBuilder::new();
        b.append_option(v);
        Arc::new(b.finish()) as ArrayRef
    };
    let int = |v: Option<i64>| {
        let mut b = Int64Builder::new();
        b.append_option(v);
        Arc::new(b.finish()) as ArrayRef
    };
    let actions = serde_json::to_string(&entry.actions).unwrap_or_else(|_| "[]".into());
    let batch = RecordBatch::try_new(
        REVIEWS.clone(),
        vec![
            Arc::new(recorded.finish()),
            string(Some(&entry.breach)),
            int(Some(entry.seq as i64)),
            string(Some(&entry.recorded_by)),
            string(Some(&entry.reviewer)),
            string(Some(entry.status.as_str())),
            string(entry.decision.as_deref()),
            string(entry.root_cause.as_deref()),
            string(Some(&actions)),
            string(entry.problem.as_deref()),
            string(entry.minutes.as_deref()),
            int(entry.corrects.map(|c| c as i64)),
            string(entry.note.as_deref()),
        ],
    )?;
    Ok(PendingFile {
        table: Table::Reviews,
        day: day_of(at),
        origin: FileOrigin::Review { seq: entry.seq },
        batch,
    })
}

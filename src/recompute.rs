//! `slacap recompute`: rebuilds the derived history (availability slices, ticket SLA outcomes,
//! breaches) from the raw events in the Parquet history, e.g. after an SLA definition changed.
//!
//! The raw tables are replayed through a fresh SLA engine built from the current catalogue, up
//! to the checkpoint's watermark, exactly as the stream would have computed them; the derived
//! files of the affected dates are then replaced. Rows carry the definition version that
//! produced them. Run it while `slacap run` is stopped.

use crate::config::Config;
use crate::model::{Source, StreamKind};
use crate::sla::SlaEngine;
use crate::store::{
    FileOrigin, HistoryStore, Replayed, StoreError, Table, day_of, derived_files, replay_events,
};
use std::sync::Arc;

/// Feeds the raw history (every ticket event and metric sample) into `engine`, without
/// advancing it. Returns the number of events.
pub fn replay_into(store: &HistoryStore, engine: &mut SlaEngine) -> Result<u64, StoreError> {
    replay_events(store, |event| match event {
        Replayed::Ticket { event, partition } => engine.apply_ticket(
            event,
            Source {
                stream: StreamKind::Tickets,
                partition,
            },
        ),
        Replayed::Sample {
            service,
            component,
            metric,
            time,
            value,
            partition,
        } => {
            engine.note_seen(service, component, time);
            let source = Source {
                stream: StreamKind::Metrics,
                partition,
            };
            engine.apply_sample(service, metric, time, value, source);
        }
    })
}

/// What a recomputation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecomputeSummary {
    pub events_replayed: u64,
    pub files_removed: usize,
    pub slices: usize,
    pub outcomes: usize,
    pub breaches: usize,
    /// The definition version the new rows carry.
    pub definition: String,
}

/// Replaces the derived history from `from_day` (days since the epoch, UTC) on.
pub fn recompute(config: &Config, from_day: i64) -> Result<RecomputeSummary, StoreError> {
    let (store, checkpoint) = HistoryStore::open(&config.settings.data_dir)?;
    let catalogue = Arc::new(config.catalogue.clone());
    let mut engine = SlaEngine::new(catalogue.clone(), config.settings.pipeline.allowed_lateness);
    let events_replayed = replay_into(&store, &mut engine)?;
    if let Some(watermark) = checkpoint.watermark {
        engine.restore_watermark(watermark);
    }
    let mut findings = engine.advance();
    findings.slices.retain(|s| day_of(s.start) >= from_day);
    findings
        .outcomes
        .retain(|o| day_of(o.decided_at) >= from_day);
    findings
        .breaches
        .retain(|b| day_of(b.detected_at) >= from_day);

    let files = derived_files(
        &findings,
        &FileOrigin::Recompute {
            at: chrono::Utc::now().timestamp(),
        },
    )?;
    // The old rows go first, then the new ones are written: a crash in between leaves those
    // dates without derived rows, and running the same command again repairs them.
    let mut files_removed = 0;
    for table in [
        Table::AvailabilitySlices,
        Table::TicketSlaOutcomes,
        Table::Breaches,
    ] {
        files_removed += store.remove_from(table, from_day)?;
    }
    store.write(&files)?;
    Ok(RecomputeSummary {
        events_replayed,
        files_removed,
        slices: findings.slices.len(),
        outcomes: findings.outcomes.len(),
        breaches: findings.breaches.len(),
        definition: crate::sla::definition_version(&catalogue),
    })
}

//! `slacap recompute`: rebuilds the derived history (availability slices, ticket SLA outcomes,
//! breaches) from the raw events in the Parquet history, e.g. after an SLA definition changed.
//!
//! The raw tables are replayed through a fresh SLA engine built from the current catalogue, up
//! to the checkpoint's watermark, exactly as the stream would have computed them; the derived
//! files of the affected dates are then replaced. Rows carry the definition version that
//! produced them. Run it while `slacap run` is stopped.

use crate::config::Config;
use crate::model::format_rfc3339;
use crate::model::{Source, StreamKind};
use crate::sla::SlaEngine;
use crate::sla::burn::BurnAlert;
use crate::sla::older::{OlderFindings, OlderOutcome, OlderSlice};
use crate::sla::{Breach, CorrectionRecord};
use crate::store::{
    FileOrigin, HistoryStore, Replayed, StoreError, Table, correction_batches, day_of,
    derived_files, replay_events,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Applies one event of the raw history to `engine`.
pub fn apply_replayed(engine: &mut SlaEngine, event: Replayed<'_>) {
    match event {
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
    }
}

/// A fresh SLA state from the raw history, advanced to `watermark`, with everything it found.
fn rebuild(
    store: &HistoryStore,
    catalogue: Arc<crate::config::Catalogue>,
    lateness: std::time::Duration,
    watermark: Option<i64>,
    before: Option<i64>,
    bound: Option<&crate::store::ReplayBound>,
) -> Result<(SlaEngine, u64, crate::sla::Findings), StoreError> {
    let (mut engine, events) =
        state_from_history(store, catalogue, lateness, before, bound, |_| {})?;
    if let Some(watermark) = watermark {
        engine.restore_watermark(watermark);
    }
    let findings = engine.advance();
    Ok((engine, events, findings))
}

/// The SLA state the history holds, not advanced: from the newest usable snapshot whose
/// watermark is at or before `before` (any, when `None`) plus the raw events after it, or from
/// the whole raw history when there is none (no snapshot yet, other SLA definitions, a reset
/// log generation). Raw rows at or beyond `bound` (a start-up's checkpoint) are left out: they
/// are consumed again and applied live. `progress` is told every 65,536 events. Returns the
/// state and the number of events replayed.
pub fn state_from_history(
    store: &HistoryStore,
    catalogue: Arc<crate::config::Catalogue>,
    lateness: std::time::Duration,
    before: Option<i64>,
    bound: Option<&crate::store::ReplayBound>,
    progress: impl FnMut(u64),
) -> Result<(SlaEngine, u64), StoreError> {
    state_from_history_with(store, catalogue, lateness, before, bound, None, progress)
}

/// [`state_from_history`], given the newest snapshot already read (a start-up reads it while
/// the history's tables load): it is used if it is the first candidate, else read again.
pub fn state_from_history_with(
    store: &HistoryStore,
    catalogue: Arc<crate::config::Catalogue>,
    lateness: std::time::Duration,
    before: Option<i64>,
    bound: Option<&crate::store::ReplayBound>,
    mut prefetched: Option<crate::store::PrefetchedSnapshot>,
    progress: impl FnMut(u64),
) -> Result<(SlaEngine, u64), StoreError> {
    let progress = std::cell::RefCell::new(progress);
    let pending = std::cell::Cell::new(0u64);
    let counted = |engine: &mut SlaEngine, event: Replayed<'_>| {
        apply_replayed(engine, event);
        pending.set(pending.get() + 1);
        if pending.get() == 65_536 {
            (progress.borrow_mut())(pending.replace(0));
        }
    };
    let flush = || (progress.borrow_mut())(pending.replace(0));
    let candidates: Vec<_> = store
        .snapshots()?
        .into_iter()
        .rev()
        .filter(|s| match (before, s.watermark) {
            (None, _) => true,
            (Some(before), Some(w)) => w <= before,
            // No watermark says nothing of when its events were: it may hold state from
            // after `before`, and a rebuild from it would miss what changed before that.
            (Some(_), None) => false,
        })
        .collect();
    // A snapshot holds decisions up to its watermark. Events after it that lie behind that
    // watermark arrived late and were corrected by a rebuild from an older state; replayed onto
    // this snapshot they would update its tickets and slices but not revise what it had already
    // decided (a breach since withdrawn would stand). Such a snapshot is passed over for an
    // older one taken before the earliest of those events.
    let mut earliest_after: Option<i64> = None;
    for info in candidates {
        if let (Some(earliest), Some(w)) = (earliest_after, info.watermark)
            && w > earliest
        {
            continue;
        }
        let loading = std::time::Instant::now();
        let read = match prefetched.take() {
            Some((file, read)) if file == info => read,
            _ => store.load_snapshot(&info),
        };
        let snapshot = match read {
            Ok(s) => s,
            Err(error) => {
                tracing::warn!(%error, "snapshot skipped");
                continue;
            }
        };
        if !snapshot.checkpoint.generations.is_empty() {
            break; // offsets of a reset log cannot tell its rows from the old log's
        }
        let (checkpoint, topics) = (snapshot.checkpoint.clone(), snapshot.topics.clone());
        if let Some(bound) = bound {
            let beyond = |stream, topic: &str| {
                checkpoint.offsets.get(topic).is_some_and(|parts| {
                    parts.iter().any(|(p, next)| *next > bound.end(stream, *p))
                })
            };
            if beyond(StreamKind::Metrics, &topics.0) || beyond(StreamKind::Tickets, &topics.1) {
                continue; // taken after the checkpoint the start-up resumes from
            }
        }
        match SlaEngine::from_snapshot(catalogue.clone(), lateness, snapshot.engine) {
            Ok(mut engine) => {
                let load_ms = loading.elapsed().as_millis() as u64;
                let tailing = std::time::Instant::now();
                let taken_at = info.watermark.or_else(|| engine.watermark());
                let mut earliest = i64::MAX;
                let events = crate::store::replay_tail(
                    store,
                    &checkpoint,
                    (&topics.0, &topics.1),
                    bound,
                    |event| {
                        earliest = earliest.min(event.time());
                        counted(&mut engine, event)
                    },
                )?;
                flush();
                if let Some(w) = taken_at
                    && earliest < w
                {
                    tracing::info!(
                        snapshot = %info.path.display(),
                        earliest_late = %crate::model::format_rfc3339(earliest),
                        "snapshot not used: events after it lie behind its watermark (corrected late events); trying an older one"
                    );
                    earliest_after = Some(earliest_after.map_or(earliest, |e| e.min(earliest)));
                    continue;
                }
                tracing::info!(
                    snapshot = %info.path.display(),
                    tail_events = events,
                    load_ms,
                    tail_ms = tailing.elapsed().as_millis() as u64,
                    "state restored from a snapshot"
                );
                return Ok((engine, events));
            }
            Err(mismatch) => {
                tracing::info!(%mismatch, "snapshot not used; replaying the whole history");
                break;
            }
        }
    }
    let mut engine = SlaEngine::new(catalogue, lateness);
    let events = replay_events(store, bound, |event| counted(&mut engine, event))?;
    flush();
    Ok((engine, events))
}

/// The SLA state of a whole history, advanced as far as its events allow (for offline reports).
pub fn engine_from_history(config: &crate::config::Config) -> Result<SlaEngine, StoreError> {
    let store = HistoryStore::reader_for(&config.settings);
    let (engine, _, _) = rebuild(
        &store,
        Arc::new(config.catalogue.clone()),
        config.settings.pipeline.allowed_lateness,
        None,
        None,
        None,
    )?;
    Ok(engine)
}

/// The clocks of ticket `id` rebuilt from its events in the history, evaluated at `as_of` (the
/// live watermark): for a ticket that has left the live state. `None` when the history has no
/// event of it.
pub fn ticket_sla_from_history(
    store: &HistoryStore,
    catalogue: Arc<crate::config::Catalogue>,
    lateness: std::time::Duration,
    id: &str,
    as_of: Option<crate::model::Micros>,
) -> Result<Option<crate::sla::TicketSla>, StoreError> {
    let ids = std::collections::HashSet::from([id.to_string()]);
    let engine = tickets_from_history(store, catalogue, lateness, &ids, None, as_of)?;
    Ok(engine.ticket_sla(id))
}

/// A fresh SLA state holding only the tickets `ids`, rebuilt from their events in the history
/// (the raw days from `from_day` on; every day when `None`) and evaluated at `as_of`. It is not
/// advanced, so nothing is evicted and nothing is decided twice: the clocks are what
/// [`SlaEngine::ticket_sla`] reports, the findings stay where the stream wrote them.
pub fn tickets_from_history(
    store: &HistoryStore,
    catalogue: Arc<crate::config::Catalogue>,
    lateness: std::time::Duration,
    ids: &std::collections::HashSet<String>,
    from_day: Option<i64>,
    as_of: Option<crate::model::Micros>,
) -> Result<SlaEngine, StoreError> {
    let events = crate::store::tickets_history(store, ids, from_day)?;
    let mut engine = SlaEngine::new(catalogue, lateness);
    for (event, partition) in &events {
        let source = Source {
            stream: StreamKind::Tickets,
            partition: *partition,
        };
        engine.apply_ticket(event, source);
    }
    if let Some(watermark) = as_of {
        engine.restore_watermark(watermark);
    }
    Ok(engine)
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

/// Replaces the derived history from `from_day` (days since the epoch, UTC) on, for every
/// service or for `only_service`.
pub fn recompute(
    config: &Config,
    from_day: i64,
    only_service: Option<&str>,
) -> Result<RecomputeSummary, StoreError> {
    let _writer = config
        .settings
        .history_location()
        .lock_writer(&config.settings.data_dir, "recompute")
        .map_err(|error| match error {
            crate::store::LockError::Store(error) => error,
            held => StoreError::InUse(held.to_string()),
        })?;
    let lost = crate::store::checkpoint_lost(
        &config.settings.data_dir,
        &config.settings.history_location(),
    )?;
    let (store, checkpoint) = HistoryStore::open_for(&config.settings)?;
    let catalogue = Arc::new(config.catalogue.clone());
    let lateness = config.settings.pipeline.allowed_lateness;
    // Rows beyond the checkpoint (a batch whose checkpoint a crash prevented) are left to the
    // next `run`, which consumes them again and derives their rows itself. Without a
    // checkpoint file, the raw tables are taken whole (their `txn` say what they hold).
    let topics = &config.settings.kafka.topics;
    let bound =
        crate::store::ReplayBound::from_checkpoint(&checkpoint, (&topics.metrics, &topics.tickets))
            .filter(|_| !lost);
    let (_, events_replayed, mut findings) = rebuild(
        &store,
        catalogue.clone(),
        lateness,
        checkpoint.watermark,
        Some(from_day * 86_400_000_000),
        bound.as_ref(),
    )?;
    findings.retain_from_day(from_day);
    if let Some(service) = only_service {
        findings.slices.retain(|s| s.service == service);
        findings.outcomes.retain(|o| o.service == service);
        findings.breaches.retain(|b| b.service == service);
    }

    let files = derived_files(
        &findings,
        &FileOrigin::Recompute {
            at: chrono::Utc::now().timestamp(),
        },
    )?;
    // One commit per table removes the old rows and adds the new: a reader sees one or the other.
    let tables = [
        Table::AvailabilitySlices,
        Table::TicketSlaOutcomes,
        Table::Breaches,
    ];
    let replacing = crate::store::Replacing {
        from_day: Some(from_day),
        service: only_service.map(str::to_string),
    };
    let mut files_removed = 0;
    for table in tables {
        files_removed += store
            .files_by_day(table)?
            .iter()
            .filter(|f| f.day >= from_day)
            .count();
    }
    store.replace(&tables, &replacing, &files)?;
    Ok(RecomputeSummary {
        events_replayed,
        files_removed,
        slices: findings.slices.len(),
        outcomes: findings.outcomes.len(),
        breaches: findings.breaches.len(),
        definition: crate::sla::definition_version(&catalogue),
    })
}

/// The result of correcting the history after late events.
pub struct Correction {
    /// The SLA state rebuilt from the history, to replace the live one.
    pub engine: SlaEngine,
    /// What changed, as correction records (also written to the `corrections` table).
    pub records: Vec<CorrectionRecord>,
    /// Breaches that exist only after the correction (to be alerted).
    pub new_breaches: Vec<Breach>,
    /// Burn-rate transitions (firing, resolved) that exist only after the correction (to be
    /// alerted), in time order.
    pub new_burn_alerts: Vec<BurnAlert>,
}

/// Rebuilds the SLA state from the history (which already holds the late events), compares it
/// with `live`, and replaces the derived files from the day of the earliest late event on with
/// the corrected rows, named `origin`. The caller swaps the returned engine in. `bound` is the
/// batch's checkpoint: raw rows beyond it (a batch written before a crash but not
/// checkpointed, not yet consumed again) are left out, as the live state has not seen them.
pub fn correct_late_events(
    store: &HistoryStore,
    live: &SlaEngine,
    late_events: u64,
    earliest_late: i64,
    origin: &FileOrigin,
    bound: Option<&crate::store::ReplayBound>,
) -> Result<Correction, StoreError> {
    let started = std::time::Instant::now();
    let catalogue = Arc::new(live.catalogue().clone());
    let watermark = live.watermark().unwrap_or(earliest_late);
    let first_day = day_of(earliest_late);
    // From the newest snapshot taken before the late events' day: everything it had already
    // decided lies before that day and stands.
    let (engine, _, mut findings) = rebuild(
        store,
        catalogue,
        live.lateness(),
        Some(watermark),
        Some(first_day * 86_400_000_000),
        bound,
    )?;
    let cause = format!(
        "{late_events} event(s) arrived behind the watermark, the earliest from {}",
        format_rfc3339(earliest_late)
    );
    let mut records = Vec::new();
    let mut record = |kind, key: String, before: Option<String>, after: Option<String>| {
        if before != after {
            records.push(CorrectionRecord {
                corrected_at: watermark,
                kind,
                key,
                before,
                after,
                cause: cause.clone(),
            });
        }
    };

    // Before: the derived rows the history holds from the late day on (the live state keeps
    // only its open windows). After: what the rebuild found from that day on.
    let from = first_day * 86_400_000_000;
    let span = crate::sla::window::Interval {
        start: from,
        end: watermark + 86_400_000_000,
    };
    let rebuilt_ms = started.elapsed().as_millis() as u64;
    let before_rows = crate::store::all_findings_blocking(store, span)?;
    let read_ms = started.elapsed().as_millis() as u64 - rebuilt_ms;
    let after_rows = OlderFindings::from_findings(&findings, from);

    // Ticket outcomes, by ticket and clock.
    let describe = |o: &OlderOutcome| {
        let outcome = if o.met { "met" } else { "breached" };
        format!("{outcome} at {}", format_rfc3339(o.decided_at)).to_lowercase()
    };
    let outcomes = |rows: &HashMap<String, OlderFindings>| -> BTreeMap<(String, String), String> {
        rows.values()
            .flat_map(|r| &r.outcomes)
            .map(|o| ((o.ticket.clone(), o.metric.clone()), describe(o)))
            .collect()
    };
    let (before, after) = (outcomes(&before_rows), outcomes(&after_rows));
    for key in before.keys().chain(after.keys()).collect::<BTreeSet<_>>() {
        record(
            "ticket_outcome",
            format!("{}:{}", key.0, key.1),
            before.get(key).cloned(),
            after.get(key).cloned(),
        );
    }

    // Breaches, by id.
    let breach_map = |list: Vec<Breach>| -> BTreeMap<String, Breach> {
        list.into_iter()
            .filter(|b| day_of(b.detected_at) >= first_day)
            .map(|b| (b.id.clone(), b))
            .collect()
    };
    let (before, after) = (
        breach_map(live.breaches(None, None)),
        breach_map(engine.breaches(None, None)),
    );
    let mut new_breaches = Vec::new();
    for id in before.keys().chain(after.keys()).collect::<BTreeSet<_>>() {
        let show = |b: Option<&Breach>| {
            b.map(|b| format!("{} at {}", b.kind.as_str(), format_rfc3339(b.detected_at)))
        };
        record(
            "breach",
            id.clone(),
            show(before.get(id)),
            show(after.get(id)),
        );
        if let (None, Some(b)) = (before.get(id), after.get(id)) {
            new_breaches.push(b.clone());
        }
    }

    // Burn-rate alerts, by id (a firing and its resolution share it). The live state evaluates
    // each slice boundary once, so a transition only the late events cause exists only in the
    // rebuild: it is alerted now, and the swapped-in state's later resolution then matches a
    // firing that was published.
    let burn_map = |list: Vec<BurnAlert>| -> BTreeMap<String, Vec<BurnAlert>> {
        let mut by_id: BTreeMap<String, Vec<BurnAlert>> = BTreeMap::new();
        for alert in list.into_iter().filter(|a| day_of(a.at) >= first_day) {
            by_id.entry(alert.id.clone()).or_default().push(alert);
        }
        by_id
    };
    let (before, after) = (
        burn_map(live.burn_alerts(None)),
        burn_map(engine.burn_alerts(None)),
    );
    let mut new_burn_alerts = Vec::new();
    for id in before.keys().chain(after.keys()).collect::<BTreeSet<_>>() {
        let show = |alerts: Option<&Vec<BurnAlert>>| {
            alerts.map(|list| {
                list.iter()
                    .map(|a| format!("{} at {}", a.state, format_rfc3339(a.at)))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
        };
        record(
            "burn_alert",
            id.clone(),
            show(before.get(id)),
            show(after.get(id)),
        );
        let published = before.get(id).map_or(&[][..], Vec::as_slice);
        for alert in after.get(id).into_iter().flatten() {
            if !published.iter().any(|p| p.state == alert.state) {
                new_burn_alerts.push(alert.clone());
            }
        }
    }
    new_burn_alerts.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));

    // Availability, per SLO and affected day: each day computed from that day's rows.
    let by_day = |rows: HashMap<String, OlderFindings>| {
        let mut days: HashMap<(String, i64), Vec<OlderSlice>> = HashMap::new();
        for (service, found) in rows {
            for slice in found.slices {
                days.entry((service.clone(), day_of(slice.start)))
                    .or_default()
                    .push(slice);
            }
        }
        days
    };
    let (before_days, after_days) = (by_day(before_rows), by_day(after_rows));
    let mut day = first_day;
    while day <= day_of(watermark) {
        let window = crate::sla::window::Interval {
            start: day * 86_400_000_000,
            end: (day + 1) * 86_400_000_000,
        };
        for service in &live.catalogue().services {
            let key = (service.id.clone(), day);
            let before = before_days.get(&key).map_or(&[][..], |r| &r[..]);
            let after = after_days.get(&key).map_or(&[][..], |r| &r[..]);
            let old = live.attainments_with(&service.id, window, before);
            let new = engine.attainments_with(&service.id, window, after);
            for ((slo, o), (_, n)) in old.iter().zip(&new) {
                let show = |a: &crate::sla::availability::Attainment| {
                    a.attained.map(|x| format!("{x:.6}"))
                };
                record(
                    "availability",
                    format!("{}:{}:{}", service.id, slo, crate::store::date_label(day)),
                    show(o),
                    show(n),
                );
            }
        }
        day += 1;
    }

    tracing::debug!(
        rebuilt_ms,
        read_ms,
        compared_ms = started.elapsed().as_millis() as u64 - rebuilt_ms - read_ms,
        "late events compared"
    );
    findings.retain_from_day(first_day);
    let mut files = derived_files(&findings, origin)?;
    for (day, batch) in correction_batches(&records)? {
        files.push(crate::store::PendingFile {
            table: Table::Corrections,
            day,
            origin: origin.clone(),
            batch,
        });
    }
    store.replace(
        &[
            Table::AvailabilitySlices,
            Table::TicketSlaOutcomes,
            Table::Breaches,
        ],
        &crate::store::Replacing {
            from_day: Some(first_day),
            service: None,
        },
        &files,
    )?;
    Ok(Correction {
        engine,
        records,
        new_breaches,
        new_burn_alerts,
    })
}

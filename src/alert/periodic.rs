//! The alerts no event triggers: overdue reviews (checked every 15 s), problem candidates
//! (every minute) and forecast exhaustion (a component whose expected forecast reaches its
//! threshold within the planning horizon, after each refit). Each is published to the alerts topic (waiting for the broker's
//! ack) and the webhook outboxes, then recorded in `<data_dir>/reviews/overdue.log` (the log of
//! raised ids) so a restart does not raise it again.

use super::outbox::OutboxAlert;
use super::overdue::{RaisedLog, due_alerts};
use super::register::Register;
use crate::config::Config;
use crate::forecast::PlanDocument;
use crate::ingest::PipelineHandles;
use crate::model::Micros;
use crate::planner::Planner;
use crate::report::problems::Candidate;
use crate::store::HistoryQuery;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CHECK_EVERY: Duration = Duration::from_secs(15);
const CANDIDATES_EVERY: u32 = 4;

/// The alert of a problem candidate.
pub fn candidate_alert(c: &Candidate) -> (String, String) {
    let payload = serde_json::json!({
        "kind": "problem_candidate",
        "candidate": c,
        "summary": format!(
            "{}{}: {} incidents from {} to {} with no problem record linked: {}",
            c.service,
            c.component.as_deref().map(|c| format!("/{c}")).unwrap_or_default(),
            c.incidents.len(),
            c.first,
            c.last,
            c.incidents.join(", ")
        ),
    });
    (c.id.clone(), payload.to_string())
}

/// The alert of a plan whose expected forecast crosses its threshold within the horizon
/// (raised once per component).
pub fn exhaustion_alert(p: &PlanDocument) -> Option<(String, String)> {
    let expected = p.exhaustion.as_ref()?.expected.as_deref()?;
    let id = format!("capacity-exhaustion:{}:{}", p.service, p.component);
    let payload = serde_json::json!({
        "kind": "capacity_exhaustion",
        "plan": p,
        "summary": format!(
            "{}/{}: {} is forecast to reach its threshold {} around {} (risk {}; recommended capacity {:.2}, today {})",
            p.service, p.component, p.resource, p.threshold, expected, p.risk.as_str(),
            p.recommended_capacity, p.capacity
        ),
    });
    Some((id, payload.to_string()))
}

/// Runs the checks until `stop` turns true.
pub async fn run(
    config: Arc<Config>,
    pipeline: PipelineHandles,
    reviews: Arc<Mutex<Register>>,
    history: HistoryQuery,
    planner: Planner,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let settings = &config.settings;
    let producer: FutureProducer = match crate::ingest::producer_config(&settings.kafka).create() {
        Ok(p) => p,
        Err(error) => {
            tracing::error!(%error, "periodic alerts: cannot create a Kafka producer; none will be raised");
            return;
        }
    };
    let mut raised = match RaisedLog::open(&settings.data_dir) {
        Ok(r) => r,
        Err(error) => {
            tracing::error!(%error, "periodic alerts: cannot open the log; none will be raised");
            return;
        }
    };
    let due_within = crate::model::micros_of(settings.alerts.review_due);
    let mut round = 0u32;
    loop {
        let now = chrono::Utc::now().timestamp_micros();
        let breaches = pipeline
            .engine
            .read()
            .map(|e| e.breaches(None, None))
            .unwrap_or_default();
        let mut alerts = match reviews.lock() {
            Ok(register) => due_alerts(&breaches, &register, &raised.ids, due_within, now),
            Err(_) => Vec::new(),
        };
        if round.is_multiple_of(CANDIDATES_EVERY) {
            match crate::report::tickets::current_candidates(&config, &history).await {
                Ok(found) => alerts.extend(
                    found
                        .iter()
                        .filter(|c| !raised.ids.contains(&c.id))
                        .map(candidate_alert),
                ),
                Err(error) => tracing::warn!(%error, "problem candidates not checked"),
            }
        }
        let plans = crate::planner::plans_of(&planner.book(), None, None, None);
        alerts.extend(
            plans
                .iter()
                .filter_map(exhaustion_alert)
                .filter(|(id, _)| !raised.ids.contains(id)),
        );
        round = round.wrapping_add(1);
        publish(&producer, &config, &pipeline, &mut raised, alerts, now).await;
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

async fn publish(
    producer: &FutureProducer,
    config: &Config,
    pipeline: &PipelineHandles,
    raised: &mut RaisedLog,
    alerts: Vec<(String, String)>,
    now: Micros,
) {
    let mut published = Vec::new();
    for (id, payload) in alerts {
        let record = FutureRecord::to(&config.settings.kafka.topics.alerts)
            .key(id.as_bytes())
            .payload(payload.as_bytes());
        match producer.send(record, Duration::from_secs(10)).await {
            Ok(_) => published.push(OutboxAlert::from_payload(&id, &payload, now)),
            Err((error, _)) => tracing::warn!(%error, %id, "alert not published; retrying later"),
        }
    }
    if published.is_empty() {
        return;
    }
    let ids: Vec<String> = published.iter().map(|a| a.id.clone()).collect();
    let sink = pipeline.alerts.clone();
    match tokio::task::spawn_blocking(move || sink.enqueue(&published)).await {
        Ok(Ok(())) => match raised.record(&ids) {
            Ok(()) => tracing::info!(count = ids.len(), "periodic alerts raised"),
            Err(error) => tracing::error!(%error, "cannot record raised alerts"),
        },
        Ok(Err(error)) => tracing::error!(%error, "alerts not queued for webhooks"),
        Err(error) => tracing::error!(%error, "alerts not queued for webhooks"),
    }
}

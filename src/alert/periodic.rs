//! The alerts no event triggers: overdue reviews (checked every 15 s), problem candidates
//! (every minute) and forecast exhaustion (a component whose expected forecast reaches its
//! threshold within the planning horizon, after each refit). Each is published to the alerts
//! topic (waiting for the broker's ack) and the webhook outboxes, then recorded in
//! `<data_dir>/reviews/overdue.log`, so a restart does not raise it again while its condition
//! holds; a condition that clears and returns is raised again (`<id>:2`, ...). Overdue reviews
//! are raised only for reviews that came due while slacap ran live.

use super::outbox::OutboxAlert;
use super::overdue::{Raise, RaisedLog, due_alerts};
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
    let mut raised = match RaisedLog::open(
        &settings.data_dir,
        chrono::Utc::now().timestamp_micros(),
    ) {
        Ok(r) => r,
        Err(error) => {
            tracing::error!(%error, "periodic alerts: cannot open the log; none will be raised");
            return;
        }
    };
    let due_within = crate::model::micros_of(settings.alerts.review_due);
    // Until the SLA state is rebuilt the engine holds no breaches: a round then would clear
    // every review-overdue condition, and raise it again once the state is back. It would
    // also compete with the rebuild for the CPU.
    tokio::select! {
        _ = pipeline.startup.wait_ready() => {}
        _ = stop.wait_for(|s| *s) => return,
    }
    let mut round = 0u32;
    loop {
        let now = chrono::Utc::now().timestamp_micros();
        let breaches = pipeline
            .engine
            .read()
            .map(|e| e.breaches(None, None))
            .unwrap_or_default();
        let mut holding = match reviews.lock() {
            Ok(register) => due_alerts(&breaches, &register, due_within, raised.live_since, now),
            Err(_) => Vec::new(),
        };
        let mut families = vec!["review-overdue:", "capacity-exhaustion:"];
        if round.is_multiple_of(CANDIDATES_EVERY) {
            match crate::report::tickets::current_candidates(&config, &history).await {
                Ok(found) => {
                    families.push("problem-candidate:");
                    holding.extend(found.iter().map(candidate_alert));
                }
                Err(error) => tracing::warn!(%error, "problem candidates not checked"),
            }
        }
        let plans = crate::planner::plans_of(&planner.book(), None, None, None);
        holding.extend(plans.iter().filter_map(exhaustion_alert));
        let (alerts, cleared) = raised.compare(&families, holding);
        if !cleared.is_empty() {
            tracing::info!(count = cleared.len(), "periodic alert conditions cleared");
            if let Err(error) = raised.record_cleared(&cleared) {
                tracing::error!(%error, "cannot record cleared alert conditions");
            }
        }
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
    alerts: Vec<Raise>,
    now: Micros,
) {
    let mut published = Vec::new();
    let mut conditions = Vec::new();
    for alert in alerts {
        let record = FutureRecord::to(&config.settings.kafka.topics.alerts)
            .key(alert.id.as_bytes())
            .payload(alert.payload.as_bytes());
        match producer.send(record, Duration::from_secs(10)).await {
            Ok(_) => {
                published.push(OutboxAlert::from_payload(&alert.id, &alert.payload, now));
                conditions.push(alert.condition);
            }
            Err((error, _)) => {
                tracing::warn!(%error, id = %alert.id, "alert not published; retrying later")
            }
        }
    }
    if published.is_empty() {
        return;
    }
    let sink = pipeline.alerts.clone();
    match tokio::task::spawn_blocking(move || sink.enqueue(&published)).await {
        Ok(Ok(())) => match raised.record(&conditions) {
            Ok(()) => tracing::info!(count = conditions.len(), "periodic alerts raised"),
            Err(error) => tracing::error!(%error, "cannot record raised alerts"),
        },
        Ok(Err(error)) => tracing::error!(%error, "alerts not queued for webhooks"),
        Err(error) => tracing::error!(%error, "alerts not queued for webhooks"),
    }
}

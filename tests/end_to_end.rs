//! A synthetic month through the whole pipeline, against the in-process mock cluster and against
//! a real Kafka-protocol broker: the API's answers, the dead letters, the alerts and the Parquet
//! history read back through DataFusion.

mod common;

use common::*;
use slacap::demo::generator::{Message, generate_month};
use slacap::model::StreamKind;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Events the month should leave in each raw table (the two bad messages hold none).
fn expected_events(messages: &[Message]) -> (u64, u64) {
    let (mut metrics, mut tickets) = (0, 0);
    for m in messages {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&m.payload) else {
            continue;
        };
        let n = value.as_array().map_or(1, Vec::len) as u64;
        match m.stream {
            StreamKind::Metrics if value.to_string().contains("\"billing\"") => {}
            StreamKind::Metrics => metrics += n,
            StreamKind::Tickets => tickets += n,
        }
    }
    (metrics, tickets)
}

/// An independent count of the month's P1 incident response outcomes on payments, decided by
/// `as_of` (24x7, 15 minutes; met when the first acknowledged/in_progress/resolved/closed comes
/// within the target, breached at creation + 15 min otherwise; cancelled before deciding: none).
fn p1_response_reference(messages: &[Message], as_of: i64) -> (u64, u64) {
    use std::collections::BTreeMap;
    let mut tickets: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for m in messages.iter().filter(|m| m.stream == StreamKind::Tickets) {
        let Ok(e) = serde_json::from_slice::<serde_json::Value>(&m.payload) else {
            continue;
        };
        if e["service"] != "payments" || e["type"] != "incident" || e["priority"] != "P1" {
            continue;
        }
        let t = slacap::model::parse_rfc3339(e["time"].as_str().unwrap()).unwrap();
        tickets
            .entry(e["ticket"].as_str().unwrap().to_string())
            .or_default()
            .push((t, e["status"].as_str().unwrap().to_string()));
    }
    let target = 15 * 60 * 1_000_000;
    let month_start = slacap::model::parse_rfc3339("2026-11-01T00:00:00Z").unwrap();
    let (mut met, mut breached) = (0, 0);
    for events in tickets.values_mut() {
        events.sort();
        let created = events[0].0;
        let responds = ["acknowledged", "in_progress", "resolved", "closed"];
        let first = events
            .iter()
            .find(|(_, s)| responds.contains(&s.as_str()) || s == "cancelled");
        let decided = match first {
            Some((t, s)) if *t - created <= target => (s != "cancelled").then_some((*t, true)),
            _ => Some((created + target, false)),
        };
        if let Some((at, ok)) = decided
            && at <= as_of
            && at >= month_start
        {
            if ok {
                met += 1;
            } else {
                breached += 1;
            }
        }
    }
    (met, breached)
}

async fn month_scenario(broker: TestBroker, name: &str, browser: bool) {
    let topics = unique_topics(name);
    broker.create_topics(&topics).await;
    let data = tempfile::tempdir().expect("temp dir");
    let config = config_for(&broker, &topics, data.path(), &format!("{name}-group"));
    let running = slacap::app::start(config.clone())
        .await
        .expect("slacap starts");
    let api = running.api_addr;
    let counters = running.state.pipeline.counters.clone();

    // Out of order within the 5-minute lateness bound: each message is delayed by up to 4
    // minutes of event time (a fixed pseudo-random amount), which must change no result.
    let mut messages = generate_month(2026, 11).expect("month");
    let delay = |i: usize| ((i as i64).wrapping_mul(2_654_435_761) % 240).abs() * 1_000_000;
    let mut keyed: Vec<(i64, usize)> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (m.time + delay(i), i))
        .collect();
    keyed.sort();
    let disordered: Vec<Message> = keyed.iter().map(|&(_, i)| messages[i].clone()).collect();
    let reordered = disordered
        .iter()
        .zip(&messages)
        .filter(|(a, b)| a.time != b.time)
        .count();
    assert!(
        reordered > 0,
        "the month is produced out of order ({reordered} messages moved)"
    );
    messages = disordered;
    let (metric_events, ticket_events) = expected_events(&messages);
    let produced = slacap::demo::produce(&broker.bootstrap(), &topics, &messages)
        .await
        .expect("produce");

    eventually(Duration::from_secs(240), "every record ingested", || {
        (counters.records_in_total.load(Ordering::Relaxed) >= produced as u64).then_some(())
    })
    .await;
    // The watermark settles once the ticket partitions are idle: the last probe (23:59:17) less
    // the 5 minutes of allowed lateness.
    let mut sla = serde_json::Value::Null;
    for _ in 0..300 {
        sla = get_json(api, "/api/v1/services/payments/sla?window=month:2026-11")
            .await
            .1;
        if sla["as_of"] == "2026-11-30T23:54:17Z" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sla["as_of"], "2026-11-30T23:54:17Z", "{sla}");

    // payments: 50 minutes down out of 30 days less 5m43s.
    let probe = &sla["availability"][0];
    assert_eq!(probe["slo"], "availability");
    assert_eq!(probe["total_seconds"], 2_591_657);
    assert_eq!(probe["good_seconds"], 2_591_657 - 3000);
    assert_eq!(probe["no_data_seconds"], 0);
    assert_eq!(probe["met"], false);
    let budget = probe["error_budget_remaining"].as_f64().unwrap();
    assert!((budget - (1.0 - 3000.0 / 2592.0)).abs() < 1e-9, "{budget}");
    let windows: Vec<_> = probe["slo_windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["window"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(windows, ["month:2026-11", "quarter:2026-Q4", "rolling:30d"]);
    let quarter = &probe["slo_windows"][1];
    assert_eq!(quarter["start"], "2026-10-01T00:00:00Z");
    // 3000 bad seconds against 0.1% of 92 days.
    let remaining = quarter["error_budget_remaining"].as_f64().unwrap();
    assert!(
        (remaining - (1.0 - 3000.0 / 7948.8)).abs() < 1e-9,
        "{remaining}"
    );
    let ratio = &sla["availability"][1];
    assert_eq!(ratio["sli"], "ratio");
    assert!(ratio["attained"].as_f64().unwrap() > 0.995 && ratio["met"] == true);
    let p1 = sla["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "incident" && t["priority"] == "P1" && t["metric"] == "response")
        .unwrap();
    let as_of = slacap::model::parse_rfc3339(sla["as_of"].as_str().unwrap()).unwrap();
    let (met, breached) = p1_response_reference(&messages, as_of);
    assert!(
        met > 0 && breached > 0,
        "the month has both: {met} met, {breached} breached"
    );
    assert_eq!(
        (
            p1["met"].as_u64().unwrap(),
            p1["breached"].as_u64().unwrap()
        ),
        (met, breached),
        "P1 response outcomes agree with an independent count: {p1}"
    );

    // notifications: 6 hours without probes (no data), one hour down inside the approved change
    // CHG-9001's planned outage: excluded, so it counts neither way.
    let (_, n) = get_json(
        api,
        "/api/v1/services/notifications/sla?window=month:2026-11",
    )
    .await;
    let a = &n["availability"][0];
    assert_eq!(a["no_data_seconds"], 21_600);
    assert_eq!(a["excluded_seconds"], 3_600);
    assert_eq!(
        a["exclusions"],
        serde_json::json!([{"start": "2026-11-26T03:00:00Z", "end": "2026-11-26T04:00:00Z", "reason": "change CHG-9001"}])
    );
    assert_eq!(a["good_seconds"], 2_591_657 - 21_600 - 3_600);
    assert_eq!(a["attained"], 1.0);
    assert_eq!(a["error_budget_remaining"], 1.0);

    // The budget breach carries the instant the 43.2 minutes ran out.
    let (_, breaches) = get_json(api, "/api/v1/breaches?service=payments").await;
    let budget_breach = breaches
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == "payments:availability:month:2026-11")
        .expect("budget breach");
    assert_eq!(budget_breach["detected_at"], "2026-11-14T02:43:12Z");
    assert_eq!(budget_breach["kind"], "slo_budget_exhausted");
    let (_, all) = get_json(api, "/api/v1/breaches").await;
    let breach_count = all.as_array().unwrap().len();
    assert!(
        breach_count > 10,
        "the month has late tickets: {breach_count}"
    );

    // The outage burns the budget at 1000x: the 1h/5m rule fires after the first bad minute and
    // resolves once the last 5 minutes are clean again.
    let (_, burns) = get_json(api, "/api/v1/burn-rate-alerts?service=payments").await;
    let fast: Vec<_> = burns
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["slo"] == "availability" && a["rule"] == "1h")
        .collect();
    assert_eq!(fast.len(), 2, "{fast:?}");
    assert_eq!(
        fast[0]["id"],
        "payments:availability:burn-1h:2026-11-14T02:01:00Z"
    );
    assert_eq!(
        (fast[0]["state"].as_str(), fast[0]["at"].as_str()),
        (Some("firing"), Some("2026-11-14T02:01:00Z"))
    );
    assert_eq!(
        (fast[1]["state"].as_str(), fast[1]["at"].as_str()),
        (Some("resolved"), Some("2026-11-14T02:55:00Z"))
    );
    assert_eq!(fast[1]["id"], fast[0]["id"]);
    assert!((fast[0]["threshold"].as_f64().unwrap() - 14.4).abs() < 1e-9);

    // Catalogue drift: the probes report as component `probe`, which no service lists; the
    // rejected records named `billing`; every catalogued component reported this week.
    eprintln!(
        "late events {}, corrections {}",
        counters.late_events_total.load(Ordering::Relaxed),
        counters.corrections_total.load(Ordering::Relaxed)
    );
    let (status, drift) = get_json(api, "/api/v1/catalogue/drift?days=7").await;
    assert_eq!(status, 200, "{drift}");
    assert_eq!(drift["unknown_services"][0]["service"], "billing");
    assert_eq!(drift["unknown_services"][0]["records"], 1);
    assert!(
        drift["unknown_components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["service"] == "payments" && c["component"] == "probe")
    );
    assert_eq!(drift["silent_components"], serde_json::json!([]));
    assert_eq!(drift["silent_services"], serde_json::json!([]));

    // A breached ticket's clock trail.
    let ticket_breach = all
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["kind"] == "ticket_resolution")
        .expect("a late resolution")
        .clone();
    let ticket = ticket_breach["ticket"].as_str().unwrap();
    let (status, trail) = get_json(api, &format!("/api/v1/tickets/{ticket}/sla")).await;
    assert_eq!(status, 200, "{trail}");
    let resolution = &trail["clocks"][1];
    assert_eq!(resolution["metric"], "resolution");
    assert_eq!(resolution["outcome"], "breached");
    assert_eq!(resolution["breached_at"], ticket_breach["detected_at"]);
    let elapsed = resolution["elapsed_seconds"].as_i64().unwrap();
    assert!(elapsed > resolution["target_seconds"].as_i64().unwrap());
    assert_eq!(resolution["warnings"].as_array().unwrap().len(), 3);
    assert_eq!(trail["events"][0]["status"], "new");
    assert_eq!(get_json(api, "/api/v1/tickets/NOPE-1/sla").await.0, 404);

    // Bad input went to the dead-letter topic with its reason and origin.
    let brokers = broker.bootstrap();
    let (dlq_topic, alerts_topic) = (topics.dead_letter.clone(), topics.alerts.clone());
    let dead = tokio::task::spawn_blocking(move || {
        read_topic_settled(&brokers, &dlq_topic, 2, Duration::from_secs(30))
    })
    .await
    .unwrap();
    assert_eq!(dead.len(), 2);
    let reasons: Vec<String> = dead
        .iter()
        .map(|(_, _, h)| {
            h.iter()
                .find(|(k, _)| k == "slacap.error.reason")
                .unwrap()
                .1
                .clone()
        })
        .collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("invalid event")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("unknown service `billing`")),
        "{reasons:?}"
    );
    assert!(dead.iter().all(|(_, _, h)| {
        h.iter()
            .any(|(k, v)| k == "slacap.source.topic" && v == &topics.metrics)
    }));

    // Every breach and every warning was published once, keyed by its id.
    let warnings = counters.warnings_total.load(Ordering::Relaxed) as usize;
    assert!(
        warnings > breach_count,
        "warnings precede breaches: {warnings}"
    );
    let burn_transitions = counters.burn_alerts_total.load(Ordering::Relaxed) as usize;
    // Everything the topic holds once the stream has settled (the periodic checks add
    // problem candidates, whose number depends on the wall clock).
    // Read until every breach's alert is there (the last batches' alerts may still be on
    // their way when the watermark is seen to settle), for three minutes at most.
    let started = std::time::Instant::now();
    let (alerts, kinds) = loop {
        let (brokers, topic) = (broker.bootstrap(), alerts_topic.clone());
        let alerts = tokio::task::spawn_blocking(move || {
            read_topic_until_quiet(
                &brokers,
                &topic,
                Duration::from_secs(10),
                Duration::from_secs(120),
            )
        })
        .await
        .unwrap();
        let mut kinds = std::collections::BTreeMap::new();
        for (_, v, _) in &alerts {
            let kind = serde_json::from_str::<serde_json::Value>(v)
                .ok()
                .and_then(|a| a["kind"].as_str().map(str::to_string))
                .unwrap_or_default();
            *kinds.entry(kind).or_insert(0usize) += 1;
        }
        let breach_alerts = [
            "ticket_response",
            "ticket_resolution",
            "slo_budget_exhausted",
        ]
        .iter()
        .map(|k| kinds.get(*k).copied().unwrap_or(0))
        .sum::<usize>();
        if breach_alerts >= breach_count || started.elapsed() > Duration::from_secs(180) {
            break (alerts, kinds);
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    let count = |k: &str| kinds.get(k).copied().unwrap_or(0);
    let breach_alerts =
        count("ticket_response") + count("ticket_resolution") + count("slo_budget_exhausted");
    assert_eq!(
        breach_alerts, breach_count,
        "one alert per breach: {kinds:?}"
    );
    assert_eq!(
        count("burn_rate"),
        burn_transitions,
        "one alert per burn-rate transition: {kinds:?}"
    );
    // The warnings counter also counts warnings found again when late events rebuild the
    // state; each warning is published once (no key twice, below).
    assert!(
        count("ticket_warning") > breach_count && count("ticket_warning") <= warnings,
        "warnings published: {kinds:?}, {warnings} found"
    );
    let expected_alerts = alerts.len();
    let keys: std::collections::HashSet<_> = alerts.iter().map(|(k, _, _)| k.clone()).collect();
    assert_eq!(keys.len(), expected_alerts, "no alert twice");
    assert!(
        alerts.iter().any(
            |(_, v, _)| v.contains("\"kind\":\"ticket_warning\"") && v.contains("has used 90%")
        )
    );
    assert!(alerts.iter().any(|(k, v, _)| k.as_deref()
        == Some("payments:availability:month:2026-11")
        && v.contains("spent its error budget")));

    // The history trails the live state: a batch whose late events rebuild the state is
    // durable once its correction is written. Wait until every record is, and the history is
    // final up to the live watermark.
    eventually(
        Duration::from_secs(180),
        "the history to be durable",
        || {
            (counters.records_durable_total.load(Ordering::Relaxed) >= produced as u64
                && counters.history_watermark() == Some(as_of))
            .then_some(())
        },
    )
    .await;

    // The history holds every event once, and agrees with the live figures.
    let dir = data.path();
    assert_eq!(
        sql_value(dir, "SELECT count(*) FROM metrics").await,
        metric_events
    );
    assert_eq!(
        sql_value(dir, "SELECT count(*) FROM ticket_events").await,
        ticket_events
    );
    assert_eq!(
        sql_value(dir, "SELECT count(DISTINCT id) FROM breaches").await,
        breach_count as u64
    );
    assert_eq!(
        sql_value(dir, "SELECT count(*) FROM breaches").await,
        breach_count as u64
    );
    let (status, report) = get_json(api, "/api/v1/reports/monthly_sla_report?month=2026-11").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["history_as_of"], sla["as_of"]);
    let row = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[0] == "identity" && r[1] == "availability")
        .expect("identity row")
        .clone();
    // The history holds closed slices only: compare over the same span.
    let (_, identity) = get_json(
        api,
        "/api/v1/services/identity/sla?window=range:2026-11-01T00:00:00Z/2026-11-30T23:54:00Z",
    )
    .await;
    let live = identity["availability"][0]["attained"].as_f64().unwrap();
    if (row[5].as_f64().unwrap() - live).abs() >= 1e-12 {
        let gaps = sql_rows(
            dir,
            "SELECT min(slice_start), max(slice_start), count(*), date FROM availability_slices \
             WHERE service = 'identity' AND state = 'no_data' GROUP BY date ORDER BY date",
        )
        .await;
        panic!("SQL {row:?} vs live {live}; the history's no-data slices of identity: {gaps:?}");
    }

    // Operations endpoints.
    let (status, body) = tokio::task::spawn_blocking(move || http(api, "GET", "/metrics", None))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains("slacap_records_dead_lettered_total 2\n"),
        "{body}"
    );
    assert!(body.contains(&format!("slacap_records_in_total {produced}\n")));
    assert_eq!(get_json(api, "/healthz").await.0, 200);

    // A late event corrects the history: the breached ticket turns out to have been resolved a
    // minute before its target passed.
    let breach_at =
        slacap::model::parse_rfc3339(ticket_breach["detected_at"].as_str().unwrap()).unwrap();
    let service = ticket_breach["service"].as_str().unwrap().to_string();
    let (ticket_type, priority) = (
        trail["type"].as_str().unwrap().to_string(),
        trail["priority"].as_str().unwrap().to_string(),
    );
    let late = serde_json::json!({
        "time": slacap::model::format_rfc3339(breach_at - 60_000_000), "ticket": ticket, "type": ticket_type,
        "service": service, "priority": priority, "status": "resolved"
    });
    let message = slacap::demo::generator::Message {
        stream: StreamKind::Tickets,
        key: service.clone(),
        payload: late.to_string().into_bytes(),
        time: breach_at,
    };
    // Corrections may already have happened (partitions that lagged behind the watermark):
    // this one is the next, and its batch is durable once the history and the live state are
    // both corrected.
    let corrections_before = counters.corrections_total.load(Ordering::Relaxed);
    let durable_before = counters.records_durable_total.load(Ordering::Relaxed);
    slacap::demo::produce(&broker.bootstrap(), &topics, &[message])
        .await
        .expect("produce the late event");
    eventually(Duration::from_secs(60), "the correction", || {
        (counters.records_durable_total.load(Ordering::Relaxed) > durable_before).then_some(())
    })
    .await;
    assert!(counters.corrections_total.load(Ordering::Relaxed) > corrections_before);
    let key = format!("{ticket}:resolution");
    let (_, after) = get_json(api, "/api/v1/breaches").await;
    assert!(
        after
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["id"] != key.as_str()),
        "the breach is withdrawn"
    );
    let (_, trail) = get_json(api, &format!("/api/v1/tickets/{ticket}/sla")).await;
    assert_eq!(trail["clocks"][1]["outcome"], "met");
    let corrections = sql_rows(
        dir,
        "SELECT kind, key, before, after FROM corrections ORDER BY kind, key",
    )
    .await;
    assert!(
        corrections
            .iter()
            .any(|r| r[0] == "breach" && r[1] == key.as_str() && r[3].is_null()),
        "{corrections:?}"
    );
    assert!(
        corrections.iter().any(|r| r[0] == "ticket_outcome"
            && r[1] == key.as_str()
            && r[2].as_str().unwrap().starts_with("breached")
            && r[3].as_str().unwrap().starts_with("met")),
        "{corrections:?}"
    );
    assert_eq!(
        sql_value(
            dir,
            &format!("SELECT count(*) FROM breaches WHERE id = '{key}'")
        )
        .await,
        0
    );
    assert_eq!(sql_value(dir, &format!("SELECT outcome FROM ticket_sla_outcomes WHERE ticket = '{ticket}' AND metric = 'resolution'")).await, "met");
    // The state rebuilt from the history (as a restart or an offline report does) agrees: the
    // snapshots taken while the month was ingested predate the late event, and one whose
    // later events lie behind its watermark is not used (its withdrawn breach would stand).
    let rebuilt = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || slacap::recompute::engine_from_history(&config))
            .await
            .unwrap()
            .expect("rebuilt from the history")
    };
    assert!(
        rebuilt.breaches(None, None).iter().all(|b| b.id != key),
        "the rebuilt state keeps the withdrawn breach {key}"
    );
    assert!(
        !slacap::store::HistoryStore::reader_for(&config.settings)
            .snapshots()
            .unwrap()
            .is_empty(),
        "the ingest left snapshots to rebuild from"
    );

    forecasts_and_plans(api, dir).await;
    review_trail(api, dir).await;
    evidence(api).await;
    if browser {
        console_in_a_browser(api).await;
        review_through_the_console(api).await;
    }

    running.run_until(async {}).await.expect("clean shutdown");

    // Recomputing from the raw history gives the streamed results, row for row (rolling-window
    // budget breaches carry the watermark they were detected at, so they are left out).
    let derived = [
        "SELECT service, slo, slice_start, state, good, total, excluded_seconds, definition FROM availability_slices ORDER BY service, slo, slice_start",
        "SELECT ticket, metric, outcome, decided_at, elapsed_seconds, definition FROM ticket_sla_outcomes ORDER BY ticket, metric",
        "SELECT id, detected_at, observed, definition FROM breaches WHERE slo_window IS NULL OR slo_window NOT LIKE 'rolling%' ORDER BY id",
    ];
    let mut streamed = Vec::new();
    for sql in derived {
        streamed.push(sql_rows(dir, sql).await);
    }
    for service in [None, Some("payments")] {
        // All services, then one: recomputing rewrites the rows and they read the same.
        let config = config_for(&broker, &topics, dir, "recompute");
        let summary = tokio::task::spawn_blocking(move || {
            let first_day = slacap::store::day_of(
                slacap::model::parse_rfc3339("2026-11-01T00:00:00Z").unwrap(),
            );
            slacap::recompute::recompute(&config, first_day, service)
        })
        .await
        .unwrap()
        .expect("recompute");
        assert!(
            summary.files_removed > 0 && summary.outcomes > 0,
            "{service:?}: {summary:?}"
        );
        for (sql, before) in derived.iter().zip(&streamed) {
            let after = sql_rows(dir, sql).await;
            assert!(!before.is_empty(), "{sql}");
            assert_eq!(&after, before, "{service:?}: {sql}");
        }
    }
}

/// The service review pack, the audit sample and problem candidates, through the API.
async fn evidence(api: std::net::SocketAddr) {
    let (status, html) = {
        let path = "/api/v1/reports/service-review?service=payments&month=2026-11";
        tokio::task::spawn_blocking(move || http(api, "GET", path, None))
            .await
            .unwrap()
    };
    assert_eq!(status, 200);
    let dom = tl::parse(&html, tl::ParserOptions::default()).expect("the report parses as HTML");
    let parser = dom.parser();
    let in_report: std::collections::BTreeSet<String> = dom
        .query_selector("tr.breach")
        .expect("selector")
        .filter_map(|h| {
            h.get(parser)?
                .as_tag()?
                .attributes()
                .get("data-id")??
                .try_as_utf8_str()
                .map(String::from)
        })
        .collect();
    let (_, breaches) = get_json(api, "/api/v1/breaches?service=payments").await;
    let month: std::collections::BTreeSet<String> = breaches
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["detected_at"].as_str().unwrap().starts_with("2026-11"))
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect();
    assert!(month.len() > 5, "{month:?}");
    assert_eq!(in_report, month, "the pack lists every breach of the month");
    assert!(
        html.contains("reviewed") && html.contains("Ann Smith"),
        "the review status shows"
    );
    let (status, csv) = {
        let path = "/api/v1/reports/service-review?service=payments&month=2026-11&format=csv";
        tokio::task::spawn_blocking(move || http(api, "GET", path, None))
            .await
            .unwrap()
    };
    assert_eq!(status, 200);
    assert!(csv.starts_with("section,service,item,detail,target,observed,status\n"));
    assert_eq!(
        csv.lines().filter(|l| l.starts_with("breach,")).count(),
        month.len()
    );

    let (status, first) = get_json(api, "/api/v1/evidence/sample?month=2026-11&n=5&seed=7").await;
    assert_eq!(status, 200, "{first}");
    let (_, again) = get_json(api, "/api/v1/evidence/sample?month=2026-11&n=5&seed=7").await;
    assert_eq!(first, again, "the same seed draws the same sample");
    let tickets = first["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 5);
    assert!(first["population"].as_u64().unwrap() > 100);
    for t in tickets {
        assert!(
            !t["clock_trail"]["events"].as_array().unwrap().is_empty(),
            "{t}"
        );
        assert!(
            !t["clock_trail"]["clocks"].as_array().unwrap().is_empty(),
            "{t}"
        );
    }
    let (_, other) = get_json(api, "/api/v1/evidence/sample?month=2026-11&n=5&seed=8").await;
    assert_ne!(first["tickets"], other["tickets"]);

    let (status, candidates) = get_json(api, "/api/v1/problems/candidates").await;
    assert_eq!(status, 200, "{candidates}");
    let candidates = candidates.as_array().unwrap();
    assert!(!candidates.is_empty(), "the month has recurring incidents");
    for c in candidates {
        assert!(c["incidents"].as_array().unwrap().len() >= 3, "{c}");
    }
}

/// The review register of the month's payments budget breach, through the API.
async fn review_trail(api: std::net::SocketAddr, dir: &std::path::Path) {
    let id = "payments:availability:month:2026-11";
    let path = format!("/api/v1/breaches/{id}/review");
    let post = |token: &'static str, body: serde_json::Value| {
        let path = path.clone();
        async move {
            let (status, text) = tokio::task::spawn_blocking(move || {
                http_as(api, Some(token), "POST", &path, Some(&body.to_string()))
            })
            .await
            .unwrap();
            (
                status,
                serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            )
        }
    };
    let ack =
        serde_json::json!({"reviewer": "Ann Smith, service manager", "status": "acknowledged"});
    // A viewer may read but not review.
    let (status, body) = post(VIEWER_TOKEN, ack.clone()).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = post(REVIEWER_TOKEN, ack).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["entry"]["recorded_by"], "reviewer");
    assert_eq!(body["breach"]["review_status"], "acknowledged");
    // Closing before the review is a conflict.
    let (status, body) = post(
        REVIEWER_TOKEN,
        serde_json::json!({"reviewer": "Ann Smith", "status": "closed"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    // A review without its root cause is refused.
    let (status, body) = post(
        REVIEWER_TOKEN,
        serde_json::json!({"reviewer": "Ann Smith", "status": "reviewed", "decision": "accept"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let review = serde_json::json!({
        "reviewer": "Ann Smith", "status": "reviewed",
        "decision": "service credit to the customer",
        "root_cause": "database failover took 50 minutes",
        "actions": [{"description": "rehearse failover", "owner": "DBA team", "due": "2026-12-15"}],
        "problem": "PRB-2001", "minutes": "SRM 2026-12-02 item 3"
    });
    let (status, body) = post(REVIEWER_TOKEN, review).await;
    assert_eq!(status, 201, "{body}");
    let reviewed_seq = body["entry"]["seq"].as_u64().unwrap();
    // A correction is a new entry; the original stays.
    let correction = serde_json::json!({
        "reviewer": "Ann Smith", "status": "reviewed", "corrects": reviewed_seq,
        "decision": "service credit to the customer",
        "root_cause": "storage controller failure; the failover itself took 5 minutes"
    });
    let (status, body) = post(REVIEWER_TOKEN, correction).await;
    assert_eq!(status, 201, "{body}");
    let (status, detail) = get_json(api, &format!("/api/v1/breaches/{id}")).await;
    assert_eq!(status, 200, "{detail}");
    let trail = detail["trail"].as_array().unwrap();
    assert_eq!(trail.len(), 3, "{detail}");
    assert_eq!(trail[1]["root_cause"], "database failover took 50 minutes");
    assert_eq!(trail[2]["corrects"], reviewed_seq);
    assert!(
        trail
            .iter()
            .all(|e| e["recorded_at"].is_string() && e["recorded_by"] == "reviewer")
    );
    assert_eq!(detail["review_status"], "reviewed");
    assert_eq!(detail["breach"]["id"], id);
    let (status, _) = get_json(api, "/api/v1/breaches/no-such-breach").await;
    assert_eq!(status, 404);
    // BI sees the same trail.
    let rows = sql_value(
        dir,
        &format!("SELECT count(*) FROM reviews WHERE breach = '{id}'"),
    )
    .await;
    assert_eq!(rows, 3);
}

/// Forecasts and capacity plans of the ingested month, through the API.
/// The console in headless Chromium on the demo month: each page renders the API's figures, a
/// reviewer gets the review form and a viewer does not, and no page writes to the browser's
/// console (no script error, no Content-Security-Policy violation).
async fn console_in_a_browser(api: std::net::SocketAddr) {
    let (_, sla) = get_json(api, "/api/v1/services/payments/sla").await;
    let attained = sla["availability"][0]["attained"].as_f64().unwrap();
    let (_, plans) = get_json(api, "/api/v1/capacity/plans").await;
    let breach = "payments:availability:month:2026-11";
    let base = format!("http://{api}/");
    let pages: Vec<(String, Vec<String>, Vec<&str>)> = vec![
        (
            format!("#token={VIEWER_TOKEN}"),
            vec![
                "Payments API".into(),
                format!("{:.3} %", 100.0 * attained),
                "viewer (viewer)".into(),
            ],
            vec![],
        ),
        (
            format!("#/service/payments?token={VIEWER_TOKEN}"),
            vec![
                "Ticket clocks".into(),
                "resolution".into(),
                "P1".into(),
                "availability: attainment per day".into(),
                "availability: error budget left".into(),
                "<polyline".into(),
            ],
            vec![],
        ),
        (
            format!("#/breaches?token={VIEWER_TOKEN}"),
            vec![breach.into(), "Breach register".into()],
            vec![],
        ),
        (
            format!("#/breach/{breach}?token={REVIEWER_TOKEN}"),
            vec!["review-form".into(), "slo_budget_exhausted".into()],
            vec![],
        ),
        (
            format!("#/breach/{breach}?token={VIEWER_TOKEN}"),
            vec!["slo_budget_exhausted".into()],
            vec!["review-form"],
        ),
        (
            format!("#/capacity?token={VIEWER_TOKEN}"),
            plans
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|p| {
                    // Each plan, and the backtest of the candidate it chose, to the digit.
                    let chosen = p["candidates"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|c| c["model"] == p["candidate"])
                        .expect("the chosen candidate is listed");
                    [
                        format!(
                            "{} / {}",
                            p["service"].as_str().unwrap(),
                            p["component"].as_str().unwrap()
                        ),
                        format!("{} (chosen)", p["candidate"].as_str().unwrap()),
                        format!("{:.3}", chosen["accuracy"]["mase"].as_f64().unwrap()),
                    ]
                })
                .chain(["seasonal naive (benchmark)".to_string()])
                .collect(),
            vec![],
        ),
        (
            format!("#/reports?token={VIEWER_TOKEN}"),
            vec![
                "Monthly service review packs".into(),
                "Download JSON".into(),
            ],
            vec![],
        ),
        (
            format!("#/sql?token={VIEWER_TOKEN}"),
            vec![
                "availability_slices".into(),
                "<td>payments</td>".into(),
                " rows".into(),
            ],
            vec![],
        ),
    ];
    // Screenshots for the README's Console section (copied to tests/console-screenshots/).
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let names = [
        "overview",
        "service",
        "breaches",
        "breach-reviewer",
        "breach-viewer",
        "capacity",
        "reports",
        "sql",
    ];
    for ((fragment, present, absent), name) in pages.into_iter().zip(names) {
        let url = format!("{base}{fragment}");
        let shot = shots.join(format!("{name}.png"));
        let shot_url = url.clone();
        tokio::task::spawn_blocking(move || common::browser::screenshot(&shot_url, &shot))
            .await
            .unwrap();
        let page = tokio::task::spawn_blocking(move || common::browser::render(&url))
            .await
            .unwrap();
        assert!(page.console.is_empty(), "{fragment}: {:?}", page.console);
        assert!(
            !page.dom.contains("class=\"error\""),
            "{fragment}: {}",
            page.dom
        );
        for text in &present {
            assert!(
                page.dom.contains(text.as_str()),
                "{fragment}: no `{text}` in {}",
                page.dom
            );
        }
        for text in absent {
            assert!(!page.dom.contains(text), "{fragment}: `{text}` shown");
        }
    }
}

/// A reviewer records reviews by typing into the console's form in Chromium (WebDriver): a
/// `reviewed` entry without a decision is refused with the API's reason shown on the page, an
/// acknowledgement is recorded and appears in the trail, and the API has the same entry.
async fn review_through_the_console(api: std::net::SocketAddr) {
    use fantoccini::Locator;
    let (_, list) = get_json(api, "/api/v1/breaches?service=search").await;
    let mut open = None;
    for b in list.as_array().unwrap() {
        let id = b["id"].as_str().unwrap().to_string();
        let (_, detail) = get_json(api, &format!("/api/v1/breaches/{id}")).await;
        if detail["review_status"] == "open" {
            open = Some(id);
            break;
        }
    }
    let id = open.expect("an open search breach");
    let driver = common::webdriver::Driver::start().await;
    let c = &driver.client;
    c.goto(&format!(
        "http://{api}/#/breach/{id}?token={REVIEWER_TOKEN}"
    ))
    .await
    .unwrap();
    let form = c
        .wait()
        .for_element(Locator::Id("review-form"))
        .await
        .unwrap();
    form.find(Locator::Css("[name=reviewer]"))
        .await
        .unwrap()
        .send_keys("Browser Test, service manager")
        .await
        .unwrap();
    click(&form, "option[value=reviewed]").await;
    click(&form, "button[type=submit]").await;
    let mut refused = String::new();
    for _ in 0..100 {
        refused = c
            .find(Locator::Id("review-message"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if !refused.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused.starts_with("Not recorded (400)"), "{refused}");
    click(&form, "option[value=acknowledged]").await;
    click(&form, "button[type=submit]").await;
    let row = c
        .wait()
        .for_element(Locator::XPath(
            "//td[text()='Browser Test, service manager']",
        ))
        .await
        .unwrap();
    assert_eq!(row.text().await.unwrap(), "Browser Test, service manager");
    console_page_timings(c, api, &id).await;
    driver.stop().await;
    let (_, detail) = get_json(api, &format!("/api/v1/breaches/{id}")).await;
    assert_eq!(detail["review_status"], "acknowledged", "{detail}");
    let last = detail["trail"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["reviewer"], "Browser Test, service manager");
    assert_eq!(last["recorded_by"], "reviewer");
}

/// Each page loaded afresh (a full navigation; the token is in the tab's session storage) on
/// the demo month, timed by the page itself from the navigation's start to its figures on
/// screen (`data-render-ms`; the capacity charts stream in afterwards). Printed and written to
/// `console-timings.json` in the test's temp folder, not asserted: a debug build serves them
/// here (README, Console, has the figures).
async fn console_page_timings(c: &fantoccini::Client, api: std::net::SocketAddr, breach: &str) {
    let pages = [
        "#/".to_string(),
        "#/service/payments".to_string(),
        "#/breaches".to_string(),
        format!("#/breach/{breach}"),
        "#/capacity".to_string(),
        "#/reports".to_string(),
        "#/sql".to_string(),
    ];
    let mut timings = serde_json::Map::new();
    for (n, page) in pages.iter().enumerate() {
        c.goto(&format!("http://{api}/?load={n}{page}"))
            .await
            .unwrap();
        let mut took = None;
        for _ in 0..600 {
            let value = c
                .execute(
                    "const root = document.documentElement; \
                     return root.dataset.rendered === arguments[0] ? root.dataset.renderMs : null;",
                    vec![serde_json::json!(page)],
                )
                .await
                .unwrap();
            if let Some(ms) = value.as_str() {
                took = Some(ms.parse::<u64>().unwrap());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let took = took.unwrap_or_else(|| panic!("{page} did not render within 30 s"));
        eprintln!("console page {page}: {took} ms");
        timings.insert(page.clone(), serde_json::json!(took));
    }
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-timings.json");
    std::fs::write(&file, serde_json::Value::Object(timings).to_string()).unwrap();
}

async fn click(form: &fantoccini::elements::Element, css: &str) {
    form.find(fantoccini::Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn forecasts_and_plans(api: std::net::SocketAddr, dir: &std::path::Path) {
    let (status, refit) = post_json(api, "/api/v1/forecasts/refit", "").await;
    assert_eq!(status, 200, "{refit}");
    assert_eq!(refit["plans"], 7, "{refit}");
    assert_eq!(refit["failures"], serde_json::json!([]), "{refit}");

    // payments' database disk grows 2.5 GB a day from 280 GB on November 1: it reaches the
    // 400 GB threshold 48 days later, on December 19.
    let (status, plans) = get_json(api, "/api/v1/capacity/plans/payments/db-primary").await;
    assert_eq!(status, 200, "{plans}");
    let plan = &plans[0];
    assert_eq!(plan["resource"], "disk_used_gb");
    assert_eq!(plan["risk"], "high", "{plan}");
    let expected =
        slacap::model::parse_rfc3339(plan["exhaustion"]["expected"].as_str().unwrap()).unwrap();
    let truth = slacap::model::parse_rfc3339("2026-12-19T00:00:00Z").unwrap();
    assert!(
        (expected - truth).abs() <= 86_400_000_000,
        "exhaustion {} is not within a day of 2026-12-19: {plan}",
        plan["exhaustion"]["expected"]
    );
    let current = plan["current"].as_f64().unwrap();
    assert!((current - (280.0 + 2.5 * 29.98)).abs() < 1.0, "{plan}");
    assert!(
        plan["recommended_capacity"].as_f64().unwrap() > 500.0,
        "{plan}"
    );

    let (status, forecast) = get_json(
        api,
        "/api/v1/forecasts?service=payments&component=api-gateway&metric=cpu_utilization&horizon=7d",
    )
    .await;
    assert_eq!(status, 200, "{forecast}");
    assert_eq!(forecast["points"].as_array().unwrap().len(), 168);
    assert_eq!(forecast["points"][0]["time"], "2026-12-01T00:00:00Z");
    assert_eq!(forecast["interval"], 0.9);
    for field in ["mase", "smape", "coverage", "origins"] {
        assert!(
            forecast["accuracy"][field].is_number(),
            "{field}: {forecast}"
        );
    }
    // The disk grows linearly: a trend model beats seasonal naive outright (ties would go to
    // seasonal naive), and the published accuracy is the chosen candidate's own backtest.
    assert!(
        forecast["accuracy"]["mase"].as_f64().unwrap()
            < forecast["benchmark"]["mase"].as_f64().unwrap(),
        "{forecast}"
    );
    let chosen = forecast["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == forecast["candidate"])
        .expect("the chosen model is among the candidates");
    assert_eq!(chosen["accuracy"]["mase"], forecast["accuracy"]["mase"]);
    let (status, too_far) = get_json(
        api,
        "/api/v1/forecasts?service=payments&component=api-gateway&horizon=400d",
    )
    .await;
    assert_eq!(status, 400, "{too_far}");
    let (status, ambiguous) = get_json(api, "/api/v1/forecasts?service=payments").await;
    assert_eq!(status, 400, "{ambiguous}");

    let (status, svg) = http(
        api,
        "GET",
        "/api/v1/capacity/plans/payments/db-primary/chart.svg",
        None,
    );
    assert_eq!(status, 200);
    assert!(
        svg.starts_with("<svg") && svg.contains("threshold 400"),
        "{svg}"
    );

    let (status, staffing) = get_json(api, "/api/v1/staffing?service=payments").await;
    assert_eq!(status, 200, "{staffing}");
    let rows = staffing.as_array().unwrap();
    assert!(!rows.is_empty(), "{staffing}");
    assert!(
        rows.iter()
            .all(|r| r["service"] == "payments" && r["weeks"].as_array().unwrap().len() == 4)
    );

    // Every fit is kept for BI.
    let points = sql_value(
        dir,
        "SELECT count(*) FROM forecasts WHERE component = 'db-primary'",
    )
    .await;
    assert_eq!(points, 90 * 24, "forecast rows");
    let risk = sql_value(
        dir,
        "SELECT risk FROM capacity_plans WHERE component = 'db-primary'",
    )
    .await;
    assert_eq!(risk, "high");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_through_the_mock_cluster() {
    month_scenario(TestBroker::mock(), "mock-month", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_through_a_real_broker() {
    month_scenario(TestBroker::real(), "real-month", false).await;
}

//! Hostile and careless producers, against a real broker (Tansu): every bad record is
//! dead-lettered with a reason naming the field, oversized and undeliverable dead letters never
//! stop ingest, a replaced log is loud, and compressed topics are read.

mod common;

use common::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use slacap::config::{Config, OffsetRegression, Topics};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Produces `payloads` (key = service) to `topic` with the extra producer settings.
async fn produce(brokers: &str, topic: &str, payloads: &[String], extra: &[(&str, &str)]) {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("message.max.bytes", "5000000")
        .set("linger.ms", "0");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    let producer: FutureProducer = config.create().expect("producer");
    for payload in payloads {
        producer
            .send(
                FutureRecord::to(topic).key("payments").payload(payload),
                Duration::from_secs(10),
            )
            .await
            .expect("delivered");
    }
}

fn metric(time: &str, value: f64) -> String {
    format!(
        r#"{{"time":"{time}","service":"payments","component":"api-gateway","metric":"cpu_utilization","value":{value}}}"#
    )
}

fn now_rfc3339(offset_secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset_secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A configuration with the production bounds on event times.
fn hostile_config(
    topics: &Topics,
    data: &Path,
    tweak: impl FnOnce(&mut slacap::config::Settings),
) -> Arc<Config> {
    let broker = TestBroker::Real(real_broker());
    let config = config_for(&broker, topics, data, &format!("{}-g", topics.metrics));
    let mut config = Arc::unwrap_or_clone(config);
    config.settings.pipeline.max_event_age = Duration::from_secs(400 * 86_400);
    config.settings.pipeline.batch_max_wait = Duration::from_millis(200);
    tweak(&mut config.settings);
    Arc::new(config)
}

/// Fresh topics on the real broker and a slacap consuming them: (instance, topics, brokers).
async fn start_fresh(
    test: &str,
    data: &Path,
    tweak: impl FnOnce(&mut slacap::config::Settings),
) -> (slacap::app::Running, Topics, String) {
    let brokers = real_broker();
    let topics = unique_topics(test);
    TestBroker::Real(brokers.clone())
        .create_topics(&topics)
        .await;
    let running = slacap::app::start(hostile_config(&topics, data, tweak))
        .await
        .expect("start");
    (running, topics, brokers)
}

/// The dead letters of `topics`, once `expected` have arrived.
async fn dead_letters(brokers: &str, topics: &Topics, expected: usize) -> Vec<TopicMessage> {
    let (brokers, topic) = (brokers.to_string(), topics.dead_letter.clone());
    tokio::task::spawn_blocking(move || {
        read_topic(&brokers, &topic, expected, Duration::from_secs(60))
    })
    .await
    .unwrap()
}

async fn metric_rows(data: &Path) -> i64 {
    sql_value(data, "SELECT count(*) FROM metrics")
        .await
        .as_i64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_records_are_dead_lettered_with_their_reason_and_ingest_advances() {
    let data = tempfile::tempdir().unwrap();
    let (running, topics, brokers) = start_fresh("hostile-records", data.path(), |_| {}).await;
    let t = now_rfc3339(-600);
    let ticket = |id: &str, priority: &str, extra: &str| {
        format!(
            r#"{{"time":"{t}","ticket":"{id}","type":"incident","service":"payments","priority":"{priority}","status":"new"{extra}}}"#
        )
    };
    let bad_metrics = [
        (metric("1970-01-01T00:00:00Z", 0.5), "max_event_age"),
        (metric("9999-12-31T00:00:00Z", 0.5), "max_clock_skew"),
        (
            format!(
                r#"[{},{{"time":"{t}","service":"payments","metric":"requests_good","value":-3}}]"#,
                metric(&t, 0.5)
            ),
            "element 1: `value` -3 is negative",
        ),
    ];
    let bad_tickets = [
        (
            ticket("INC-9", "P9", ""),
            "`priority` `P9` has no incident policy",
        ),
        (
            ticket("INC-\\u0007", "P2", ""),
            "`ticket` contains a control character",
        ),
        (
            ticket(&"X".repeat(300), "P2", ""),
            "`ticket` is longer than 256 bytes",
        ),
        (ticket("", "P2", ""), "`ticket` is empty"),
        (
            format!(
                r#"{{"time":"{t}","ticket":"CHG-1","type":"change","service":"payments","priority":"P3","status":"new","planned_start":"{}","planned_end":"{}","approved":true,"outage":true}}"#,
                now_rfc3339(0),
                now_rfc3339(-3600)
            ),
            "`planned_end` is before `planned_start`",
        ),
    ];
    let payloads: Vec<String> = bad_metrics.iter().map(|(p, _)| p.clone()).collect();
    produce(&brokers, &topics.metrics, &payloads, &[]).await;
    let payloads: Vec<String> = bad_tickets.iter().map(|(p, _)| p.clone()).collect();
    produce(&brokers, &topics.tickets, &payloads, &[]).await;
    // What follows the bad records is ingested: a good sample, and a real P2 ticket after the
    // refused P9 event of the same id.
    produce(&brokers, &topics.metrics, &[metric(&t, 0.5)], &[]).await;
    produce(&brokers, &topics.tickets, &[ticket("INC-9", "P2", "")], &[]).await;

    let expected = bad_metrics.len() + bad_tickets.len();
    let letters = dead_letters(&brokers, &topics, expected).await;
    let reasons: Vec<String> = letters
        .iter()
        .filter_map(|(_, _, h)| {
            h.iter()
                .find(|(k, _)| k == "slacap.error.reason")
                .map(|(_, v)| v.clone())
        })
        .collect();
    for (_, reason) in bad_metrics.iter().chain(bad_tickets.iter()) {
        assert!(
            reasons.iter().any(|r| r.contains(reason)),
            "no dead letter says `{reason}`: {reasons:#?}"
        );
    }
    wait_until_durable(
        data.path(),
        expected + 2,
        Duration::from_secs(60),
        "all records",
    )
    .await;
    assert_eq!(
        metric_rows(data.path()).await,
        1,
        "only the good sample is stored"
    );
    let (status, body) = get_json(running.api_addr, "/api/v1/tickets/INC-9/sla").await;
    assert_eq!(status, 200, "the P2 ticket has its clocks: {body}");
    assert!(body.to_string().contains("P2"), "{body}");
    running.run_until(async {}).await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_record_is_dead_lettered_truncated_with_its_size_and_hash() {
    let data = tempfile::tempdir().unwrap();
    let (running, topics, brokers) = start_fresh("hostile-oversized", data.path(), |_| {}).await;
    let huge = format!("{{\"junk\":\"{}\"}}", "x".repeat(1_040_000));
    produce(&brokers, &topics.metrics, std::slice::from_ref(&huge), &[]).await;
    produce(
        &brokers,
        &topics.metrics,
        &[metric(&now_rfc3339(-60), 0.4)],
        &[],
    )
    .await;
    let letters = dead_letters(&brokers, &topics, 1).await;
    let (_, payload, headers) = letters.first().expect("a dead letter");
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("slacap.truncated").as_deref(), Some("true"));
    assert_eq!(header("slacap.original.size"), Some(huge.len().to_string()));
    assert_eq!(header("slacap.original.sha256").map(|h| h.len()), Some(64));
    assert_eq!(payload.len(), 900_000);
    wait_until_durable(data.path(), 2, Duration::from_secs(60), "both records").await;
    assert_eq!(metric_rows(data.path()).await, 1);
    running.run_until(async {}).await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_letter_the_producer_refuses_is_kept_on_disk_and_counted() {
    let data = tempfile::tempdir().unwrap();
    // Allow dead letters larger than the producer's message.max.bytes (1,000,000): librdkafka
    // refuses them, as a broker with a lower limit would.
    let (running, topics, brokers) = start_fresh("hostile-undeliverable", data.path(), |s| {
        s.pipeline.dead_letter_max_bytes = 3_000_000
    })
    .await;
    let huge = format!("[{}", "9".repeat(1_500_000));
    produce(&brokers, &topics.metrics, &[huge], &[]).await;
    produce(
        &brokers,
        &topics.metrics,
        &[metric(&now_rfc3339(-60), 0.4)],
        &[],
    )
    .await;
    wait_until_durable(data.path(), 2, Duration::from_secs(60), "both records").await;
    let spilled: Vec<_> = std::fs::read_dir(data.path().join("dead-letter"))
        .expect("dead-letter folder")
        .collect();
    assert_eq!(spilled.len(), 1);
    let kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(spilled[0].as_ref().unwrap().path()).unwrap())
            .unwrap();
    assert_eq!(kept["size"], 1_500_001);
    assert!(
        kept["delivery_error"]
            .as_str()
            .unwrap()
            .contains("too large"),
        "{kept}"
    );
    let (_, metrics) = tokio::task::spawn_blocking({
        let addr = running.api_addr;
        move || http(addr, "GET", "/metrics", None)
    })
    .await
    .unwrap();
    assert!(
        metrics.contains("slacap_dead_letters_spilled_total 1\n"),
        "{metrics}"
    );
    assert_eq!(metric_rows(data.path()).await, 1);
    running.run_until(async {}).await.expect("clean stop");
}

async fn recreate(brokers: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for r in admin
        .delete_topics(&[topic], &options)
        .await
        .expect("delete")
    {
        r.expect("deleted");
    }
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(1));
    for r in admin.create_topics(&[new], &options).await.expect("create") {
        r.expect("created");
    }
}

/// Consumes `first` samples, stops, re-creates the metrics topic (one partition) and produces
/// `second` samples into the new log; returns the restarted instance.
async fn replace_the_log(
    test: &str,
    policy: OffsetRegression,
    data: &Path,
) -> (slacap::app::Running, Topics) {
    let brokers = real_broker();
    let topics = unique_topics(test);
    TestBroker::Real(brokers.clone())
        .create_topics(&topics)
        .await;
    // One partition each: the topics must be partitioned alike (checked at start).
    recreate(&brokers, &topics.metrics).await;
    recreate(&brokers, &topics.tickets).await;
    let config = hostile_config(&topics, data, |s| s.pipeline.on_offset_regression = policy);
    let running = slacap::app::start(config.clone()).await.expect("start");
    let samples: Vec<String> = (0..20)
        .map(|i| metric(&now_rfc3339(-1200 + i * 10), 0.3))
        .collect();
    produce(&brokers, &topics.metrics, &samples, &[]).await;
    wait_until_durable(data, 20, Duration::from_secs(60), "the first log").await;
    running.run_until(async {}).await.expect("clean stop");
    recreate(&brokers, &topics.metrics).await;
    produce(&brokers, &topics.metrics, &samples[..5], &[]).await;
    let running = slacap::app::start(config).await.expect("restart");
    (running, topics)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_log_halts_ingest_loudly_by_default() {
    let data = tempfile::tempdir().unwrap();
    let (running, _) = replace_the_log(
        "hostile-regression-halt",
        OffsetRegression::Halt,
        data.path(),
    )
    .await;
    let addr = running.api_addr;
    let body = eventually(Duration::from_secs(60), "ingest to halt", || {
        let (status, body) = http(addr, "GET", "/healthz", None);
        (status == 503 && body.contains("ingest halted")).then_some(body)
    })
    .await;
    assert!(body.contains("checkpoint"), "{body}");
    let (_, metrics) = http(addr, "GET", "/metrics", None);
    assert!(
        metrics.contains("slacap_offset_regressions_total 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("slacap_ingest_halted 1\n"), "{metrics}");
    assert_eq!(
        metric_rows(data.path()).await,
        20,
        "nothing skipped or doubled"
    );
    let stopped = running.run_until(async {}).await;
    assert!(
        stopped.is_err_and(|e| e.to_string().contains("below the checkpoint")),
        "the run ends with the regression as its error"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_consumes_a_replaced_log_from_its_start_as_a_new_generation() {
    let data = tempfile::tempdir().unwrap();
    let (running, topics) = replace_the_log(
        "hostile-regression-reset",
        OffsetRegression::Reset,
        data.path(),
    )
    .await;
    let dir = data.path().to_path_buf();
    eventually(Duration::from_secs(60), "the new log's records", || {
        let cp = checkpoint(&dir)?;
        let generation = cp.generations.get(&topics.metrics)?.get(&0).copied()?;
        (generation == 1 && cp.next_offset(&format!("{}~g1", topics.metrics), 0) == 5).then_some(())
    })
    .await;
    assert_eq!(
        metric_rows(data.path()).await,
        25,
        "the old log's 20 samples kept, the new log's 5 added"
    );
    running.run_until(async {}).await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn zstd_lz4_and_snappy_compressed_topics_are_consumed() {
    let data = tempfile::tempdir().unwrap();
    let (running, topics, brokers) = start_fresh("hostile-zstd", data.path(), |_| {}).await;
    for (i, codec) in ["zstd", "lz4", "snappy"].iter().enumerate() {
        let samples: Vec<String> = (0..4)
            .map(|j| metric(&now_rfc3339(-900 + (i as i64) * 60 + j), 0.2))
            .collect();
        produce(
            &brokers,
            &topics.metrics,
            &samples,
            &[("compression.type", codec), ("linger.ms", "20")],
        )
        .await;
    }
    wait_until_durable(
        data.path(),
        12,
        Duration::from_secs(60),
        "compressed records",
    )
    .await;
    assert_eq!(metric_rows(data.path()).await, 12);
    running.run_until(async {}).await.expect("clean stop");
}

#[test]
fn a_sasl_ssl_client_is_built_from_the_settings() {
    let mut settings = slacap::demo::settings_for(
        "127.0.0.1:1".into(),
        "g",
        Topics::default(),
        std::env::temp_dir(),
        "127.0.0.1:0".parse().unwrap(),
    );
    for (k, v) in [
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", "slacap"),
        ("sasl.password", "not-a-real-password"),
        ("compression.type", "zstd"),
    ] {
        settings.kafka.client.0.insert(k.into(), v.into());
    }
    let consumer: Result<rdkafka::consumer::BaseConsumer, _> =
        slacap::ingest::consumer_config(&settings.kafka).create();
    assert!(consumer.is_ok(), "{:?}", consumer.err());
    let producer: Result<FutureProducer, _> =
        slacap::ingest::producer_config(&settings.kafka).create();
    assert!(producer.is_ok(), "{:?}", producer.err());
    assert!(!format!("{settings:?}").contains("not-a-real-password"));
}

//! Shared helpers for the integration tests: brokers, topics, a running slacap, a small HTTP
//! client, and a reader for the history through DataFusion.
#![allow(dead_code)]

pub mod browser;
pub mod certs;
pub mod rows;
pub mod webdriver;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use slacap::config::{Config, Topics};
use slacap::demo::{EmbeddedBroker, sample_catalogue, settings_for};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The real broker the project's scripts start (Tansu on 127.0.0.1:9092 by default).
pub fn real_broker() -> String {
    let brokers = std::env::var("SLACAP_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let addr = brokers.split(',').next().unwrap_or_default().to_string();
    if std::net::TcpStream::connect_timeout(
        &addr.parse().expect("SLACAP_TEST_BROKERS is host:port"),
        Duration::from_secs(2),
    )
    .is_err()
    {
        panic!(
            "no Kafka broker at {brokers}: start one with `scripts/test-broker.sh start` (scripts/test.sh does it for you)"
        );
    }
    brokers
}

/// Topic names no other test uses.
pub fn unique_topics(test: &str) -> Topics {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let id = format!(
        "{test}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    Topics {
        metrics: format!("{id}.metrics"),
        tickets: format!("{id}.tickets"),
        dead_letter: format!("{id}.dead-letter"),
        alerts: format!("{id}.alerts"),
    }
}

/// Where the test's events go: the in-process mock cluster, or a real broker.
pub enum TestBroker {
    Mock(EmbeddedBroker),
    Real(String),
}

impl TestBroker {
    pub fn mock() -> TestBroker {
        TestBroker::Mock(EmbeddedBroker::start().expect("mock cluster"))
    }

    pub fn real() -> TestBroker {
        TestBroker::Real(real_broker())
    }

    pub fn bootstrap(&self) -> String {
        match self {
            TestBroker::Mock(b) => b.bootstrap_servers(),
            TestBroker::Real(b) => b.clone(),
        }
    }

    pub async fn create_topics(&self, topics: &Topics) {
        match self {
            TestBroker::Mock(b) => b.create_topics(topics).expect("create topics"),
            TestBroker::Real(_) => self.create_topics_with(topics, 3, 3).await,
        }
    }

    /// The topics with these partition counts for metrics and tickets (real broker only).
    pub async fn create_topics_with(&self, topics: &Topics, metrics: i32, tickets: i32) {
        match self {
            TestBroker::Mock(_) => panic!("partition counts are set on the real broker only"),
            TestBroker::Real(brokers) => {
                let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
                    .set("bootstrap.servers", brokers)
                    .create()
                    .expect("admin client");
                let new = [
                    NewTopic::new(&topics.metrics, metrics, TopicReplication::Fixed(1)),
                    NewTopic::new(&topics.tickets, tickets, TopicReplication::Fixed(1)),
                    NewTopic::new(&topics.dead_letter, 1, TopicReplication::Fixed(1)),
                    NewTopic::new(&topics.alerts, 1, TopicReplication::Fixed(1)),
                ];
                let results = admin
                    .create_topics(
                        &new,
                        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
                    )
                    .await
                    .expect("create topics");
                for r in results {
                    r.expect("topic created");
                }
            }
        }
    }
}

/// The tokens every test configuration accepts, one per role.
pub const VIEWER_TOKEN: &str = "test-viewer-token";
pub const REVIEWER_TOKEN: &str = "test-reviewer-token";
pub const ADMIN_TOKEN: &str = "test-admin-token";

pub fn test_tokens() -> Vec<slacap::config::ApiToken> {
    use slacap::api::auth::token_entry;
    use slacap::config::Role;
    vec![
        token_entry("viewer", Role::Viewer, VIEWER_TOKEN),
        token_entry("reviewer", Role::Reviewer, REVIEWER_TOKEN),
        token_entry("admin", Role::Admin, ADMIN_TOKEN),
    ]
}

pub fn config_for(
    broker: &TestBroker,
    topics: &Topics,
    data_dir: &Path,
    group: &str,
) -> Arc<Config> {
    let mut settings = settings_for(
        broker.bootstrap(),
        group,
        topics.clone(),
        data_dir.to_path_buf(),
        SocketAddr::from(([127, 0, 0, 1], 0)),
    );
    settings.api.tokens = test_tokens();
    Arc::new(Config {
        settings,
        catalogue: sample_catalogue().expect("sample catalogue"),
        source: "<test>".into(),
    })
}

/// Polls `check` until it returns `Some`, or panics after `limit`.
pub async fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A minimal HTTP/1.1 client (one request per connection), so the tests drive the real server
/// over a real socket.
/// An HTTP/1.1 request with the admin token.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    http_as(addr, Some(ADMIN_TOKEN), method, path, body)
}

/// An HTTP/1.1 request with `token` (or none).
pub fn http_as(
    addr: SocketAddr,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the API");
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n{}Content-Length: {}\r\n\r\n{body}",
        token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n")),
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").expect("HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, body)
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        text = &rest[n + 2..];
    }
    out
}

pub async fn get_json(addr: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let path = path.to_string();
    let (status, body) = tokio::task::spawn_blocking(move || http(addr, "GET", &path, None))
        .await
        .expect("http");
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}")),
    )
}

pub async fn post_json(addr: SocketAddr, path: &str, body: &str) -> (u16, serde_json::Value) {
    let (path, body) = (path.to_string(), body.to_string());
    let (status, text) =
        tokio::task::spawn_blocking(move || http(addr, "POST", &path, Some(&body)))
            .await
            .expect("http");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
    )
}

/// (key, payload, headers) of a message read back.
pub type TopicMessage = (Option<String>, String, Vec<(String, String)>);

/// Reads every message of a one-partition topic.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    expected: usize,
    limit: Duration,
) -> Vec<TopicMessage> {
    read_topic_until(brokers, topic, expected, limit, None)
}

/// Every message of partition 0 of `topic`, read until none has come for `quiet` (or `limit`
/// has passed): for topics whose exact count a test cannot know in advance.
pub fn read_topic_until_quiet(
    brokers: &str,
    topic: &str,
    quiet: Duration,
    limit: Duration,
) -> Vec<TopicMessage> {
    read_topic_until(brokers, topic, usize::MAX, limit, Some(quiet))
}

fn read_topic_until(
    brokers: &str,
    topic: &str,
    expected: usize,
    limit: Duration,
    quiet: Option<Duration>,
) -> Vec<TopicMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("reader-{topic}"))
        .set("enable.auto.commit", "false")
        // Tansu answers one record batch per fetch: ask again at once rather than after 500 ms.
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("reader");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&tpl).expect("assign");
    let start = Instant::now();
    let mut last = Instant::now();
    let mut out = Vec::new();
    while out.len() < expected
        && start.elapsed() < limit
        && quiet.is_none_or(|q| last.elapsed() < q)
    {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            last = Instant::now();
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|x| {
                            (
                                x.key.to_string(),
                                String::from_utf8_lossy(x.value.unwrap_or_default()).to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push((
                m.key().map(|k| String::from_utf8_lossy(k).to_string()),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string(),
                headers,
            ));
        }
    }
    out
}

/// Reads a one-partition topic until `expected` messages have arrived (or `limit` passes), then
/// reads it again, waiting up to 3 s for one more: a test comparing the count with `expected`
/// then also fails on extras.
pub fn read_topic_settled(
    brokers: &str,
    topic: &str,
    expected: usize,
    limit: Duration,
) -> Vec<TopicMessage> {
    let read = read_topic(brokers, topic, expected, limit);
    if read.len() < expected {
        return read;
    }
    read_topic(brokers, topic, expected + 1, Duration::from_secs(3))
}

/// All rows of a SQL result over the history.
pub async fn sql_rows(data_dir: &Path, sql: &str) -> Vec<Vec<serde_json::Value>> {
    sql_rows_in(&slacap::store::HistoryStore::reader(data_dir), sql).await
}

/// All rows of a SQL result over the history `store` reads.
pub async fn sql_rows_in(
    store: &slacap::store::HistoryStore,
    sql: &str,
) -> Vec<Vec<serde_json::Value>> {
    let q = slacap::store::HistoryQuery::new(store).expect("session");
    q.sql_json(sql).await.expect("query").rows
}

/// One value of a single-row SQL result over the history.
pub async fn sql_value(data_dir: &Path, sql: &str) -> serde_json::Value {
    sql_value_in(&slacap::store::HistoryStore::reader(data_dir), sql).await
}

/// One value of a single-row SQL result over the history `store` reads.
pub async fn sql_value_in(store: &slacap::store::HistoryStore, sql: &str) -> serde_json::Value {
    let q = slacap::store::HistoryQuery::new(store).expect("session");
    let result = q.sql_json(sql).await.expect("query");
    result
        .rows
        .first()
        .and_then(|r| r.first())
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

/// Writes `slacap.toml` (plus the sample catalogue) into `dir` for `slacap run` against
/// `broker`, with `extra` TOML appended; the data folder is `dir/data`.
pub fn run_config(
    dir: &Path,
    broker: &TestBroker,
    topics: &Topics,
    extra: &str,
) -> std::path::PathBuf {
    std::fs::write(dir.join("catalogue.toml"), slacap::demo::SAMPLE_CATALOGUE).unwrap();
    let config = dir.join("slacap.toml");
    std::fs::write(
        &config,
        format!(
            r#"
data_dir = "data"
catalogue = "catalogue.toml"
[kafka]
brokers = "{brokers}"
group_id = "{group}"
session_timeout = "6s"
[kafka.topics]
metrics = "{m}"
tickets = "{t}"
dead_letter = "{d}"
alerts = "{a}"
[pipeline]
batch_max_records = 100
batch_max_wait = "100ms"
idle_partition_timeout = "3s"
# The tests replay a fixed month (2026-11), whatever today's date is.
max_event_age = "7300days"
idle_watermark_follows_clock = false
[api]
listen = "127.0.0.1:0"
{extra}
"#,
            brokers = broker.bootstrap(),
            group = topics.metrics.replace(".metrics", "-group"),
            m = topics.metrics,
            t = topics.tickets,
            d = topics.dead_letter,
            a = topics.alerts
        ),
    )
    .unwrap();
    config
}

/// Starts `slacap run --config config`, its log in `log`.
pub fn start_slacap(config: &Path, log: &Path) -> std::process::Child {
    let log = std::fs::File::create(log).expect("log file");
    std::process::Command::new(env!("CARGO_BIN_EXE_slacap"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "info,rdkafka=warn")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start slacap")
}

/// The offset checkpoint of a data folder, if written yet.
pub fn checkpoint(data: &Path) -> Option<slacap::store::Checkpoint> {
    let text = std::fs::read(data.join("checkpoint.json")).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Waits until the checkpoint of `data` makes `records` records durable; panics with `what`
/// after `limit`.
pub async fn wait_until_durable(data: &Path, records: usize, limit: Duration, what: &str) {
    let start = Instant::now();
    loop {
        let durable = checkpoint(data).map_or(0, |cp| durable_records(&cp));
        if durable >= records as i64 {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "{what}: {durable} of {records} records durable after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Records the checkpoint makes durable (sum of next offsets over the partitions).
pub fn durable_records(cp: &slacap::store::Checkpoint) -> i64 {
    cp.offsets.values().flat_map(|p| p.values()).sum()
}

/// The S3-compatible server the project's scripts start (moto's, on 127.0.0.1:9094 by
/// default), and a new empty bucket on it. The S3 client reads `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY` from the environment (scripts/test.sh sets them; moto accepts any).
pub fn s3_bucket() -> (String, String) {
    use std::io::{Read, Write};
    let endpoint =
        std::env::var("SLACAP_TEST_S3").unwrap_or_else(|_| "http://127.0.0.1:9094".into());
    let host = endpoint.trim_start_matches("http://").to_string();
    assert!(
        std::env::var_os("AWS_ACCESS_KEY_ID").is_some(),
        "AWS_ACCESS_KEY_ID is not set: run the tests through scripts/test.sh (or export it, any value)"
    );
    let mut stream = std::net::TcpStream::connect(&host).unwrap_or_else(|_| {
        panic!("no S3 server at {endpoint}: start one with `scripts/test-s3.sh start` (scripts/test.sh does it for you)")
    });
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let bucket = format!(
        "slacap-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "creating bucket {bucket}: {response}"
    );
    (endpoint, bucket)
}

//! Runtime settings (`slacap.toml`).

use super::error::{ConfigError, read_toml};
use super::secure::{ClientProperties, OffsetRegression, QuerySettings, Secret, TlsFiles};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Root of the Parquet history and the offset checkpoints; relative paths are resolved
    /// against this file's folder.
    pub data_dir: PathBuf,
    /// The service catalogue; relative paths are resolved against this file's folder.
    pub catalogue: PathBuf,
    pub kafka: KafkaSettings,
    #[serde(default)]
    pub pipeline: PipelineSettings,
    #[serde(default)]
    pub api: ApiSettings,
    #[serde(default)]
    pub forecast: ForecastSettings,
    #[serde(default)]
    pub alerts: AlertSettings,
    #[serde(default)]
    pub history: HistorySettings,
}

/// How the Delta history is kept: compaction, vacuum, retention.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistorySettings {
    /// Where the Delta tables and snapshots are: an `s3://bucket/prefix` URL, or a directory
    /// (relative to this file's folder). Unset: `<data_dir>/history`.
    pub location: Option<String>,
    /// S3 client settings beyond the environment's `AWS_*` variables.
    pub s3: crate::store::S3Settings,
    /// `location` parsed and its client built, at load.
    #[serde(skip)]
    pub resolved: Option<crate::store::HistoryLocation>,
    /// How often the maintenance round runs (compaction of closed days, retention, vacuum).
    #[serde(with = "super::duration")]
    pub maintenance_every: Duration,
    /// A compacted file is cut at about this many MiB.
    pub target_file_size_mib: u32,
    /// zstd level of compacted files (1-22). 15 keeps a demo metric point in about 1.5 bytes,
    /// at about 5 µs of CPU per point, once per day compacted; lower levels compact faster into
    /// more bytes.
    pub compaction_zstd_level: i32,
    /// Superseded files are deleted this long after a compaction or correction removed them.
    #[serde(with = "super::duration")]
    pub vacuum_grace: Duration,
    /// A snapshot of the SLA state is written at least this often (and whenever the watermark
    /// enters a new day, and at shutdown); a restart replays only the raw events after it.
    #[serde(with = "super::duration")]
    pub snapshot_every: Duration,
    /// Days of raw events (metrics, ticket events) kept; unset keeps them all.
    pub raw_retention_days: Option<u32>,
    /// Days of derived rows (slices, outcomes, breaches, corrections, forecasts, plans) kept;
    /// unset keeps them all. The reviews table is never expired.
    pub derived_retention_days: Option<u32>,
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistorySettings {
            location: None,
            s3: Default::default(),
            resolved: None,
            maintenance_every: Duration::from_secs(600),
            target_file_size_mib: 128,
            compaction_zstd_level: 15,
            vacuum_grace: Duration::from_secs(24 * 3600),
            snapshot_every: Duration::from_secs(300),
            raw_retention_days: None,
            derived_retention_days: None,
        }
    }
}

impl HistorySettings {
    pub fn policy(&self) -> crate::store::MaintenancePolicy {
        crate::store::MaintenancePolicy {
            target_file_size: u64::from(self.target_file_size_mib.max(1)) << 20,
            zstd_level: self.compaction_zstd_level,
            vacuum_grace: self.vacuum_grace,
            raw_retention_days: self.raw_retention_days.map(i64::from),
            derived_retention_days: self.derived_retention_days.map(i64::from),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    /// `bootstrap.servers`: comma-separated host:port list.
    pub brokers: String,
    pub group_id: String,
    #[serde(default)]
    pub topics: Topics,
    /// Consumer group session timeout. Kafka's default is 45 s; a shorter one rebalances faster.
    #[serde(default = "default_session_timeout", with = "super::duration")]
    pub session_timeout: Duration,
    /// Extra librdkafka properties passed as they are (e.g. `security.protocol`,
    /// `sasl.mechanism`), for both the consumer and the producers.
    /// `Debug` masks credentials (`sasl.password`, ...).
    #[serde(default)]
    pub client: ClientProperties,
}

fn default_session_timeout() -> Duration {
    Duration::from_secs(10)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topics {
    pub metrics: String,
    pub tickets: String,
    pub dead_letter: String,
    pub alerts: String,
}

impl Default for Topics {
    fn default() -> Self {
        Topics {
            metrics: "slacap.metrics".into(),
            tickets: "slacap.tickets".into(),
            dead_letter: "slacap.dead-letter".into(),
            alerts: "slacap.alerts".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSettings {
    /// A batch is flushed to history (and its offsets committed) at this many records...
    pub batch_max_records: usize,
    /// ...or at this many bytes of record payloads (a backlog is caught up in batches small
    /// enough for decoding and writing to overlap, and a batch's memory stays bounded)...
    pub batch_max_bytes: usize,
    /// ...or after this long, whichever comes first.
    #[serde(with = "super::duration")]
    pub batch_max_wait: Duration,
    /// How far behind the newest event time (of the slowest partition) the watermark trails.
    #[serde(with = "super::duration")]
    pub allowed_lateness: Duration,
    /// A partition that delivers nothing for this long stops holding the watermark back.
    #[serde(with = "super::duration")]
    pub idle_partition_timeout: Duration,
    /// Events whose time is older than this (by the wall clock) are dead-lettered: they would
    /// reopen windows long closed and reported.
    #[serde(with = "super::duration")]
    pub max_event_age: Duration,
    /// Events whose time is further ahead of the wall clock than this are dead-lettered: they
    /// would drag the watermark into the future.
    #[serde(with = "super::duration")]
    pub max_clock_skew: Duration,
    /// A dead letter larger than this is sent truncated, with the original size and SHA-256 in
    /// its headers (keep it below the dead-letter topic's `max.message.bytes`).
    pub dead_letter_max_bytes: usize,
    /// When a partition's log ends below the checkpointed offset: `halt` or `reset`.
    pub on_offset_regression: OffsetRegression,
    /// With every partition idle, the watermark follows the wall clock (less the allowed
    /// lateness), so an unanswered ticket breaches on time without other traffic. Off only for
    /// replays of past data (the embedded demo).
    pub idle_watermark_follows_clock: bool,
    /// An approved outage change longer than this is dead-lettered: one change excluding a
    /// whole month from availability is a mistake or an abuse, not maintenance.
    #[serde(with = "super::duration")]
    pub max_exclusion: Duration,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            batch_max_records: 100_000,
            batch_max_bytes: 4 << 20,
            batch_max_wait: Duration::from_millis(200),
            allowed_lateness: Duration::from_secs(300),
            idle_partition_timeout: Duration::from_secs(30),
            max_event_age: Duration::from_secs(400 * 86_400),
            max_clock_skew: Duration::from_secs(3600),
            dead_letter_max_bytes: 900_000,
            on_offset_regression: OffsetRegression::Halt,
            idle_watermark_follows_clock: true,
            max_exclusion: Duration::from_secs(3 * 86_400),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    pub listen: SocketAddr,
    /// Bearer tokens, stored as SHA-256 hashes; every `/api/v1` route needs one.
    pub tokens: Vec<ApiToken>,
    /// Serve HTTPS with this certificate and key. Without it the API speaks plain HTTP, which
    /// is meant for 127.0.0.1 only (tokens would cross the network in clear).
    pub tls: Option<TlsFiles>,
    /// Limits of the SQL endpoint.
    pub query: QuerySettings,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tokens: Vec::new(),
            tls: None,
            query: QuerySettings::default(),
        }
    }
}

/// What a token may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything.
    Viewer,
    /// Read, and record breach reviews.
    Reviewer,
    /// Everything, including refits and recomputation.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// Who holds the token: recorded with every review entry made with it.
    pub name: String,
    pub role: Role,
    /// Lower-case hex SHA-256 of the token (`printf %s TOKEN | sha256sum`): the token itself is
    /// never stored.
    pub sha256: String,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("sha256", &"***")
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// Every alert also goes to each of these.
    pub webhooks: Vec<Webhook>,
    /// A breach not reviewed (status `reviewed` or `closed`) this long after it happened raises
    /// an overdue-review alert.
    #[serde(with = "super::duration")]
    pub review_due: Duration,
    /// Alerts waiting for one webhook beyond this many are dropped for it (they stay on the
    /// Kafka topic), so a webhook that is down for weeks cannot fill the disk.
    pub max_pending: usize,
    /// Retries back off exponentially from 0.5 s up to this.
    #[serde(with = "super::duration")]
    pub max_backoff: Duration,
    /// An alert that fails this many times, or that a receiver refuses for good (a 4xx other
    /// than 408 and 429), moves to the outbox's `failed/` folder and the queue moves on.
    pub max_attempts: u32,
    /// This many incidents with no linked problem on one service/component...
    pub problem_recurrence: usize,
    /// ...within this long of each other make a problem candidate.
    #[serde(with = "super::duration")]
    pub problem_window: Duration,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            webhooks: Vec::new(),
            review_due: Duration::from_secs(5 * 86_400),
            max_pending: 100_000,
            max_backoff: Duration::from_secs(30),
            max_attempts: 100,
            problem_recurrence: 3,
            problem_window: Duration::from_secs(7 * 86_400),
        }
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Names the webhook in logs and in the outbox folder.
    pub name: String,
    /// `https://host/path` (or `http://` for a receiver on a trusted network).
    pub url: String,
    /// Key of the `X-Slacap-Signature: sha256=<hex HMAC-SHA256 of the body>` header.
    pub secret: Secret,
    /// A PEM file of CA certificates to trust for this webhook, besides Mozilla's roots (for a
    /// receiver with a private CA).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// `json` (the alert record) or `text` (`{"text": "..."}` for Slack and Teams).
    #[serde(default)]
    pub format: WebhookFormat,
}

/// Shows the URL up to its host: Slack and Teams URLs carry their secret in the path.
impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = match self.url.parse::<axum::http::Uri>() {
            Ok(uri) => format!(
                "{}://{}/***",
                uri.scheme_str().unwrap_or("?"),
                uri.authority().map_or("?", |a| a.as_str())
            ),
            Err(_) => "***".to_string(),
        };
        f.debug_struct("Webhook")
            .field("name", &self.name)
            .field("url", &shown)
            .field("secret", &self.secret)
            .field("ca_file", &self.ca_file)
            .field("format", &self.format)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    #[default]
    Json,
    Text,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForecastSettings {
    /// Forecasts and capacity plans are re-fitted this often (and on demand).
    #[serde(with = "super::duration")]
    pub refit_every: Duration,
    /// How far ahead capacity plans look; the longest horizon the API serves.
    #[serde(with = "super::duration")]
    pub planning_horizon: Duration,
    /// How much history the models are fitted on.
    #[serde(with = "super::duration")]
    pub history: Duration,
    /// Nominal coverage of the prediction intervals.
    pub interval: f64,
    /// Most rolling origins per backtest.
    pub backtest_origins: usize,
    /// Ticket-arrival forecasts (the staffing view) look this far ahead, in days.
    #[serde(with = "super::duration")]
    pub staffing_horizon: Duration,
}

impl Default for ForecastSettings {
    fn default() -> Self {
        ForecastSettings {
            refit_every: Duration::from_secs(3600),
            planning_horizon: Duration::from_secs(90 * 86_400),
            history: Duration::from_secs(120 * 86_400),
            interval: 0.9,
            backtest_origins: 8,
            staffing_horizon: Duration::from_secs(28 * 86_400),
        }
    }
}

impl Settings {
    pub fn load(file: &Path) -> Result<Settings, ConfigError> {
        let mut settings: Settings = read_toml(file)?;
        settings.validate(file)?;
        if let Some(location) = &settings.history.location {
            let base = file.parent().unwrap_or(Path::new("."));
            let location = if location.contains("://") {
                location.clone()
            } else {
                base.join(location).to_string_lossy().into_owned()
            };
            let parsed = crate::store::HistoryLocation::parse(&location, &settings.history.s3)
                .map_err(|problem| ConfigError::invalid(file, "history.location", problem))?;
            settings.history.resolved = Some(parsed);
        }
        Ok(settings)
    }

    /// Where the history is: `history.location`, or `<data_dir>/history`.
    pub fn history_location(&self) -> crate::store::HistoryLocation {
        self.history
            .resolved
            .clone()
            .unwrap_or_else(|| crate::store::HistoryLocation::local(&self.data_dir.join("history")))
    }

    fn validate(&self, file: &Path) -> Result<(), ConfigError> {
        if !(1..=22).contains(&self.history.compaction_zstd_level) {
            return Err(ConfigError::invalid(
                file,
                "history.compaction_zstd_level",
                "must be a zstd level from 1 to 22",
            ));
        }
        if self.kafka.brokers.trim().is_empty() {
            return Err(ConfigError::invalid(
                file,
                "kafka.brokers",
                "must list at least one host:port",
            ));
        }
        if self.kafka.group_id.trim().is_empty() {
            return Err(ConfigError::invalid(
                file,
                "kafka.group_id",
                "must not be empty",
            ));
        }
        let t = &self.kafka.topics;
        let names = [
            ("kafka.topics.metrics", &t.metrics),
            ("kafka.topics.tickets", &t.tickets),
            ("kafka.topics.dead_letter", &t.dead_letter),
            ("kafka.topics.alerts", &t.alerts),
        ];
        for (i, (key, name)) in names.iter().enumerate() {
            if name.is_empty() {
                return Err(ConfigError::invalid(file, *key, "must not be empty"));
            }
            if names[..i].iter().any(|(_, other)| other == name) {
                return Err(ConfigError::invalid(
                    file,
                    *key,
                    format!("topic `{name}` is used twice"),
                ));
            }
        }
        for key in ["enable.auto.commit", "group.id", "bootstrap.servers"] {
            if self.kafka.client.contains_key(key) {
                return Err(ConfigError::invalid(
                    file,
                    format!("kafka.client.\"{key}\""),
                    "is set by slacap itself (use kafka.brokers / kafka.group_id; offsets are committed only after history is durable)",
                ));
            }
        }
        if self.pipeline.batch_max_records == 0 {
            return Err(ConfigError::invalid(
                file,
                "pipeline.batch_max_records",
                "must be at least 1",
            ));
        }
        if self.pipeline.batch_max_bytes < 1024 {
            return Err(ConfigError::invalid(
                file,
                "pipeline.batch_max_bytes",
                "must be at least 1024",
            ));
        }
        for (i, token) in self.api.tokens.iter().enumerate() {
            let hex = token.sha256.len() == 64
                && token
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !hex {
                return Err(ConfigError::invalid(
                    file,
                    format!("api.tokens[{i}].sha256"),
                    "must be 64 lower-case hex digits (printf %s TOKEN | sha256sum)",
                ));
            }
            if token.name.trim().is_empty() {
                return Err(ConfigError::invalid(
                    file,
                    format!("api.tokens[{i}].name"),
                    "must not be empty",
                ));
            }
        }
        for (i, w) in self.alerts.webhooks.iter().enumerate() {
            let valid_name = !w.name.is_empty()
                && w.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid_name {
                return Err(ConfigError::invalid(
                    file,
                    format!("alerts.webhooks[{i}].name"),
                    "must be letters, digits, `-` or `_`",
                ));
            }
            if self.alerts.webhooks[..i].iter().any(|o| o.name == w.name) {
                return Err(ConfigError::invalid(
                    file,
                    format!("alerts.webhooks[{i}].name"),
                    format!("`{}` is used twice", w.name),
                ));
            }
            let scheme_ok = w.url.starts_with("http://") || w.url.starts_with("https://");
            if !scheme_ok || w.url.parse::<axum::http::Uri>().is_err() {
                return Err(ConfigError::invalid(
                    file,
                    format!("alerts.webhooks[{i}].url"),
                    format!("`{}` is not an https:// or http:// URL", w.url),
                ));
            }
            if w.secret.expose().len() < 16 {
                return Err(ConfigError::invalid(
                    file,
                    format!("alerts.webhooks[{i}].secret"),
                    "must be at least 16 characters",
                ));
            }
        }
        if self.alerts.max_attempts == 0 {
            return Err(ConfigError::invalid(
                file,
                "alerts.max_attempts",
                "must be at least 1",
            ));
        }
        let q = &self.api.query;
        if q.max_rows == 0 || q.max_bytes < 1024 || q.max_concurrent == 0 {
            return Err(ConfigError::invalid(
                file,
                "api.query",
                "max_rows and max_concurrent must be at least 1, max_bytes at least 1024",
            ));
        }
        if self.pipeline.max_clock_skew < Duration::from_secs(1)
            || self.pipeline.max_event_age <= self.pipeline.allowed_lateness
        {
            return Err(ConfigError::invalid(
                file,
                "pipeline.max_event_age",
                "max_event_age must exceed allowed_lateness, and max_clock_skew be at least 1s",
            ));
        }
        if self.pipeline.dead_letter_max_bytes < 1024 {
            return Err(ConfigError::invalid(
                file,
                "pipeline.dead_letter_max_bytes",
                "must be at least 1024",
            ));
        }
        if self.alerts.problem_recurrence < 2 {
            return Err(ConfigError::invalid(
                file,
                "alerts.problem_recurrence",
                "must be at least 2 (one incident does not recur)",
            ));
        }
        let f = &self.forecast;
        if !(0.5..1.0).contains(&f.interval) {
            return Err(ConfigError::invalid(
                file,
                "forecast.interval",
                "must be at least 0.5 and below 1 (e.g. 0.9)",
            ));
        }
        if f.backtest_origins == 0 {
            return Err(ConfigError::invalid(
                file,
                "forecast.backtest_origins",
                "must be at least 1",
            ));
        }
        for (key, value) in [
            ("forecast.refit_every", f.refit_every),
            ("forecast.planning_horizon", f.planning_horizon),
            ("forecast.history", f.history),
            ("forecast.staffing_horizon", f.staffing_horizon),
        ] {
            if value < Duration::from_secs(60) {
                return Err(ConfigError::invalid(file, key, "must be at least 1m"));
            }
        }
        if self.kafka.session_timeout < Duration::from_secs(1) {
            return Err(ConfigError::invalid(
                file,
                "kafka.session_timeout",
                "must be at least 1s",
            ));
        }
        Ok(())
    }
}

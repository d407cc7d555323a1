//! Settings that guard what slacap exposes: secrets that never print, the limits of the SQL
//! endpoint, the API's TLS files, and the bounds on inbound events.

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A secret (webhook key, SASL password): usable by the code, shown as `***` by `Debug`, so no
/// log line or error message can carry it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it (signing, the Kafka client).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_string())
    }
}

/// librdkafka properties passed through as they are. `Debug` masks the values of keys that
/// hold credentials (`sasl.password`, `ssl.key.password`, `ssl.key.pem`, OAuth settings).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ClientProperties(pub BTreeMap<String, String>);

impl ClientProperties {
    /// True for a key whose value is a credential.
    pub fn is_sensitive(key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        [
            "password",
            "secret",
            "key.pem",
            "oauthbearer.config",
            "jaas",
        ]
        .iter()
        .any(|word| key.contains(word))
    }
}

impl std::ops::Deref for ClientProperties {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::fmt::Debug for ClientProperties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (key, value) in &self.0 {
            if Self::is_sensitive(key) {
                map.entry(key, &"***");
            } else {
                map.entry(key, value);
            }
        }
        map.finish()
    }
}

/// A PEM certificate chain and its private key, for serving HTTPS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM file with the server certificate, then any intermediates.
    pub cert: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Limits of `POST /api/v1/query`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuerySettings {
    /// Memory all running queries may hold together: `"25%"` of the machine's RAM (the
    /// default), or a size such as `"2GiB"`. A query that needs more fails with 422; nothing
    /// spills to disk.
    #[serde(deserialize_with = "memory_limit")]
    pub memory_limit: MemoryLimit,
    /// A JSON answer holds at most this many rows; past it, `truncated` is true.
    pub max_rows: usize,
    /// ... and at most about this many bytes of row data.
    pub max_bytes: usize,
    /// A query (a streamed extract included) is cancelled after this long.
    #[serde(with = "super::duration")]
    pub timeout: Duration,
    /// Queries running at once; more wait their turn.
    pub max_concurrent: usize,
}

impl Default for QuerySettings {
    fn default() -> Self {
        QuerySettings {
            memory_limit: MemoryLimit::FractionOfRam(0.25),
            max_rows: 10_000,
            max_bytes: 8 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            max_concurrent: 4,
        }
    }
}

/// A memory budget: a share of the machine's RAM or a fixed number of bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MemoryLimit {
    FractionOfRam(f64),
    Bytes(u64),
}

impl MemoryLimit {
    /// The budget in bytes (RAM read from `/proc/meminfo`; 4 GiB assumed where it is unreadable).
    pub fn bytes(self) -> usize {
        match self {
            MemoryLimit::Bytes(b) => b as usize,
            MemoryLimit::FractionOfRam(f) => (total_ram() as f64 * f) as usize,
        }
    }

    pub fn parse(text: &str) -> Result<MemoryLimit, String> {
        let text = text.trim();
        if let Some(percent) = text.strip_suffix('%') {
            let p: f64 = percent
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a percentage"))?;
            if !(1.0..=90.0).contains(&p) {
                return Err(format!("`{text}`: a share of RAM is between 1% and 90%"));
            }
            return Ok(MemoryLimit::FractionOfRam(p / 100.0));
        }
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a size such as `2GiB` or `25%`"))?;
        let scale: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            other => {
                return Err(format!(
                    "unknown unit `{other}` (use B, KiB, MiB, GiB or %)"
                ));
            }
        };
        let bytes = number.saturating_mul(scale);
        if bytes < 16 << 20 {
            return Err(format!("`{text}` is below the 16MiB a query needs"));
        }
        Ok(MemoryLimit::Bytes(bytes))
    }
}

fn memory_limit<'de, D: Deserializer<'de>>(d: D) -> Result<MemoryLimit, D::Error> {
    let text = String::deserialize(d)?;
    MemoryLimit::parse(&text).map_err(serde::de::Error::custom)
}

fn total_ram() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(4 << 30)
}

/// What to do when a partition's log ends below the checkpoint's next offset (the topic was
/// re-created, or the broker lost data): the records the checkpoint says are durable are gone,
/// and the new ones would be taken for replays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetRegression {
    /// Stop the pipeline with an error until an operator decides (the default).
    #[default]
    Halt,
    /// Forget the partition's checkpointed offset and consume the new log from its start.
    Reset,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2-hunter2-hunter2");
        assert_eq!(format!("{secret:?}"), "\"***\"");
        let mut props = BTreeMap::new();
        props.insert("sasl.password".to_string(), "pa55word".to_string());
        props.insert("security.protocol".to_string(), "SASL_SSL".to_string());
        let shown = format!("{:?}", ClientProperties(props));
        assert!(!shown.contains("pa55word"), "{shown}");
        assert!(shown.contains("SASL_SSL"), "{shown}");
    }

    #[test]
    fn memory_limits_are_a_share_of_ram_or_a_size() {
        assert_eq!(
            MemoryLimit::parse("25%"),
            Ok(MemoryLimit::FractionOfRam(0.25))
        );
        assert_eq!(MemoryLimit::parse("2GiB"), Ok(MemoryLimit::Bytes(2 << 30)));
        assert!(MemoryLimit::parse("95%").is_err());
        assert!(MemoryLimit::parse("12 parsecs").is_err());
        assert!(
            MemoryLimit::parse("1KiB").is_err(),
            "too small to run a query"
        );
        assert!(MemoryLimit::FractionOfRam(0.25).bytes() > 16 << 20);
    }
}

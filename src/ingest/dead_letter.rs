//! Dead letters that can always be delivered. A record is copied to the dead-letter topic with
//! its reason and origin in headers; one larger than `pipeline.dead_letter_max_bytes` goes
//! truncated, with its original size and SHA-256, so the broker's size limit cannot refuse it.
//! One the producer still cannot deliver (refused, topic missing, broker gone past the message
//! timeout) is written whole to `<data_dir>/dead-letter/` and counted. Either way the batch's
//! offsets advance: a bad record never stops ingest.

use super::batch::DeadLetter;
use crate::store::{StoreError, write_atomically};
use rdkafka::message::{Header, OwnedHeaders};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Header names, as the README lists them.
pub const REASON: &str = "slacap.error.reason";
pub const SOURCE_TOPIC: &str = "slacap.source.topic";
pub const SOURCE_PARTITION: &str = "slacap.source.partition";
pub const SOURCE_OFFSET: &str = "slacap.source.offset";
pub const TRUNCATED: &str = "slacap.truncated";
pub const ORIGINAL_SIZE: &str = "slacap.original.size";
pub const ORIGINAL_SHA256: &str = "slacap.original.sha256";

/// Longest reason header, in bytes (reasons quote clipped field values; this is a backstop).
const MAX_REASON_BYTES: usize = 2048;
/// Longest key copied, in bytes.
const MAX_KEY_BYTES: usize = 1024;

/// What goes to the dead-letter topic for one record.
pub struct Letter<'a> {
    pub key: Option<&'a [u8]>,
    pub payload: &'a [u8],
    pub headers: OwnedHeaders,
    pub truncated: bool,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn clip(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The record as it will be sent: truncated to `max_bytes` of payload when larger.
pub fn letter(dead: &DeadLetter, max_bytes: usize) -> Letter<'_> {
    let payload = dead.record.payload.as_deref().unwrap_or_default();
    let truncated = payload.len() > max_bytes;
    let record = &dead.record;
    let mut headers = OwnedHeaders::new()
        .insert(Header {
            key: REASON,
            value: Some(clip(&dead.reason, MAX_REASON_BYTES).as_bytes()),
        })
        .insert(Header {
            key: SOURCE_TOPIC,
            value: Some(record.topic.as_bytes()),
        })
        .insert(Header {
            key: SOURCE_PARTITION,
            value: Some(record.partition.to_string().as_bytes()),
        })
        .insert(Header {
            key: SOURCE_OFFSET,
            value: Some(record.offset.to_string().as_bytes()),
        });
    if truncated {
        headers = headers
            .insert(Header {
                key: TRUNCATED,
                value: Some("true".as_bytes()),
            })
            .insert(Header {
                key: ORIGINAL_SIZE,
                value: Some(payload.len().to_string().as_bytes()),
            })
            .insert(Header {
                key: ORIGINAL_SHA256,
                value: Some(hex(&Sha256::digest(payload)).as_bytes()),
            });
    }
    let key = record
        .key
        .as_deref()
        .map(|k| &k[..k.len().min(MAX_KEY_BYTES)]);
    Letter {
        key,
        payload: &payload[..payload.len().min(max_bytes)],
        headers,
        truncated,
    }
}

/// Where undeliverable dead letters are kept: `<data_dir>/dead-letter/`.
pub fn spill_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("dead-letter")
}

/// Writes the whole record durably to `<data_dir>/dead-letter/<topic>.<partition>.<offset>.json`
/// (a replay after a crash rewrites the same file). The payload is kept as text when it is
/// UTF-8, else as hex.
pub fn spill(data_dir: &Path, dead: &DeadLetter, error: &str) -> Result<PathBuf, String> {
    let dir = spill_dir(data_dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let record = &dead.record;
    let safe_topic: String = record
        .topic
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = dir.join(format!(
        "{safe_topic}.{}.{}.json",
        record.partition, record.offset
    ));
    let payload = record.payload.as_deref().unwrap_or_default();
    let (text, hex_payload) = match std::str::from_utf8(payload) {
        Ok(text) => (Some(text), None),
        Err(_) => (None, Some(hex(payload))),
    };
    let body = serde_json::json!({
        "reason": dead.reason,
        "delivery_error": error,
        "topic": record.topic.as_ref(),
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key.as_deref().map(String::from_utf8_lossy),
        "size": payload.len(),
        "sha256": hex(&Sha256::digest(payload)),
        "payload": text,
        "payload_hex": hex_payload,
    });
    let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    write_atomically(&path, |file| {
        std::io::Write::write_all(file, &bytes).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })
    })
    .map_err(|e| e.to_string())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::RawRecord;
    use rdkafka::message::Headers;

    fn dead(payload: Vec<u8>) -> DeadLetter {
        DeadLetter {
            record: RawRecord {
                stream: crate::ingest::Stream::Metrics,
                topic: "m/x".into(),
                partition: 2,
                offset: 41,
                key: Some(b"payments".to_vec()),
                payload: Some(payload),
            },
            reason: "invalid event".into(),
        }
    }

    #[test]
    fn a_large_record_goes_truncated_with_its_size_and_hash() {
        let big = dead(vec![b'x'; 5000]);
        let sent = letter(&big, 1024);
        assert!(sent.truncated);
        assert_eq!(sent.payload.len(), 1024);
        let headers: Vec<(String, String)> = sent
            .headers
            .iter()
            .map(|h| {
                (
                    h.key.to_string(),
                    String::from_utf8_lossy(h.value.unwrap_or_default()).to_string(),
                )
            })
            .collect();
        assert!(headers.contains(&(ORIGINAL_SIZE.into(), "5000".into())));
        let hash = hex(&Sha256::digest(vec![b'x'; 5000]));
        assert!(headers.contains(&(ORIGINAL_SHA256.into(), hash)));
        let small = dead(b"{}".to_vec());
        assert!(!letter(&small, 1024).truncated);
    }

    #[test]
    fn an_undeliverable_letter_is_kept_whole_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = spill(dir.path(), &dead(vec![0xff, 0x00, 0x41]), "too large").unwrap();
        assert!(path.ends_with("dead-letter/m_x.2.41.json"), "{path:?}");
        let kept: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(kept["payload_hex"], "ff0041");
        assert_eq!(kept["delivery_error"], "too large");
        assert_eq!(kept["offset"], 41);
    }
}

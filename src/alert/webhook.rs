//! Webhook delivery: one sender task per webhook drains its outbox queue in order, POSTing each
//! alert (over HTTPS with rustls, or plain HTTP) with its idempotency key and an HMAC-SHA256
//! signature, retrying with exponential backoff until the receiver answers 2xx. An alert the
//! receiver refuses for good (a 4xx other than 408/429), or that fails `alerts.max_attempts`
//! times, moves to the outbox's `failed/` folder, so one poisoned alert never blocks the queue.

use super::outbox::{OutboxAlert, Queue};
use crate::config::WebhookFormat;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sha2::Sha256;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Header carrying `sha256=<hex HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "x-slacap-signature";
/// Header carrying the alert's stable id; a receiver that sees an id twice can drop the copy.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// The request body: the alert record with its id and summary (`json`), or only the summary
/// as `{"text": ...}`, which Slack and Microsoft Teams incoming webhooks accept (`text`).
pub fn body(format: WebhookFormat, alert: &OutboxAlert) -> Vec<u8> {
    let value = match format {
        WebhookFormat::Json => serde_json::json!({
            "id": alert.id,
            "summary": alert.summary,
            "alert": alert.record,
        }),
        WebhookFormat::Text => serde_json::json!({ "text": format!("[slacap] {}", alert.summary) }),
    };
    serde_json::to_vec(&value).unwrap_or_default()
}

/// Delivery counters for `/metrics`.
#[derive(Debug, Default)]
pub struct WebhookCounters {
    pub delivered: AtomicU64,
    pub failed_attempts: AtomicU64,
    /// Alerts moved to `failed/`: refused for good, or out of attempts.
    pub failed: AtomicU64,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug)]
pub struct Failure {
    pub reason: String,
    /// A 4xx other than 408 and 429, or a request that cannot be built: retrying cannot help.
    pub permanent: bool,
}

/// An alert id as a header value: bytes outside visible ASCII (and `%`) are percent-encoded,
/// so any id can be sent, and a receiver that decodes it gets the id back.
pub fn header_safe(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if (0x21..=0x7e).contains(&byte) && byte != b'%' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// One webhook's sender.
pub struct Sender {
    pub queue: Arc<Queue>,
    /// Woken when new alerts are queued.
    pub notify: Arc<Notify>,
    pub tls: rustls::ClientConfig,
    pub max_backoff: Duration,
    pub max_attempts: u32,
    pub counters: Arc<WebhookCounters>,
}

impl Sender {
    /// Sends the queue's alerts until `stop` turns true. Wakes on `notify` (new alerts) or every
    /// second (to pick up what an earlier run left).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(self.tls.clone())
            .https_or_http()
            .enable_http1()
            .build();
        let client: HttpsClient = Client::builder(TokioExecutor::new()).build(connector);
        let queue = &self.queue;
        let name = queue.webhook.name.clone();
        let mut backoff = FIRST_BACKOFF;
        loop {
            if *stop.borrow() {
                return;
            }
            let pending = {
                let queue = queue.clone();
                tokio::task::spawn_blocking(move || queue.pending())
                    .await
                    .unwrap_or_else(|e| Err(std::io::Error::other(e)))
            };
            let pending = match pending {
                Ok(p) => p,
                Err(error) => {
                    tracing::error!(webhook = %name, %error, "cannot read the outbox");
                    Vec::new()
                }
            };
            if pending.is_empty() {
                tokio::select! {
                    _ = self.notify.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                continue;
            }
            for (path, alert) in pending {
                let outcome = post(&client, queue, &alert).await;
                let done = match outcome {
                    Ok(()) => {
                        backoff = FIRST_BACKOFF;
                        self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                        let (queue, id) = (queue.clone(), alert.id.clone());
                        tokio::task::spawn_blocking(move || queue.delivered(&path, &id)).await
                    }
                    Err(failure) => {
                        self.counters
                            .failed_attempts
                            .fetch_add(1, Ordering::Relaxed);
                        // The count lives in the alert's file, so a restart keeps it.
                        let tried = alert.attempts.saturating_add(1);
                        if !failure.permanent && tried < self.max_attempts {
                            let recorded = {
                                let (queue, path, alert) =
                                    (queue.clone(), path.clone(), alert.clone());
                                tokio::task::spawn_blocking(move || {
                                    queue.failed_attempt(&path, &alert)
                                })
                                .await
                            };
                            if let Ok(Err(error)) | Err(error) =
                                recorded.map_err(std::io::Error::other)
                            {
                                tracing::error!(webhook = %name, %error, "cannot record a failed delivery; a restart may retry it more often");
                            }
                            tracing::warn!(webhook = %name, id = %alert.id, reason = %failure.reason, retry_in = ?backoff, "webhook delivery failed");
                            tokio::select! {
                                _ = tokio::time::sleep(backoff) => {}
                                _ = stop.wait_for(|s| *s) => return,
                            }
                            backoff = (backoff * 2).min(self.max_backoff);
                            break; // rescan: keeps the order, oldest first
                        }
                        tracing::error!(webhook = %name, id = %alert.id, reason = %failure.reason, attempts = tried, "webhook refused the alert for good; moved to failed/");
                        self.counters.failed.fetch_add(1, Ordering::Relaxed);
                        let queue = queue.clone();
                        let reason = failure.reason;
                        tokio::task::spawn_blocking(move || queue.failed(&path, &alert, &reason))
                            .await
                    }
                };
                if let Ok(Err(error)) | Err(error) = done.map_err(std::io::Error::other) {
                    tracing::error!(webhook = %name, %error, "cannot record the outcome of a delivery; it may be sent again");
                }
            }
        }
    }
}

async fn post(client: &HttpsClient, queue: &Queue, alert: &OutboxAlert) -> Result<(), Failure> {
    let webhook = &queue.webhook;
    let body = body(webhook.format, alert);
    let request = hyper::Request::post(webhook.url.as_str())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(IDEMPOTENCY_HEADER, header_safe(&alert.id))
        .header(SIGNATURE_HEADER, signature(webhook.secret.expose(), &body))
        .header(hyper::header::USER_AGENT, "slacap")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| Failure {
            reason: format!("cannot build the request: {e}"),
            permanent: true,
        })?;
    let transient = |reason: String| Failure {
        reason,
        permanent: false,
    };
    let response = tokio::time::timeout(REQUEST_TIMEOUT, client.request(request))
        .await
        .map_err(|_| transient("timed out".into()))?
        .map_err(|e| transient(format!("{e:?}")))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retryable = status.is_server_error()
        || status == hyper::StatusCode::REQUEST_TIMEOUT
        || status == hyper::StatusCode::TOO_MANY_REQUESTS
        || !status.is_client_error();
    Err(Failure {
        reason: format!("answered {status}"),
        permanent: !retryable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_text_form_is_what_slack_and_teams_read() {
        let alert = OutboxAlert::from_payload("b1", r#"{"summary":"payments breached"}"#, 0);
        let text: serde_json::Value =
            serde_json::from_slice(&body(WebhookFormat::Text, &alert)).unwrap();
        assert_eq!(
            text,
            serde_json::json!({"text": "[slacap] payments breached"})
        );
        let json: serde_json::Value =
            serde_json::from_slice(&body(WebhookFormat::Json, &alert)).unwrap();
        assert_eq!(json["id"], "b1");
        assert_eq!(json["alert"]["summary"], "payments breached");
    }

    #[test]
    fn any_alert_id_becomes_a_valid_header_value() {
        for id in ["INC-1:response", "INC-\u{7}1\n", "ünïcode id", "50%"] {
            let value = header_safe(id);
            assert!(
                hyper::header::HeaderValue::from_str(&value).is_ok(),
                "{id:?} -> {value}"
            );
        }
        assert_eq!(header_safe("a b%\n"), "a%20b%25%0A");
        assert_eq!(header_safe("INC-1:response"), "INC-1:response");
    }
}

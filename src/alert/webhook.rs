//! Webhook delivery: one sender task per webhook drains its outbox queue in order, POSTing each
//! alert with its idempotency key and an HMAC-SHA256 signature, retrying with exponential
//! backoff until the receiver answers 2xx.

use super::outbox::{OutboxAlert, Queue};
use crate::config::WebhookFormat;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
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
}

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `queue`'s alerts until `stop` turns true. Wakes on `notify` (new alerts) or every
/// second (to pick up what an earlier run left).
pub async fn run_sender(
    queue: Arc<Queue>,
    notify: Arc<Notify>,
    max_backoff: Duration,
    counters: Arc<WebhookCounters>,
    mut stop: watch::Receiver<bool>,
) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
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
                _ = notify.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            continue;
        }
        for (path, alert) in pending {
            match post(&client, &queue, &alert).await {
                Ok(()) => {
                    backoff = FIRST_BACKOFF;
                    counters.delivered.fetch_add(1, Ordering::Relaxed);
                    let queue = queue.clone();
                    let id = alert.id.clone();
                    let done =
                        tokio::task::spawn_blocking(move || queue.delivered(&path, &id)).await;
                    if let Ok(Err(error)) | Err(error) = done.map_err(std::io::Error::other) {
                        tracing::error!(webhook = %name, %error, "cannot record a delivery; it may be sent again");
                    }
                }
                Err(reason) => {
                    counters.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(webhook = %name, id = %alert.id, %reason, retry_in = ?backoff, "webhook delivery failed");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                    backoff = (backoff * 2).min(max_backoff);
                    break; // rescan: keeps the order, oldest first
                }
            }
        }
    }
}

async fn post(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    queue: &Queue,
    alert: &OutboxAlert,
) -> Result<(), String> {
    let webhook = &queue.webhook;
    let body = body(webhook.format, alert);
    let request = hyper::Request::post(webhook.url.as_str())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(IDEMPOTENCY_HEADER, alert.id.as_str())
        .header(SIGNATURE_HEADER, signature(&webhook.secret, &body))
        .header(hyper::header::USER_AGENT, "slacap")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(REQUEST_TIMEOUT, client.request(request))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", response.status()))
    }
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
}

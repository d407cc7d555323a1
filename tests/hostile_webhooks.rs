//! Webhook delivery against a real HTTPS receiver whose certificate a private CA signed: an
//! alert the receiver refuses for good moves to `failed/` and the queue moves on, an alert
//! id with control characters is still sendable, and a restart does not reset an alert's
//! count of failed deliveries.

mod common;

use bytes::Bytes;
use common::certs::make_certs;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use slacap::alert::outbox::{OutboxAlert, Queue};
use slacap::alert::webhook::{Sender, WebhookCounters};
use slacap::config::{Webhook, WebhookFormat};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An HTTPS receiver: records every idempotency key; refuses (400) keys containing "poison" and
/// is unavailable (503) for keys containing "flaky".
async fn receiver(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let config = slacap::tls::server_config(cert, key).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, record) = (acceptor.clone(), record.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let record = record.clone();
                    async move {
                        let key = request
                            .headers()
                            .get("idempotency-key")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        let status = if key.contains("poison") {
                            400
                        } else if key.contains("flaky") {
                            503
                        } else {
                            200
                        };
                        if status == 200 {
                            record.lock().unwrap().push(key);
                        }
                        hyper::Response::builder()
                            .status(status)
                            .body(Full::new(Bytes::new()))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

/// The `ops` webhook posting JSON to the receiver at `addr`, trusting the private CA `ca`.
fn webhook_to(addr: std::net::SocketAddr, ca: &std::path::Path) -> Webhook {
    Webhook {
        name: "ops".into(),
        url: format!("https://127.0.0.1:{}/hook", addr.port()),
        secret: "0123456789abcdef0123".into(),
        ca_file: Some(ca.to_path_buf()),
        format: WebhookFormat::Json,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_alert_moves_to_failed_and_the_rest_arrive_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let certs = make_certs(dir.path());
    let (addr, seen) = receiver(&certs.cert, &certs.key).await;
    let webhook = webhook_to(addr, &certs.ca);
    let queue = Arc::new(Queue::open(dir.path(), webhook, 100).unwrap());
    let alert = |id: &str, at: i64| OutboxAlert::from_payload(id, r#"{"summary":"s"}"#, at);
    // The poisoned alert is the oldest: the queue must not wait behind it.
    queue
        .enqueue(&[
            alert("poison-1", 1),
            alert("INC-\u{7}1:response", 2),
            alert("INC-2:response", 3),
        ])
        .unwrap();
    let counters = Arc::new(WebhookCounters::default());
    let sender = Sender {
        queue: queue.clone(),
        notify: Arc::new(tokio::sync::Notify::new()),
        tls: slacap::tls::client_config(Some(&certs.ca)).unwrap(),
        max_backoff: Duration::from_millis(200),
        max_attempts: 5,
        counters: counters.clone(),
    };
    let (stop, signal) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(sender.run(signal));
    common::eventually(Duration::from_secs(30), "two deliveries", || {
        (seen.lock().unwrap().len() == 2).then_some(())
    })
    .await;
    common::eventually(Duration::from_secs(30), "the refusal recorded", || {
        (counters.failed.load(Ordering::Relaxed) == 1).then_some(())
    })
    .await;
    stop.send(true).unwrap();
    task.await.unwrap();
    let keys = seen.lock().unwrap().clone();
    assert_eq!(keys, vec!["INC-%071:response", "INC-2:response"]);
    let failed = dir.path().join("outbox/ops/failed");
    let log = std::fs::read_to_string(failed.join("failed.log")).unwrap();
    assert!(log.contains("poison-1") && log.contains("400"), "{log}");
    assert!(queue.pending().unwrap().is_empty());
    assert_eq!(
        std::fs::read_dir(&failed).unwrap().count(),
        2,
        "the alert file and failed.log"
    );
}

/// `alerts.max_attempts` counts across restarts: the failed deliveries are in the alert's file.
#[tokio::test(flavor = "multi_thread")]
async fn a_restart_does_not_give_a_failing_alert_its_attempts_again() {
    let dir = tempfile::tempdir().unwrap();
    let certs = make_certs(dir.path());
    let (addr, _) = receiver(&certs.cert, &certs.key).await;
    let webhook = webhook_to(addr, &certs.ca);
    let queue = Arc::new(Queue::open(dir.path(), webhook.clone(), 100).unwrap());
    queue
        .enqueue(&[OutboxAlert::from_payload(
            "flaky-1",
            r#"{"summary":"s"}"#,
            1,
        )])
        .unwrap();
    const MAX_ATTEMPTS: u32 = 4;
    let run = |queue: Arc<Queue>| {
        let counters = Arc::new(WebhookCounters::default());
        let sender = Sender {
            queue,
            notify: Arc::new(tokio::sync::Notify::new()),
            tls: slacap::tls::client_config(Some(&certs.ca)).unwrap(),
            max_backoff: Duration::from_millis(100),
            max_attempts: MAX_ATTEMPTS,
            counters: counters.clone(),
        };
        let (stop, signal) = tokio::sync::watch::channel(false);
        (tokio::spawn(sender.run(signal)), stop, counters)
    };
    let (task, stop, _) = run(queue.clone());
    let recorded = || {
        queue
            .pending()
            .unwrap()
            .first()
            .map_or(0, |(_, a)| a.attempts)
    };
    common::eventually(
        Duration::from_secs(30),
        "a failed delivery recorded",
        || (recorded() >= 1).then_some(()),
    )
    .await;
    stop.send(true).unwrap();
    task.await.unwrap();
    let before_restart = recorded();
    assert!(
        (1..MAX_ATTEMPTS).contains(&before_restart),
        "{before_restart}"
    );

    let queue = Arc::new(Queue::open(dir.path(), webhook, 100).unwrap());
    let (task, stop, counters) = run(queue.clone());
    common::eventually(
        Duration::from_secs(30),
        "the alert moved to failed/",
        || (counters.failed.load(Ordering::Relaxed) == 1).then_some(()),
    )
    .await;
    stop.send(true).unwrap();
    task.await.unwrap();
    assert_eq!(
        counters.failed_attempts.load(Ordering::Relaxed),
        u64::from(MAX_ATTEMPTS - before_restart),
        "the restarted sender tries only what was left of the attempts"
    );
    assert!(queue.pending().unwrap().is_empty());
}

#[test]
fn a_webhook_with_an_unreadable_ca_file_is_a_clear_error() {
    let err = slacap::tls::client_config(Some(std::path::Path::new("/nonexistent/ca.pem")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
}

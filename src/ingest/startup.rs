//! Start-up progress: the API answers at once, and until the SLA state is rebuilt from the
//! history, `/healthz` says `starting` with how far the replay got and every other data route
//! answers 503. Liveness (`/livez`) is separate: a slow start is not a dead process.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug)]
pub struct Startup {
    started: Instant,
    ready: AtomicBool,
    /// Raw events replayed into the SLA state so far.
    replayed: AtomicU64,
    /// How long the rebuild took, once ready.
    took_ms: AtomicU64,
    /// Wakes the tasks that wait for the start-up to end.
    became_ready: tokio::sync::Notify,
}

impl Default for Startup {
    fn default() -> Self {
        Startup {
            started: Instant::now(),
            ready: AtomicBool::new(false),
            replayed: AtomicU64::new(0),
            took_ms: AtomicU64::new(0),
            became_ready: tokio::sync::Notify::new(),
        }
    }
}

impl Startup {
    /// A start-up that is already over (tests that build the state by hand).
    pub fn finished() -> Startup {
        let startup = Startup::default();
        startup.mark_ready();
        startup
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn mark_ready(&self) {
        self.took_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.ready.store(true, Ordering::Release);
        self.became_ready.notify_waiters();
    }

    /// Returns once the SLA state is rebuilt. Work that competes with the rebuild for the CPU
    /// (the first forecast refit, which reads the whole metrics history) waits for it.
    pub async fn wait_ready(&self) {
        loop {
            let notified = self.became_ready.notified();
            if self.is_ready() {
                return;
            }
            notified.await;
        }
    }

    pub fn count_replayed(&self, events: u64) {
        self.replayed.fetch_add(events, Ordering::Relaxed);
    }

    pub fn replayed(&self) -> u64 {
        self.replayed.load(Ordering::Relaxed)
    }

    /// `{state, events_replayed, elapsed_ms}` for `/healthz` and 503 answers.
    pub fn progress(&self) -> serde_json::Value {
        let ready = self.is_ready();
        serde_json::json!({
            "state": if ready { "ready" } else { "starting" },
            "events_replayed": self.replayed(),
            "elapsed_ms": if ready {
                self.took_ms.load(Ordering::Relaxed)
            } else {
                self.started.elapsed().as_millis() as u64
            },
        })
    }
}

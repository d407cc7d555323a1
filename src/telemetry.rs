//! Counters for everything that can go wrong (or right), exported at `/metrics` in the
//! Prometheus text format.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

macro_rules! counters {
    ($( $field:ident : $kind:literal, $help:literal ;)*) => {
        /// Process-wide counters; cheap to bump from any thread.
        #[derive(Debug, Default)]
        pub struct Counters {
            $( pub $field: AtomicU64, )*
            /// Messages behind the high watermark over all assigned partitions (from the
            /// high watermarks of fetch responses, via librdkafka statistics).
            pub consumer_lag: AtomicI64,
            /// 1 while ingest is halted on an offset regression (see `/healthz`).
            pub ingest_halted: AtomicI64,
            /// The source partitions this instance owns, (topic, partition) → messages behind
            /// the high watermark (0 until the first statistics after the assignment).
            pub partitions: Mutex<BTreeMap<(String, i32), i64>>,
            /// When the last snapshot of the SLA state was written (unix seconds; 0: none yet).
            pub last_snapshot_unix: AtomicI64,
            /// The watermark of the last durable batch (microseconds since the epoch; 0: none
            /// yet). The history's derived tables are final up to it, and
            /// hold every late event's correction that was consumed before it.
            pub history_watermark: AtomicI64,
        }

        impl Counters {
            /// Prometheus exposition text.
            pub fn render(&self) -> String {
                let mut out = String::new();
                $(
                    out.push_str(concat!("# HELP slacap_", stringify!($field), " ", $help, "\n# TYPE slacap_", stringify!($field), " ", $kind, "\n"));
                    out.push_str(&format!(concat!("slacap_", stringify!($field), " {}\n"), self.$field.load(Ordering::Relaxed)));
                )*
                out.push_str("# HELP slacap_consumer_lag Messages not yet consumed and committed, over all assigned partitions.\n# TYPE slacap_consumer_lag gauge\n");
                out.push_str(&format!("slacap_consumer_lag {}\n", self.consumer_lag.load(Ordering::Relaxed)));
                out.push_str("# HELP slacap_ingest_halted 1 while ingest is halted on an offset regression.\n# TYPE slacap_ingest_halted gauge\n");
                out.push_str(&format!("slacap_ingest_halted {}\n", self.ingest_halted.load(Ordering::Relaxed)));
                self.render_partitions(&mut out);
                out
            }
        }
    };
}

counters! {
    records_in_total: "counter", "Kafka records received.";
    records_replayed_total: "counter", "Records received again after a restart and skipped because the history already holds them.";
    events_decoded_total: "counter", "Events decoded from records (a record may hold an array of events).";
    records_dead_lettered_total: "counter", "Records sent to the dead-letter topic.";
    batches_total: "counter", "Batches made durable.";
    snapshots_total: "counter", "Snapshots of the SLA state written with the history.";
    records_durable_total: "counter", "Records whose batch is committed to the history and checkpointed (dead letters included).";
    files_written_total: "counter", "Parquet history files written.";
    bytes_written_total: "counter", "Bytes of Parquet history written.";
    offsets_committed_total: "counter", "Partition offsets committed to Kafka after their history was durable.";
    commit_errors_total: "counter", "Offset commits Kafka refused (the next commit supersedes them).";
    consumer_errors_total: "counter", "Errors reported by the Kafka consumer.";
    corrections_total: "counter", "Results corrected (and recorded in the corrections table) after late events.";
    late_events_total: "counter", "Events that arrived behind the watermark (kept in history; results already written for their time are not revised yet).";
    breaches_total: "counter", "Breaches detected.";
    burn_alerts_total: "counter", "Burn-rate alert transitions (firing or resolved).";
    warnings_total: "counter", "Ticket clock warnings (50, 75, 90 % of target) raised.";
    alerts_published_total: "counter", "Alerts published to the alerts topic.";
    dead_letters_truncated_total: "counter", "Dead letters sent truncated (larger than pipeline.dead_letter_max_bytes); headers carry the original size and SHA-256.";
    dead_letters_spilled_total: "counter", "Dead letters the producer could not deliver, written whole to <data_dir>/dead-letter/ instead.";
    offset_regressions_total: "counter", "Partitions whose log ended below the checkpointed offset (topic re-created or broker data loss).";
    sql_queries_total: "counter", "SQL queries accepted.";
    sql_refused_total: "counter", "SQL requests refused (not read-only, or touching other than the history tables).";
    sql_cancelled_total: "counter", "SQL queries cancelled (timed out, client gone, or shutdown).";
}

impl Counters {
    /// The watermark of the last durable batch, if any (see [`Counters::history_watermark`]).
    pub fn history_watermark(&self) -> Option<i64> {
        Some(self.history_watermark.load(Ordering::Relaxed)).filter(|w| *w != 0)
    }

    /// Notes the watermark of a batch made durable (or of the checkpoint a start-up resumes).
    pub fn set_history_watermark(&self, watermark: Option<i64>) {
        if let Some(watermark) = watermark {
            self.history_watermark.store(watermark, Ordering::Relaxed);
        }
    }

    fn render_partitions(&self, out: &mut String) {
        let owned = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        out.push_str("# HELP slacap_partition_owned 1 for each source partition this instance owns.\n# TYPE slacap_partition_owned gauge\n");
        for (topic, partition) in owned.keys() {
            out.push_str(&format!(
                "slacap_partition_owned{{topic=\"{topic}\",partition=\"{partition}\"}} 1\n"
            ));
        }
        out.push_str("# HELP slacap_partition_lag Messages behind the high watermark, per owned source partition.\n# TYPE slacap_partition_lag gauge\n");
        for ((topic, partition), lag) in owned.iter() {
            out.push_str(&format!(
                "slacap_partition_lag{{topic=\"{topic}\",partition=\"{partition}\"}} {lag}\n"
            ));
        }
        if let Some(watermark) = self.history_watermark() {
            out.push_str("# HELP slacap_history_watermark_seconds The SLA watermark of the last batch made durable (unix seconds): the history's slices, outcomes and breaches are final up to it.\n# TYPE slacap_history_watermark_seconds gauge\n");
            out.push_str(&format!(
                "slacap_history_watermark_seconds {}\n",
                watermark as f64 / 1e6
            ));
        }
        let last = self.last_snapshot_unix.load(Ordering::Relaxed);
        if last > 0 {
            let age = (chrono::Utc::now().timestamp() - last).max(0);
            out.push_str("# HELP slacap_snapshot_age_seconds Seconds since the last snapshot of the SLA state (a restart replays the raw events after it).\n# TYPE slacap_snapshot_age_seconds gauge\n");
            out.push_str(&format!("slacap_snapshot_age_seconds {age}\n"));
        }
    }
}

pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let c = Counters::default();
        add(&c.records_in_total, 3);
        c.consumer_lag.store(7, Ordering::Relaxed);
        let text = c.render();
        assert!(
            text.contains("# TYPE slacap_records_in_total counter\nslacap_records_in_total 3\n")
        );
        assert!(text.contains("slacap_consumer_lag 7\n"));
        assert!(
            !text.contains("slacap_snapshot_age_seconds"),
            "no snapshot yet"
        );
        assert!(
            !text.contains("slacap_history_watermark_seconds"),
            "no durable batch yet"
        );
        c.set_history_watermark(Some(1_796_083_200_500_000));
        assert!(
            c.render()
                .contains("slacap_history_watermark_seconds 1796083200.5\n")
        );
    }

    #[test]
    fn renders_each_owned_partition_and_the_snapshot_age() {
        let c = Counters::default();
        c.partitions
            .lock()
            .unwrap()
            .extend([(("m".to_string(), 0), 5), (("t".to_string(), 2), 0)]);
        c.last_snapshot_unix
            .store(chrono::Utc::now().timestamp() - 42, Ordering::Relaxed);
        let text = c.render();
        assert!(text.contains("slacap_partition_owned{topic=\"m\",partition=\"0\"} 1\n"));
        assert!(text.contains("slacap_partition_owned{topic=\"t\",partition=\"2\"} 1\n"));
        assert!(text.contains("slacap_partition_lag{topic=\"m\",partition=\"0\"} 5\n"));
        let age: i64 = text
            .lines()
            .find_map(|l| l.strip_prefix("slacap_snapshot_age_seconds "))
            .and_then(|v| v.parse().ok())
            .expect("a snapshot age");
        assert!((42..45).contains(&age), "{age}");
    }
}

//! Shared by the broker benchmarks: fresh topics on the test broker.

use slacap::config::Topics;

/// Creates `bench-<name>` topics: `partitions` for metrics and tickets, one for dead letters
/// and alerts.
pub async fn create_topics(brokers: &str, name: &str, partitions: i32) -> Topics {
    let topics = Topics {
        metrics: format!("bench-{name}.metrics"),
        tickets: format!("bench-{name}.tickets"),
        dead_letter: format!("bench-{name}.dead-letter"),
        alerts: format!("bench-{name}.alerts"),
    };
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        rdkafka::config::ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .create()
            .expect("admin");
    let new: Vec<_> = [
        (&topics.metrics, partitions),
        (&topics.tickets, partitions),
        (&topics.dead_letter, 1),
        (&topics.alerts, 1),
    ]
    .iter()
    .map(|(t, p)| rdkafka::admin::NewTopic::new(t, *p, rdkafka::admin::TopicReplication::Fixed(1)))
    .collect();
    for r in admin
        .create_topics(&new, &rdkafka::admin::AdminOptions::new())
        .await
        .expect("create topics")
    {
        r.expect("topic");
    }
    topics
}

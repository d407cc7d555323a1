//! The embedded Kafka broker (librdkafka's mock cluster) and a bulk producer.

use super::generator::Message;
use crate::config::Topics;
use crate::ingest::producer_config;
use crate::model::StreamKind;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};

/// An in-process Kafka cluster that lives as long as this value.
pub struct EmbeddedBroker {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl EmbeddedBroker {
    pub fn start() -> anyhow::Result<Self> {
        Ok(EmbeddedBroker {
            cluster: MockCluster::new(1)?,
        })
    }

    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// The mock cluster has no CreateTopics API; topics are made directly.
    pub fn create_topics(&self, topics: &Topics) -> anyhow::Result<()> {
        self.cluster.create_topic(&topics.metrics, 3, 1)?;
        self.cluster.create_topic(&topics.tickets, 3, 1)?;
        self.cluster.create_topic(&topics.dead_letter, 1, 1)?;
        self.cluster.create_topic(&topics.alerts, 1, 1)?;
        Ok(())
    }
}

/// Produces `messages` (keyed by service) and waits for every acknowledgement.
pub async fn produce(
    brokers: &str,
    topics: &Topics,
    messages: &[Message],
) -> anyhow::Result<usize> {
    let kafka = crate::config::KafkaSettings {
        brokers: brokers.to_string(),
        group_id: String::new(),
        topics: topics.clone(),
        session_timeout: std::time::Duration::from_secs(6),
        client: Default::default(),
    };
    // The mock cluster keeps only the last 5 MB of each partition: compress, and produce while
    // the pipeline consumes.
    let producer: FutureProducer = producer_config(&kafka)
        .set("queue.buffering.max.messages", "1000000")
        .set("compression.type", "gzip")
        .create()?;
    let mut pending = Vec::with_capacity(messages.len());
    for m in messages {
        let topic = match m.stream {
            StreamKind::Metrics => &topics.metrics,
            StreamKind::Tickets => &topics.tickets,
        };
        let mut record = FutureRecord::to(topic)
            .key(m.key.as_bytes())
            .payload(m.payload.as_slice());
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    back,
                )) => {
                    record = back;
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
    for delivery in pending {
        delivery.await?.map_err(|(e, _)| e)?;
    }
    Ok(messages.len())
}

use super::Routes;
use crate::pubsub::{BrokerMessage, MessageHandler, NotProcessed, PubSub};
use async_trait::async_trait;
use dapr_rs_proto::cloudevent;
use dapr_rs_proto::outcome::DeliveryOutcome;
use serde_json::{Map, Value as Json};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Where events of a subscription go: the app channel or a streaming subscriber.
#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    /// Delivers one CloudEvent to `path`; `body` is its JSON as the broker stored it.
    async fn deliver(&self, ce: &Map<String, Json>, body: &[u8], pubsub_name: &str, topic: &str, path: &str) -> DeliveryOutcome;
}

/// How often a RETRY is tried again before the message goes back to the broker (or the
/// dead-letter topic).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_retries: 3, initial_backoff: Duration::from_millis(50), max_backoff: Duration::from_secs(2) }
    }
}

/// The [`MessageHandler`] of one subscription.
pub struct EventDelivery {
    pub pubsub_name: String,
    pub topic: String,
    pub routes: Routes,
    pub dead_letter_topic: Option<String>,
    pub raw_payload: bool,
    pub retry: RetryPolicy,
    pub component: Arc<dyn PubSub>,
    pub sink: Arc<dyn EventSink>,
}

impl EventDelivery {
    /// Re-publishes the original broker bytes and metadata to the dead-letter topic; without one
    /// a dropped message is simply acknowledged.
    async fn dead_letter(&self, msg: &BrokerMessage, why: &str) -> Result<(), NotProcessed> {
        let Some(dlq) = &self.dead_letter_topic else {
            tracing::warn!(pubsub = %self.pubsub_name, topic = %self.topic, reason = why, "message dropped");
            return Ok(());
        };
        tracing::info!(pubsub = %self.pubsub_name, topic = %self.topic, dead_letter_topic = %dlq, reason = why, "message dead-lettered");
        let dead = BrokerMessage { topic: dlq.clone(), data: msg.data.clone(), metadata: msg.metadata.clone() };
        match tokio::time::timeout(Duration::from_secs(30), self.component.publish(dead)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(NotProcessed(format!("dead-letter publish to {dlq} failed: {e}"))),
            Err(_) => Err(NotProcessed(format!("dead-letter publish to {dlq} timed out"))),
        }
    }
}

#[async_trait]
impl MessageHandler for EventDelivery {
    async fn handle(&self, msg: BrokerMessage) -> Result<(), NotProcessed> {
        let (ce, body) = if self.raw_payload {
            let ce = cloudevent::raw_envelope(&self.pubsub_name, &self.topic, &msg.data, &msg.metadata);
            let body = serde_json::to_vec(&ce).unwrap_or_default();
            (ce, bytes::Bytes::from(body))
        } else {
            match serde_json::from_slice::<Json>(&msg.data) {
                Ok(Json::Object(ce)) => (ce, msg.data.clone()),
                _ => {
                    // daprd: an unparsable event goes to the dead-letter topic, else back to the broker.
                    if self.dead_letter_topic.is_some() {
                        return self.dead_letter(&msg, "the message is not a CloudEvent").await;
                    }
                    return Err(NotProcessed("the message is not a CloudEvent JSON object".into()));
                }
            }
        };
        if cloudevent::is_expired(&ce, SystemTime::now()) {
            return self.dead_letter(&msg, "expired").await;
        }
        let path = match self.routes.select(&ce) {
            Ok(Some(path)) => path,
            Ok(None) => return self.dead_letter(&msg, "no route matched").await,
            Err(e) => {
                // daprd: a routing error dead-letters the message, else it goes back to the broker.
                tracing::error!(pubsub = %self.pubsub_name, topic = %self.topic, error = %e, "cannot choose a route for the event");
                if self.dead_letter_topic.is_some() {
                    return self.dead_letter(&msg, "routing failed").await;
                }
                return Err(NotProcessed(e));
            }
        };
        let mut backoff = self.retry.initial_backoff;
        for attempt in 0..=self.retry.max_retries {
            match self.sink.deliver(&ce, &body, &self.pubsub_name, &self.topic, path).await {
                DeliveryOutcome::Success => return Ok(()),
                DeliveryOutcome::Drop => return self.dead_letter(&msg, "the app answered DROP").await,
                DeliveryOutcome::Retry if attempt < self.retry.max_retries => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.retry.max_backoff);
                }
                DeliveryOutcome::Retry => {}
            }
        }
        if self.dead_letter_topic.is_some() {
            return self.dead_letter(&msg, "retries exhausted").await;
        }
        Err(NotProcessed(format!("the app asked for a retry {} times", self.retry.max_retries + 1)))
    }
}

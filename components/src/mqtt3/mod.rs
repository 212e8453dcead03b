//! `pubsub.mqtt3`: an MQTT 3.1.1 broker (Mosquitto, EMQX, …) with the metadata keys of Dapr's
//! `pubsub.mqtt3`. Topic = MQTT topic; messages are the CloudEvent (or raw) bytes, as daprd
//! writes them (MQTT 3 has no headers, so publish metadata does not travel).
//!
//! - [`settings`]: the metadata keys and Dapr's (code) defaults.
//! - [`session`]: the one connection, acknowledgements of publishes and subscribes, reconnects.
//! - [`subscription`]: dispatch, PUBACK after the handler took a message, and handing a message
//!   the handler did not take to it again (MQTT has no nack).
//!
//! Sessions, as `cleanSession` chooses:
//! - `false` (Dapr's default): the client id is `consumerID`, and the broker keeps the session
//!   while the sidecar is away: its subscriptions, what is published for them meanwhile (QoS ≥ 1)
//!   and what was sent but never acknowledged. One connection per `consumerID` at a time: a
//!   second instance of the app takes the session over, so instances cannot share this way.
//! - `true`: every instance connects as `{consumerID}-{random}` and subscribes to
//!   `$share/{consumerID}/{topic}`, so instances of one app id share messages and app ids each get
//!   every message; the broker keeps nothing for an app while none of its instances is connected.
//!
//! Publishing waits for the broker's PUBACK (QoS 1) or PUBCOMP (QoS 2), so a publish fails while
//! the broker is away or refuses; at QoS 0 it only waits until the message is written.

mod session;
mod settings;
mod subscription;
mod tls;

#[cfg(test)]
mod outage_tests;
#[cfg(test)]
mod test_broker;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;

use crate::{BrokerError, BrokerMessage, ComponentConfig, MessageHandler, PubSub, SubscribeRequest, Subscription};
use async_trait::async_trait;
use session::Session;
use settings::Settings;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Publish metadata Dapr reads: overrides the component's `retain` for one message.
const RETAIN: &str = "retain";

pub struct Mqtt3PubSub {
    session: Arc<Session>,
}

impl Mqtt3PubSub {
    /// Connects, so a broker that is down fails the component (and the sidecar's start).
    pub async fn open(config: &ComponentConfig) -> Result<Self, BrokerError> {
        let settings = Arc::new(Settings::from_config(config)?);
        let client_id = if settings.clean_session {
            format!("{}-{}", settings.consumer_id, &uuid::Uuid::new_v4().simple().to_string()[..8])
        } else {
            settings.consumer_id.clone()
        };
        let session = Session::connect(settings.clone(), client_id.clone()).await?;
        tracing::debug!(component = %config.name, address = %settings.address, %client_id, "pubsub.mqtt3 connected");
        Ok(Self { session })
    }

    fn unavailable(&self, what: &str, why: &str) -> BrokerError {
        BrokerError::Unavailable(format!("{what} MQTT broker at {}: {why}", self.session.settings.address))
    }
}

/// Whether an MQTT topic name can be published to and subscribed as is: no wildcards, not empty.
fn check_topic(topic: &str) -> Result<(), BrokerError> {
    if topic.is_empty() || topic.contains(['+', '#', '\0']) {
        return Err(BrokerError::Other(format!("pubsub.mqtt3: {topic:?} is not an MQTT topic name (empty, or holds + # or NUL)")));
    }
    Ok(())
}

#[async_trait]
impl PubSub for Mqtt3PubSub {
    async fn publish(&self, msg: BrokerMessage) -> Result<(), BrokerError> {
        check_topic(&msg.topic)?;
        let retain = match msg.metadata.get(RETAIN).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => self.session.settings.retain,
            Some(raw) => dapr_rs_proto::go_value::parse_go_bool(raw)
                .ok_or_else(|| BrokerError::Other(format!("pubsub.mqtt3: publish metadata {RETAIN}: {raw:?} is not a boolean")))?,
        };
        self.session
            .publish(&msg.topic, msg.data.to_vec(), retain)
            .await
            .map_err(|why| self.unavailable(&format!("cannot publish to {} on", msg.topic), &why))
    }

    async fn subscribe(&self, req: SubscribeRequest, handler: Arc<dyn MessageHandler>) -> Result<Box<dyn Subscription>, BrokerError> {
        check_topic(&req.topic)?;
        let settings = &self.session.settings;
        let filter = if settings.clean_session { format!("$share/{}/{}", req.consumer_group, req.topic) } else { req.topic.clone() };
        let (tx, rx) = mpsc::unbounded_channel();
        self.session
            .subscribe(&req.topic, filter.clone(), tx)
            .await
            .map_err(|why| self.unavailable(&format!("cannot subscribe to {filter} on"), &why))?;
        let slots = req.slots(req.max_concurrency);
        let subscription = subscription::TopicSubscription { session: self.session.clone(), topic: Arc::from(req.topic), handler, slots };
        Ok(Box::new(subscription.start(rx)))
    }

    async fn close(&self) {
        self.session.close().await;
    }
}

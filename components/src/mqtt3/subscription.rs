//! One subscription: the topic's messages from the session, bounded dispatch in arrival order,
//! and PUBACK only once the handler took the message.
//!
//! MQTT has no negative acknowledgement, and a broker sends an unacknowledged message again only
//! when the session is resumed on a new connection. So a message the handler did not take stays
//! unacknowledged at the broker (a persistent session gets it again if this sidecar dies) and is
//! handed to the handler again here, with backoff, until it is taken or the subscription stops.
//! Daprd's `pubsub.mqtt3` leaves it unacknowledged and waits for a reconnect that may never come.

use super::session::Session;
use crate::{BrokerMessage, DeliverySlot, DeliverySlots, Handled, MessageHandler, ReaderControl, TaskSubscription, call_handler};
use rumqttc::Publish;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const FIRST_RETRY: Duration = Duration::from_millis(200);
const MAX_RETRY: Duration = Duration::from_secs(5);

pub(super) struct TopicSubscription {
    pub session: Arc<Session>,
    pub topic: Arc<str>,
    pub handler: Arc<dyn MessageHandler>,
    pub slots: DeliverySlots,
}

impl TopicSubscription {
    pub fn start(self, messages: mpsc::UnboundedReceiver<Publish>) -> TaskSubscription {
        let control = ReaderControl::new(self.slots.clone());
        let subscription = control.subscription();
        let reader = Arc::new(Reader { subscription: self, control });
        subscription.tasks.spawn(reader.read_loop(messages));
        subscription
    }
}

struct Reader {
    subscription: TopicSubscription,
    /// Stop, abandon, the tasks, and one slot per handler call in flight.
    control: ReaderControl,
}

impl Reader {
    async fn read_loop(self: Arc<Self>, mut messages: mpsc::UnboundedReceiver<Publish>) {
        loop {
            let Some(slot) = self.control.reserve().await else { break };
            let next = tokio::select! {
                biased;
                () = self.control.stop.cancelled() => break,
                next = messages.recv() => next,
            };
            match next {
                Some(publish) => {
                    let slot = self.control.complete(slot).await;
                    self.control.tasks.spawn(self.clone().dispatch(publish, slot));
                }
                None => break,
            }
        }
        self.subscription.session.unsubscribe(&self.subscription.topic).await;
    }

    async fn dispatch(self: Arc<Self>, publish: Publish, slot: DeliverySlot) {
        let topic = &self.subscription.topic;
        let metadata = HashMap::from([("retained".to_owned(), publish.retain.to_string())]);
        let message = BrokerMessage { topic: topic.to_string(), data: publish.payload.clone(), metadata };
        let mut retry = FIRST_RETRY;
        loop {
            // MQTT has no nack: what the handler did not take is handed to it again, with backoff,
            // and an abandoned message stays unacknowledged with the broker.
            match call_handler("pubsub.mqtt3", &*self.subscription.handler, message.clone(), None, Some(&self.control.abandon)).await {
                Handled::Processed => break,
                Handled::Abandoned => return,
                Handled::NotProcessed | Handled::TimedOut => {}
            }
            tokio::select! {
                () = self.control.stop.cancelled() => {
                    tracing::debug!(%topic, "pubsub.mqtt3: subscription stopped; message left unacknowledged");
                    return;
                }
                () = tokio::time::sleep(retry) => {}
            }
            retry = (retry * 2).min(MAX_RETRY);
        }
        drop(slot);
        if let Err(err) = self.subscription.session.client.ack(&publish).await {
            tracing::warn!(%topic, %err, "pubsub.mqtt3: acknowledging failed; the broker will send the message again");
        }
    }
}

use super::sink::{AppAnswer, EventSink};
use crate::metrics::pubsub::{Ingress, Settled};
use crate::retry::RetryPolicy;
use crate::routing::Routes;
use crate::scopes::TopicScopes;
use async_trait::async_trait;
use dapr_rs_components::{BrokerMessage, MessageHandler, NotProcessed, PubSub};
use dapr_rs_proto::cloudevent::{self, DeliveredEvent};
use dapr_rs_proto::delivery_metadata;
use dapr_rs_proto::outcome::DeliveryOutcome;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

pub(super) const SHUTTING_DOWN: &str = "the sidecar is shutting down; left to the broker's redelivery";

/// The [`MessageHandler`] of one subscription.
pub struct EventDelivery {
    pub pubsub_name: String,
    pub topic: String,
    pub routes: Routes,
    pub dead_letter_topic: Option<String>,
    pub raw_payload: bool,
    /// The component's Resiliency inbound retry policy (or the default).
    pub retry: RetryPolicy,
    /// The component's Resiliency inbound timeout: an attempt taking longer counts as a RETRY.
    pub timeout: Option<Duration>,
    pub component: Arc<dyn PubSub>,
    /// The component's topic rules: a dead-letter publish is a publish, so they apply to it too.
    pub scopes: Arc<TopicScopes>,
    pub sink: Arc<dyn EventSink>,
    /// The app's slots (`--app-max-concurrency`), when each call to the app takes one: bulk
    /// deliveries. A single event's slot is taken by the component with the message instead
    /// (`SubscribeRequest::shared_slots`), so memory is bounded too.
    pub app_slots: Option<Arc<Semaphore>>,
    /// Cancelled when the sidecar starts shutting down: no new attempt starts, and an event the
    /// app did not take goes back to the broker, never to the dead-letter topic.
    pub stopping: CancellationToken,
    /// `dapr_component_pubsub_ingress_*` of this subscription.
    pub ingress: Ingress,
    /// Each call to the app runs in a `pubsub/<topic>` span when tracing is on.
    pub telemetry: crate::telemetry::Telemetry,
    /// Where a dead-lettered message is noted (`dapr-rs dashboard`).
    pub dead_letters: Arc<crate::dead_letters::DeadLetterLog>,
}

/// A broker message on its way to the app: its CloudEvent (whose bytes an HTTP app gets) and its route.
pub struct RoutedEvent {
    pub ce: DeliveredEvent,
    pub path: String,
}

/// Where a broker message goes before any delivery: to the app, or already settled
/// (dead-lettered, dropped, or left to the broker) with the handler's answer.
pub enum Routing {
    Deliver(RoutedEvent),
    Settled(Result<(), NotProcessed>),
    /// Settled because no route matched (daprd's metrics count it apart).
    Unrouted(Result<(), NotProcessed>),
}

impl EventDelivery {
    /// Parses the message, drops it when expired, and picks its route.
    pub async fn route(&self, msg: &BrokerMessage) -> Routing {
        let ce = if self.raw_payload {
            let ce = cloudevent::raw_envelope(&self.pubsub_name, &self.topic, &msg.data, &msg.metadata);
            match serde_json::to_vec(&ce).map(DeliveredEvent::parse) {
                Ok(Ok(ce)) => ce,
                // Never deliver an empty body in its place: leave the message with the broker.
                Ok(Err(e)) | Err(e) => return Routing::Settled(Err(NotProcessed(format!("cannot write the rawPayload envelope: {e}")))),
            }
        } else {
            match DeliveredEvent::parse(msg.data.clone()) {
                Ok(ce) => ce,
                Err(_) => {
                    // daprd: an unparsable event goes to the dead-letter topic, else back to the broker.
                    if self.dead_letter_topic.is_some() {
                        return Routing::Settled(self.dead_letter(msg, "the message is not a CloudEvent").await);
                    }
                    return Routing::Settled(Err(NotProcessed("the message is not a CloudEvent JSON object".into())));
                }
            }
        };
        if cloudevent::is_expired(&ce, SystemTime::now()) {
            return Routing::Settled(self.dead_letter(msg, "expired").await);
        }
        let path = match self.routes.select(&ce) {
            Ok(Some(path)) => path.to_owned(),
            Ok(None) => return Routing::Unrouted(self.dead_letter(msg, "no route matched").await),
            Err(e) => {
                // daprd: a routing error dead-letters the message, else it goes back to the broker.
                tracing::error!(pubsub = %self.pubsub_name, topic = %self.topic, error = %e, "cannot choose a route for the event");
                if self.dead_letter_topic.is_some() {
                    return Routing::Settled(self.dead_letter(msg, "routing failed").await);
                }
                return Routing::Settled(Err(NotProcessed(e)));
            }
        };
        Routing::Deliver(RoutedEvent { ce, path })
    }

    /// A message the app still asked to retry after every retry: to the dead-letter topic when
    /// there is one, else back to the broker.
    pub async fn retries_exhausted(&self, msg: &BrokerMessage, attempts: u64) -> Result<(), NotProcessed> {
        if self.dead_letter_topic.is_some() {
            return self.dead_letter(msg, "retries exhausted").await;
        }
        Err(NotProcessed(format!("the app did not take the event in {attempts} attempts")))
    }

    /// Re-publishes the original broker bytes and metadata to the dead-letter topic, with the
    /// `pubsubName` daprd adds to a message's metadata before it delivers or dead-letters it;
    /// without one a dropped message is simply acknowledged.
    pub async fn dead_letter(&self, msg: &BrokerMessage, why: &str) -> Result<(), NotProcessed> {
        let Some(dlq) = &self.dead_letter_topic else {
            tracing::warn!(pubsub = %self.pubsub_name, topic = %self.topic, reason = why, "message dropped");
            return Ok(());
        };
        if !self.scopes.may_publish(dlq) {
            tracing::error!(pubsub = %self.pubsub_name, topic = %self.topic, dead_letter_topic = %dlq, reason = why, "the publishing scopes forbid the dead-letter topic; the message goes back to the broker");
            return Err(NotProcessed(format!("dead-letter topic {dlq} is not allowed for this app")));
        }
        tracing::info!(pubsub = %self.pubsub_name, topic = %self.topic, dead_letter_topic = %dlq, reason = why, "message dead-lettered");
        let metadata = delivery_metadata::with_pubsub_name(&msg.metadata, &self.pubsub_name).map(|(k, v)| (k.to_owned(), v.to_owned()));
        let dead = BrokerMessage { topic: dlq.clone(), data: msg.data.clone(), metadata: metadata.collect() };
        match tokio::time::timeout(Duration::from_secs(30), self.component.publish(dead)).await {
            Ok(Ok(())) => {
                self.dead_letters.record(&self.pubsub_name, &self.topic, dlq, &msg.data, why);
                Ok(())
            }
            Ok(Err(e)) => Err(NotProcessed(format!("dead-letter publish to {dlq} failed: {e}"))),
            Err(_) => Err(NotProcessed(format!("dead-letter publish to {dlq} timed out"))),
        }
    }

    /// One delivery to the sink within an app slot and the timeout; `None` once shutting down.
    async fn attempt(&self, ce: &DeliveredEvent, msg: &BrokerMessage, path: &str) -> Option<AppAnswer> {
        let _slot = tokio::select! {
            biased;
            () = self.stopping.cancelled() => return None,
            slot = self.app_slot() => slot,
        };
        if self.stopping.is_cancelled() {
            return None;
        }
        let delivery = self.sink.deliver(ce, &msg.metadata, &self.pubsub_name, &self.topic, path);
        let delivery = self.telemetry.delivery(ce, &self.topic, delivery);
        Some(self.ingress.delivered(self.within_timeout(delivery, || AppAnswer::Status(DeliveryOutcome::Retry))).await)
    }

    /// A slot of the app's for one call to the app (`None` when the component took it already); a
    /// bulk call takes one slot like a single delivery, as daprd counts requests to the app.
    pub async fn app_slot(&self) -> Option<OwnedSemaphorePermit> {
        // The semaphore is never closed, so acquiring fails only if it were.
        self.app_slots.clone()?.acquire_owned().await.ok()
    }

    /// Runs one call to the app under the Resiliency timeout; a call taking longer is abandoned
    /// and answered `timed_out()` (a RETRY).
    pub async fn within_timeout<T>(&self, call: impl Future<Output = T>, timed_out: impl FnOnce() -> T) -> T {
        let Some(timeout) = self.timeout else { return call.await };
        match tokio::time::timeout(timeout, call).await {
            Ok(answer) => answer,
            Err(_) => {
                tracing::warn!(pubsub = %self.pubsub_name, topic = %self.topic, ?timeout, "the app did not answer within the Resiliency timeout");
                timed_out()
            }
        }
    }
}

#[async_trait]
impl MessageHandler for EventDelivery {
    async fn handle(&self, msg: BrokerMessage) -> Result<(), NotProcessed> {
        let RoutedEvent { ce, path } = match self.route(&msg).await {
            Routing::Deliver(routed) => routed,
            Routing::Settled(answer) => return self.ingress.settled(answer, Settled::Undeliverable),
            Routing::Unrouted(answer) => return self.ingress.settled(answer, Settled::Unrouted),
        };
        let mut delays = self.retry.delays();
        let mut attempts = 0u64;
        loop {
            let Some(answer) = self.attempt(&ce, &msg, &path).await else {
                return Err(NotProcessed(SHUTTING_DOWN.into()));
            };
            attempts += 1;
            match answer {
                AppAnswer::Status(DeliveryOutcome::Success) => return Ok(()),
                AppAnswer::Status(DeliveryOutcome::Drop) => return self.dead_letter(&msg, "the app answered DROP").await,
                AppAnswer::NotFound => return self.dead_letter(&msg, "the app has no such route (HTTP 404)").await,
                AppAnswer::Unimplemented => {
                    tracing::warn!(pubsub = %self.pubsub_name, topic = %self.topic, "the app does not implement OnTopicEvent; message dropped, as daprd drops it");
                    return Ok(());
                }
                AppAnswer::Status(DeliveryOutcome::Retry) => {}
            }
            let Some(delay) = delays.next() else { break };
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.stopping.cancelled() => {}
            }
        }
        if self.stopping.is_cancelled() {
            return Err(NotProcessed(SHUTTING_DOWN.into()));
        }
        self.ingress.settled(self.retries_exhausted(&msg, attempts).await, Settled::RetriesExhausted)
    }
}

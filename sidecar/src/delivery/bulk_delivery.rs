//! Bulk delivery (`bulkSubscribe`, contract §1.2, §3.3, §3.4): the component still hands over one
//! message per [`MessageHandler`] call; concurrent calls are collected into a batch of up to
//! `maxMessagesCount` (or what arrived within `maxAwaitDurationMs`), the batch goes to the app in
//! one call per route, and each call is answered with its own entry's outcome, so every broker
//! message is acknowledged or redelivered on its own. Per-entry outcomes follow the single-event
//! rules of [`EventDelivery`]: RETRY entries are sent again (alone) with backoff, then go to the
//! dead-letter topic or back to the broker; DROP goes to the dead-letter topic. Each bulk call takes
//! one `--app-max-concurrency` slot and is bounded by the Resiliency timeout (a timed-out call is a
//! RETRY of all its entries), like a single delivery. A batch already collected when shutdown
//! starts is still delivered once; its retries are left to the broker.

use super::EventDelivery;
use super::event_delivery::{RoutedEvent, Routing, SHUTTING_DOWN};
use crate::state::BulkSubscribe;
use async_trait::async_trait;
use base64::Engine as _;
use dapr_rs_components::{BrokerMessage, MessageHandler, NotProcessed};
use dapr_rs_proto::bulk::{BulkEnvelope, BulkEnvelopeEntry};
use dapr_rs_proto::outcome::{BulkOutcome, DeliveryOutcome};
use dapr_rs_proto::runtime::topic_event_bulk_request_entry::Event as GrpcBulkEvent;
use dapr_rs_proto::runtime::{TopicEventBulkRequest, TopicEventBulkRequestEntry};
use dapr_rs_proto::{cloudevent, content_type};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Batches of one subscription in flight to the app at once when `--app-max-concurrency` is unset.
pub const DEFAULT_BATCHES_IN_FLIGHT: usize = 2;

/// Where a bulk subscription's batches go: the app channel (streams take no batches).
#[async_trait]
pub trait BulkEventSink: Send + Sync + 'static {
    async fn deliver_bulk(&self, batch: &BulkBatch<'_>) -> BulkOutcome;
}

/// One bulk call: entries of one subscription that share a route.
pub struct BulkBatch<'a> {
    pub pubsub_name: &'a str,
    pub topic: &'a str,
    pub path: &'a str,
    pub entries: Vec<BulkEntry<'a>>,
}

/// One broker message of a batch.
pub struct BulkEntry<'a> {
    pub entry_id: &'a str,
    pub ce: &'a Map<String, Json>,
    /// `rawPayload` subscriptions: the broker bytes, sent as they are rather than as a CloudEvent.
    pub raw: Option<&'a [u8]>,
    /// The broker message's metadata.
    pub metadata: &'a HashMap<String, String>,
}

impl BulkEntry<'_> {
    fn content_type(&self) -> &'static str {
        if self.raw.is_some() { content_type::OCTET_STREAM } else { content_type::CLOUDEVENT_JSON }
    }
}

impl BulkBatch<'_> {
    /// The metadata of the whole call, as daprd sends it.
    fn metadata(&self) -> HashMap<String, String> {
        HashMap::from([("pubsubName".to_owned(), self.pubsub_name.to_owned())])
    }

    /// `OnBulkTopicEvent`'s request.
    pub fn to_grpc_request(&self) -> TopicEventBulkRequest {
        let entries = self
            .entries
            .iter()
            .map(|e| TopicEventBulkRequestEntry {
                entry_id: e.entry_id.to_owned(),
                event: Some(match e.raw {
                    Some(raw) => GrpcBulkEvent::Bytes(raw.to_vec()),
                    None => GrpcBulkEvent::CloudEvent(cloudevent::to_topic_event_ce_request(e.ce)),
                }),
                content_type: e.content_type().to_owned(),
                metadata: e.metadata.clone(),
            })
            .collect();
        TopicEventBulkRequest {
            id: uuid::Uuid::new_v4().to_string(),
            entries,
            metadata: self.metadata(),
            topic: self.topic.to_owned(),
            pubsub_name: self.pubsub_name.to_owned(),
            r#type: cloudevent::BULK_EVENT_TYPE.to_owned(),
            path: self.path.to_owned(),
        }
    }

    /// The JSON body of an HTTP bulk delivery.
    pub fn to_http_envelope(&self) -> BulkEnvelope {
        let entries = self
            .entries
            .iter()
            .map(|e| BulkEnvelopeEntry {
                entry_id: e.entry_id.to_owned(),
                event: match e.raw {
                    Some(raw) => Json::String(base64::engine::general_purpose::STANDARD.encode(raw)),
                    None => Json::Object(e.ce.clone()),
                },
                metadata: e.metadata.clone(),
                content_type: e.content_type().to_owned(),
            })
            .collect();
        BulkEnvelope {
            id: uuid::Uuid::new_v4().to_string(),
            event_type: cloudevent::BULK_EVENT_TYPE.to_owned(),
            topic: self.topic.to_owned(),
            pubsubname: self.pubsub_name.to_owned(),
            metadata: self.metadata(),
            entries,
        }
    }
}

/// A handler call waiting for its batch.
struct Waiting {
    entry_id: String,
    msg: BrokerMessage,
    routed: RoutedEvent,
    answer: oneshot::Sender<Result<(), NotProcessed>>,
}

impl Waiting {
    fn answer(self, result: Result<(), NotProcessed>) {
        // The caller may have given up (subscription stopped); the broker then redelivers.
        let _ = self.answer.send(result);
    }
}

/// The [`MessageHandler`] of a bulk subscription.
pub struct BulkDelivery {
    events: Arc<EventDelivery>,
    waiting: mpsc::Sender<Waiting>,
}

impl BulkDelivery {
    /// Starts the batcher; it ends once the component drops this handler. Once `shutdown` is
    /// cancelled, batches go at once instead of waiting to fill, so the grace period is not spent
    /// waiting.
    pub fn start(
        events: EventDelivery,
        sink: Arc<dyn BulkEventSink>,
        config: BulkSubscribe,
        batches_in_flight: usize,
        shutdown: CancellationToken,
    ) -> Self {
        let events = Arc::new(events);
        let (tx, rx) = mpsc::channel(config.max_messages_count.max(1));
        let batches = Batches { events: events.clone(), sink };
        let in_flight = Arc::new(Semaphore::new(batches_in_flight.max(1)));
        tokio::spawn(collect(rx, Arc::new(batches), config, in_flight, shutdown));
        Self { events, waiting: tx }
    }
}

#[async_trait]
impl MessageHandler for BulkDelivery {
    async fn handle(&self, msg: BrokerMessage) -> Result<(), NotProcessed> {
        let routed = match self.events.route(&msg).await {
            Routing::Deliver(routed) => routed,
            Routing::Settled(answer) => return answer,
        };
        let (answer, answered) = oneshot::channel();
        let waiting = Waiting { entry_id: uuid::Uuid::new_v4().to_string(), msg, routed, answer };
        if self.waiting.send(waiting).await.is_err() {
            return Err(NotProcessed("the bulk subscription is stopping".into()));
        }
        answered.await.unwrap_or_else(|_| Err(NotProcessed("the batch was abandoned".into())))
    }
}

/// Collects waiting calls into batches and starts their delivery, at most `in_flight` at once.
async fn collect(
    mut rx: mpsc::Receiver<Waiting>,
    batches: Arc<Batches>,
    config: BulkSubscribe,
    in_flight: Arc<Semaphore>,
    shutdown: CancellationToken,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + config.max_await;
        while batch.len() < config.max_messages_count {
            tokio::select! {
                // Biased: what is already queued joins the batch even when shutting down.
                biased;
                next = tokio::time::timeout_at(deadline, rx.recv()) => match next {
                    Ok(Some(waiting)) => batch.push(waiting),
                    Ok(None) | Err(_) => break,
                },
                _ = shutdown.cancelled() => break,
            }
        }
        let Ok(permit) = in_flight.clone().acquire_owned().await else { break };
        let batches = batches.clone();
        tokio::spawn(async move {
            batches.deliver(batch).await;
            drop(permit);
        });
    }
}

struct Batches {
    events: Arc<EventDelivery>,
    sink: Arc<dyn BulkEventSink>,
}

impl Batches {
    /// One call per route (as daprd groups them), in the order the routes first appear.
    async fn deliver(&self, batch: Vec<Waiting>) {
        let mut by_path: Vec<(String, Vec<Waiting>)> = Vec::new();
        for waiting in batch {
            match by_path.iter_mut().find(|(path, _)| *path == waiting.routed.path) {
                Some((_, group)) => group.push(waiting),
                None => by_path.push((waiting.routed.path.clone(), vec![waiting])),
            }
        }
        futures::future::join_all(by_path.into_iter().map(|(path, group)| self.deliver_route(path, group))).await;
    }

    async fn deliver_route(&self, path: String, mut pending: Vec<Waiting>) {
        let events = &self.events;
        let mut delays = events.retry.delays();
        let mut attempts = 0u64;
        loop {
            attempts += 1;
            let outcome = {
                let entries = pending
                    .iter()
                    .map(|w| BulkEntry {
                        entry_id: &w.entry_id,
                        ce: &w.routed.ce,
                        raw: events.raw_payload.then_some(w.msg.data.as_ref()),
                        metadata: &w.msg.metadata,
                    })
                    .collect();
                let batch = BulkBatch { pubsub_name: &events.pubsub_name, topic: &events.topic, path: &path, entries };
                let _slot = events.app_slot().await;
                events.within_timeout(self.sink.deliver_bulk(&batch), || BulkOutcome::All(DeliveryOutcome::Retry)).await
            };
            let mut again = Vec::new();
            for waiting in pending {
                match outcome.of(&waiting.entry_id) {
                    DeliveryOutcome::Success => waiting.answer(Ok(())),
                    DeliveryOutcome::Drop => {
                        let result = events.dead_letter(&waiting.msg, "the app answered DROP").await;
                        waiting.answer(result);
                    }
                    DeliveryOutcome::Retry => again.push(waiting),
                }
            }
            pending = again;
            if pending.is_empty() {
                return;
            }
            let Some(delay) = delays.next() else { break };
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = events.stopping.cancelled() => {}
            }
            if events.stopping.is_cancelled() {
                // As for single events: what the app did not take goes back to the broker.
                for waiting in pending {
                    waiting.answer(Err(NotProcessed(SHUTTING_DOWN.into())));
                }
                return;
            }
        }
        for waiting in pending {
            let result = events.retries_exhausted(&waiting.msg, attempts).await;
            waiting.answer(result);
        }
    }
}

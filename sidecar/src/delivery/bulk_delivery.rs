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
use super::sink::{BulkBatch, BulkEntry, BulkEventSink};
use crate::metrics::pubsub::BulkIngress;
use crate::subscription::BulkSubscribe;
use async_trait::async_trait;
use dapr_rs_components::{BrokerMessage, MessageHandler, NotProcessed};
use dapr_rs_proto::outcome::{BulkOutcome, DeliveryOutcome};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Batches of one subscription in flight to the app at once when `--app-max-concurrency` is unset.
pub const DEFAULT_BATCHES_IN_FLIGHT: usize = 2;

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
            Routing::Settled(answer) | Routing::Unrouted(answer) => return answer,
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
        let tally = self.events.ingress.bulk();
        let mut by_path: Vec<(String, Vec<Waiting>)> = Vec::new();
        for waiting in batch {
            match by_path.iter_mut().find(|(path, _)| *path == waiting.routed.path) {
                Some((_, group)) => group.push(waiting),
                None => by_path.push((waiting.routed.path.clone(), vec![waiting])),
            }
        }
        futures::future::join_all(by_path.into_iter().map(|(path, group)| self.deliver_route(path, group, &tally))).await;
        tally.report();
    }

    async fn deliver_route(&self, path: String, mut pending: Vec<Waiting>, tally: &BulkIngress<'_>) {
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
                let call = events.telemetry.deliveries(batch.entries.iter().map(|e| e.ce), &events.topic, self.sink.deliver_bulk(&batch));
                tally.call(events.within_timeout(call, || BulkOutcome::All(DeliveryOutcome::Retry))).await
            };
            let mut again = Vec::new();
            for waiting in pending {
                match tally.entry(outcome.of(&waiting.entry_id)) {
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

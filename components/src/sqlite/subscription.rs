//! One subscription's loop: claim a batch, hand each message to the handler while a slot is free,
//! acknowledge it or schedule its retry, and sleep until the doorbell rings, the group's next lease
//! runs out, or the component's lease watcher finds work for it. An idle subscription does no
//! work at all.

use super::doorbell::Doorbell;
use super::store::{Delivery, Store, TopicGroup, now_ms};
use crate::{BrokerError, DeliverySlot, DeliverySlots, Handled, MessageHandler, Subscription, call_handler};
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use tokio::task::{JoinHandle, JoinSet};

/// The most messages one claim leases.
const CLAIM_BATCH: usize = 100;
/// The first retry after a handler error; doubles with every delivery up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);

/// When a message that failed its `deliveries`-th delivery may be claimed again.
fn retry_delay(deliveries: u32) -> Duration {
    let doublings = deliveries.saturating_sub(1).min(16);
    FIRST_RETRY_DELAY.saturating_mul(1 << doublings).min(MAX_RETRY_DELAY)
}

/// What a subscription loop needs; built by `SqlitePubSub::subscribe`.
pub(super) struct Worker {
    pub store: Store,
    pub doorbell: Arc<Doorbell>,
    pub key: Arc<TopicGroup>,
    /// Unique within this instance; names its row in `listeners`.
    pub id: u64,
    pub handler: Arc<dyn MessageHandler>,
    /// One per message claimed and not yet settled.
    pub slots: DeliverySlots,
    pub processing_timeout: Duration,
    pub redeliver_interval: Duration,
}

/// A running subscription; dropping it without [`Subscription::stop`] stops it with no grace.
pub(super) struct SqliteSubscription {
    stop: Mutex<Option<oneshot::Sender<Duration>>>,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

#[async_trait]
impl Subscription for SqliteSubscription {
    async fn stop(&self, grace: Duration) {
        if let Some(stop) = self.stop.lock().expect("stop lock").take() {
            let _ = stop.send(grace);
        }
        let mut task = self.task.lock().await;
        if let Some(running) = task.as_mut() {
            let _ = running.await;
            *task = None;
        }
    }
}

impl Worker {
    /// Registers the group and the doorbell, then starts the loop.
    pub async fn start(self) -> Result<SqliteSubscription, BrokerError> {
        let wake = Arc::new(Notify::new());
        // Doorbell first, so no ring between joining and the first claim is missed.
        self.doorbell.register(&self.key.topic, &self.key.group, self.id, wake.clone());
        if let Err(err) = self.store.join(&self.key, self.doorbell.port(), self.id).await {
            self.doorbell.unregister(&self.key.topic, self.id);
            return Err(err);
        }
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(self.run(wake, stopped));
        Ok(SqliteSubscription { stop: Mutex::new(Some(stop)), task: tokio::sync::Mutex::new(Some(task)) })
    }

    async fn run(self, wake: Arc<Notify>, mut stopped: oneshot::Receiver<Duration>) {
        let in_flight: Arc<Mutex<HashSet<i64>>> = Arc::default();
        let mut handlers = JoinSet::new();
        let grace = loop {
            while handlers.try_join_next().is_some() {}
            let first = tokio::select! {
                biased;
                grace = &mut stopped => break grace.unwrap_or_default(),
                slot = self.slots.acquire() => slot,
            };
            let mut permits = vec![first];
            while permits.len() < CLAIM_BATCH
                && let Some(slot) = self.slots.try_acquire()
            {
                permits.push(slot);
            }
            // Not raced against `stopped`: a claim abandoned midway would strand its leases.
            let idle_for = match self.store.claim(&self.key, permits.len(), self.processing_timeout).await {
                Ok(claimed) => {
                    let full = claimed.deliveries.len() == permits.len();
                    for (delivery, permit) in claimed.deliveries.into_iter().zip(permits) {
                        in_flight.lock().expect("in-flight lock").insert(delivery.seq);
                        handlers.spawn(self.handle(delivery, permit, wake.clone(), in_flight.clone()));
                    }
                    if full {
                        continue;
                    }
                    // Until the group's next lease runs out (a retry falling due); new messages ring
                    // the doorbell, and the lease watcher wakes it for anything else.
                    claimed.next_lease_ms.map(|at| Duration::from_millis(at.saturating_sub(now_ms()).max(1) as u64))
                }
                Err(_) if self.store.is_closed() => break Duration::ZERO,
                Err(err) => {
                    tracing::warn!(topic = %self.key.topic, group = %self.key.group, %err, "pubsub.sqlite claim failed; retrying");
                    Some(self.redeliver_interval)
                }
            };
            let sleep = async {
                match idle_for {
                    Some(pause) => tokio::time::sleep(pause).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                grace = &mut stopped => break grace.unwrap_or_default(),
                () = wake.notified() => {}
                () = sleep => {}
            }
        };
        self.finish(handlers, &in_flight, grace).await;
    }

    /// One handler call, then its acknowledgement or retry. The slot frees as soon as the handler
    /// returns; the settling write rides along with the next batch.
    fn handle(
        &self,
        delivery: Delivery,
        permit: DeliverySlot,
        wake: Arc<Notify>,
        in_flight: Arc<Mutex<HashSet<i64>>>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let (store, key, handler) = (self.store.clone(), self.key.clone(), self.handler.clone());
        let processing_timeout = self.processing_timeout;
        async move {
            let Delivery { seq, deliveries, message } = delivery;
            // Past its lease the message is anyone's again, so a call that long is given up. A
            // stop past its grace aborts the call's task instead (see `finish`).
            let handled = call_handler("pubsub.sqlite", &*handler, message, Some(processing_timeout), None).await;
            drop(permit);
            let settled = match handled {
                Handled::Processed => store.ack(&key, seq).await,
                failed => {
                    let delay = if failed == Handled::TimedOut { Duration::ZERO } else { retry_delay(deliveries) };
                    let retried = store.retry(&key, vec![seq], delay).await;
                    // The loop may be asleep for longer than the retry delay: let it re-plan.
                    wake.notify_one();
                    retried
                }
            };
            if let Err(err) = settled {
                tracing::debug!(topic = %key.topic, group = %key.group, seq, %err, "could not settle message; its lease will expire");
            }
            in_flight.lock().expect("in-flight lock").remove(&seq);
        }
    }

    /// Waits up to `grace` for handler calls in flight, cancels the rest and releases their
    /// messages for immediate redelivery, then takes the doorbell down.
    async fn finish(&self, mut handlers: JoinSet<()>, in_flight: &Mutex<HashSet<i64>>, grace: Duration) {
        let drained = tokio::time::timeout(grace, async { while handlers.join_next().await.is_some() {} }).await.is_ok();
        if !drained {
            handlers.abort_all();
            while handlers.join_next().await.is_some() {}
        }
        let unfinished: Vec<i64> = in_flight.lock().expect("in-flight lock").drain().collect();
        if !unfinished.is_empty() {
            // Released now rather than at lease expiry: another instance can take them at once.
            if let Err(err) = self.store.retry(&self.key, unfinished, Duration::ZERO).await {
                tracing::debug!(topic = %self.key.topic, %err, "could not release unfinished messages; their leases will expire");
            }
        }
        self.doorbell.unregister(&self.key.topic, self.id);
        if let Err(err) = self.store.leave(&self.key, self.doorbell.port(), self.id).await {
            tracing::debug!(topic = %self.key.topic, %err, "could not remove the doorbell row");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_up_to_the_cap() {
        assert_eq!(retry_delay(1), Duration::from_millis(100));
        assert_eq!(retry_delay(2), Duration::from_millis(200));
        assert_eq!(retry_delay(4), Duration::from_millis(800));
        assert_eq!(retry_delay(8), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY_DELAY);
    }
}

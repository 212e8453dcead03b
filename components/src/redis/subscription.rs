//! One subscription on one stream: the consumer group (`consumerID`, consumer name = group name,
//! as Dapr's component names it), a read loop, bounded dispatch, XACK on success, and the
//! redelivery loop for entries left unacknowledged. Both loops outlive Redis going away: they
//! retry with backoff and carry on once it is back.

use super::connection::{is_connection_error, unavailable};
use super::quiet_streams::QuietStreams;
use super::settings::Settings;
use super::stream_entry::{self, StreamEntry};
use crate::{BrokerError, DeliverySlot, DeliverySlots, Handled, MessageHandler, ReaderControl, TaskSubscription, call_handler};
use redis::aio::ConnectionManager;
use redis::streams::StreamPendingCountReply;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The first pause after a failed Redis call; doubles up to [`MAX_BACKOFF`] while Redis stays away.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What a subscription needs; built by `RedisStreamsPubSub::subscribe`.
pub(super) struct StreamConsumer {
    pub settings: Arc<Settings>,
    /// The component's shared connection: reads that do not block, acks, group creation,
    /// redelivery.
    pub shared: ConnectionManager,
    /// Where the subscription waits while its stream is drained, with the group's other streams.
    pub quiet: Arc<QuietStreams>,
    pub topic: Arc<str>,
    pub group: Arc<str>,
    pub handler: Arc<dyn MessageHandler>,
    pub max_concurrency: usize,
    /// One per entry read (or claimed) and not yet settled: `queueDepth`, and the app's share.
    pub queue: DeliverySlots,
}

/// Shared by the read loop, the redelivery loop and every dispatched entry.
struct Consumer {
    settings: Arc<Settings>,
    shared: ConnectionManager,
    topic: Arc<str>,
    group: Arc<str>,
    handler: Arc<dyn MessageHandler>,
    /// One slot per entry read (or claimed) and not yet settled: `queueDepth`, and the app's share.
    queue: DeliverySlots,
    /// Permits the redelivery loop is waiting for: the read loop, which takes what is free before
    /// blocking in XREADGROUP, leaves them, so pending messages are never starved by new ones.
    redelivery_wants: AtomicUsize,
    /// Stop, abandon, the tasks, and one slot per handler call in flight (`concurrency`).
    control: ReaderControl,
}

impl StreamConsumer {
    /// Creates the consumer group (from the stream's start, creating the stream), then starts the
    /// loops. A Redis that is away right now is not an error here: the read loop creates the group
    /// once it is back.
    pub async fn start(self) -> Result<TaskSubscription, BrokerError> {
        // The app's shared slots are taken with the queue's, so handler calls need only their own.
        let control = ReaderControl::new(DeliverySlots::new(self.max_concurrency, None));
        let subscription = control.subscription();
        let consumer = Arc::new(Consumer {
            queue: self.queue,
            redelivery_wants: AtomicUsize::new(0),
            settings: self.settings,
            shared: self.shared,
            topic: self.topic,
            group: self.group,
            handler: self.handler,
            control,
        });
        match consumer.create_group().await {
            Ok(()) => {}
            Err(err) if is_connection_error(&err) => {
                tracing::warn!(topic = %consumer.topic, group = %consumer.group, %err, "pubsub.redis: Redis is away; the subscription starts once it is back")
            }
            Err(err) => {
                return Err(BrokerError::Other(format!(
                    "cannot create consumer group {} on stream {}: {err}",
                    consumer.group, consumer.topic
                )));
            }
        }
        subscription.tasks.spawn(consumer.clone().read_loop(self.quiet));
        if consumer.settings.redelivers() {
            subscription.tasks.spawn(consumer.clone().redeliver_loop());
        }
        Ok(subscription)
    }
}

impl Consumer {
    /// `XGROUP CREATE <topic> <group> 0 MKSTREAM`: a new group gets the whole stream, as in Dapr.
    async fn create_group(&self) -> redis::RedisResult<()> {
        let created = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&*self.topic)
            .arg(&*self.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async::<()>(&mut self.shared.clone())
            .await;
        match created {
            Err(err) if err.code() == Some("BUSYGROUP") => Ok(()),
            other => other,
        }
    }

    async fn read_loop(self: Arc<Self>, quiet: Arc<QuietStreams>) {
        let mut failures = 0u32;
        // Whether the last read found the stream drained.
        let mut idle = true;
        loop {
            if idle {
                // Room for one entry of this subscription's own, none of the app's shared slots
                // (which busy subscriptions need), then a wait beside the group's other quiet streams.
                let slot = tokio::select! {
                    biased;
                    () = self.control.stop.cancelled() => return,
                    slot = self.queue.reserve() => slot,
                };
                let entries = tokio::select! {
                    biased;
                    () = self.control.stop.cancelled() => return,
                    entries = quiet.next(&self.topic) => match entries {
                        Some(entries) => entries,
                        None => return,
                    },
                };
                idle = entries.is_empty();
                if !self.dispatch_in_order(entries, vec![slot]).await {
                    return;
                }
                continue;
            }
            // Busy: the room that is free, read without blocking.
            let first = tokio::select! {
                biased;
                () = self.control.stop.cancelled() => return,
                slot = self.queue.acquire() => slot,
            };
            let mut permits = vec![first];
            while self.queue.available() > self.redelivery_wants.load(Ordering::Acquire)
                && let Some(slot) = self.queue.try_acquire()
            {
                permits.push(slot);
            }
            let mut read = redis::cmd("XREADGROUP");
            read.arg("GROUP").arg(&*self.group).arg(&*self.group).arg("COUNT").arg(permits.len());
            read.arg("STREAMS").arg(&*self.topic).arg(">");
            // Entries Redis hands out while the read is abandoned stay pending: redelivered later.
            let mut shared = self.shared.clone();
            let reply = tokio::select! {
                biased;
                () = self.control.stop.cancelled() => return,
                reply = read.query_async::<redis::Value>(&mut shared) => reply,
            };
            match reply {
                Ok(reply) => {
                    if failures > 0 {
                        tracing::info!(topic = %self.topic, group = %self.group, "pubsub.redis: reading the stream again");
                        failures = 0;
                    }
                    let entries = stream_entry::read_reply(&self.topic, reply);
                    idle = entries.len() < permits.len();
                    if !self.dispatch_in_order(entries, permits).await {
                        return;
                    }
                }
                Err(err) => {
                    drop(permits);
                    failures += 1;
                    self.after_failure("XREADGROUP", &err, failures).await;
                }
            }
        }
    }

    /// Logs a failed Redis call (once per outage at warn), recreates a group that vanished (Redis
    /// restarted empty, or the stream was deleted), and waits before the next try.
    async fn after_failure(&self, operation: &str, err: &redis::RedisError, failures: u32) {
        if failures == 1 {
            tracing::warn!(topic = %self.topic, group = %self.group, %err, "pubsub.redis: {operation} failed; retrying until Redis answers");
        } else {
            tracing::debug!(topic = %self.topic, group = %self.group, %err, failures, "pubsub.redis: {operation} failed again");
        }
        if err.code() == Some("NOGROUP")
            && let Err(err) = self.create_group().await
        {
            tracing::debug!(topic = %self.topic, group = %self.group, %err, "pubsub.redis: could not recreate the consumer group");
        }
        let backoff = FIRST_BACKOFF.saturating_mul(1 << failures.saturating_sub(1).min(8)).min(MAX_BACKOFF);
        tokio::select! {
            () = self.control.stop.cancelled() => {}
            () = tokio::time::sleep(backoff) => {}
        }
    }

    /// Starts a handler call per entry, each once a slot is free and in stream order, so with one
    /// slot the app sees the stream's order. Returns `false` when the subscription stopped
    /// meanwhile; the entries not started are then released for redelivery.
    async fn dispatch_in_order(self: &Arc<Self>, entries: Vec<StreamEntry>, permits: Vec<DeliverySlot>) -> bool {
        let mut entries = entries.into_iter().zip(permits);
        while let Some((entry, mut queued)) = entries.next() {
            // An entry read by a blocked read still needs its share of the app's slots.
            self.queue.complete_unless_stopped(&mut queued, &self.control.stop).await;
            let Some(slot) = self.control.slot().await else {
                for id in std::iter::once(entry.id).chain(entries.map(|(e, _)| e.id)) {
                    self.release(&id).await;
                }
                return false;
            };
            self.control.tasks.spawn(self.clone().dispatch(entry, queued, slot));
        }
        true
    }

    /// One entry: the handler call (bounded by `processingTimeout` when redelivery is on), then
    /// XACK, or its release for redelivery.
    async fn dispatch(self: Arc<Self>, entry: StreamEntry, _queued: DeliverySlot, slot: DeliverySlot) {
        let StreamEntry { id, message } = entry;
        let Some(message) = message else {
            // Trimmed from the stream while pending: nothing left to deliver.
            self.ack(&id).await;
            return;
        };
        let limit = self.settings.redelivers().then_some(self.settings.processing_timeout);
        let handled = call_handler("pubsub.redis", &*self.handler, message, limit, Some(&self.control.abandon)).await;
        drop(slot);
        match handled {
            Handled::Processed => self.ack(&id).await,
            Handled::NotProcessed | Handled::Abandoned => self.release(&id).await,
            // Past processingTimeout the entry is anyone's to claim again: nothing to release.
            Handled::TimedOut => {}
        }
    }

    async fn ack(&self, id: &str) {
        let acked = redis::cmd("XACK").arg(&*self.topic).arg(&*self.group).arg(id).query_async::<()>(&mut self.shared.clone()).await;
        if let Err(err) = acked {
            // It stays pending and comes back after processingTimeout: at-least-once, never lost.
            tracing::warn!(topic = %self.topic, group = %self.group, %id, %err, "pubsub.redis: XACK failed; the message will be redelivered");
        }
    }

    /// Marks a pending entry as idle for `processingTimeout` already, so the next redelivery round
    /// (here or in another instance) takes it instead of waiting for the timeout.
    async fn release(&self, id: &str) {
        if !self.settings.redelivers() {
            return;
        }
        let idle_ms = self.settings.processing_timeout.as_millis() as u64;
        let released = redis::cmd("XCLAIM")
            .arg(&*self.topic)
            .arg(&*self.group)
            .arg(&*self.group)
            .arg(0)
            .arg(id)
            .arg("IDLE")
            .arg(idle_ms)
            .arg("JUSTID")
            .query_async::<redis::Value>(&mut self.shared.clone())
            .await;
        if let Err(err) = released {
            tracing::debug!(topic = %self.topic, %id, %err, "pubsub.redis: could not release the message; it is redelivered after processingTimeout");
        }
    }

    /// Every `redeliverInterval`: XPENDING, then XCLAIM what was delivered more than
    /// `processingTimeout` ago, and dispatch it again.
    async fn redeliver_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.settings.redeliver_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failures = 0u32;
        loop {
            tokio::select! {
                biased;
                () = self.control.stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.claim_expired().await {
                Ok(None) => failures = 0,
                Ok(Some((entries, permits))) => {
                    failures = 0;
                    if !self.dispatch_in_order(entries, permits).await {
                        return;
                    }
                }
                Err(err) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(topic = %self.topic, group = %self.group, %err, "pubsub.redis: redelivery check failed; will retry");
                    }
                }
            }
        }
    }

    /// The entries pending past `processingTimeout`, claimed for this instance, each with a queue
    /// permit taken *before* the claim (a claimed entry waiting for a permit would sit pinned here
    /// while idle instances could have taken it). `None` when nothing is due, or stopping.
    async fn claim_expired(&self) -> Result<Option<(Vec<StreamEntry>, Vec<DeliverySlot>)>, BrokerError> {
        let mut shared = self.shared.clone();
        let min_idle_ms = self.settings.processing_timeout.as_millis() as u64;
        let pending: StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(&*self.topic)
            .arg(&*self.group)
            .arg("-")
            .arg("+")
            .arg(self.settings.queue_depth)
            .query_async(&mut shared)
            .await
            .map_err(|e| unavailable(&self.settings, "cannot read pending entries from", &e))?;
        let expired: Vec<&str> = pending.ids.iter().filter(|p| p.last_delivered_ms as u64 >= min_idle_ms).map(|p| p.id.as_str()).collect();
        if expired.is_empty() {
            return Ok(None);
        }
        // As many as there is room for now (at least one, waited for); the rest wait for the next
        // round. Waiting for room for all could wait forever: a drained stream's reader keeps one
        // slot while it waits. Busy reads leave what is wanted here to it, so new entries never
        // starve pending ones.
        self.redelivery_wants.store(expired.len(), Ordering::Release);
        let first = tokio::select! {
            biased;
            () = self.control.stop.cancelled() => None,
            slot = self.queue.acquire() => Some(slot),
        };
        let mut permits: Vec<DeliverySlot> = first.into_iter().collect();
        while !permits.is_empty()
            && permits.len() < expired.len()
            && let Some(slot) = self.queue.try_acquire()
        {
            permits.push(slot);
        }
        self.redelivery_wants.store(0, Ordering::Release);
        if self.control.stop.is_cancelled() || permits.is_empty() {
            return Ok(None);
        }
        let expired = &expired[..permits.len()];
        // The same min-idle time: of several instances claiming at once, one wins each entry.
        let claimed = redis::cmd("XCLAIM")
            .arg(&*self.topic)
            .arg(&*self.group)
            .arg(&*self.group)
            .arg(min_idle_ms)
            .arg(expired)
            .query_async::<redis::Value>(&mut shared)
            .await
            .map_err(|e| unavailable(&self.settings, "cannot claim pending entries from", &e))?;
        let entries = stream_entry::claim_reply(&self.topic, claimed);
        tracing::debug!(topic = %self.topic, group = %self.group, count = entries.len(), "pubsub.redis: redelivering pending messages");
        // Entries another instance claimed first leave their permits unused: dropped with the zip.
        Ok(Some((entries, permits)))
    }
}

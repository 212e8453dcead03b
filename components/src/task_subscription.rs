//! The [`Subscription`] of components whose subscription is a set of tasks: a stop token, a
//! token that gives up the handler calls still running once the grace period is over, and the
//! tasks themselves.

use super::{DeliverySlot, DeliverySlots, Subscription};
use async_trait::async_trait;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Default)]
pub(crate) struct TaskSubscription {
    /// Stops taking new messages.
    pub stop: CancellationToken,
    /// Cancelled when the grace period ran out: handler calls still running are given up.
    pub abandon: CancellationToken,
    pub tasks: TaskTracker,
}

#[async_trait]
impl Subscription for TaskSubscription {
    async fn stop(&self, grace: Duration) {
        self.stop.cancel();
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_err() {
            self.abandon.cancel();
            // Abandoned calls settle at once; a task stuck in a broker call that never answers is
            // left behind, and what it held stays unacknowledged with the broker.
            if tokio::time::timeout(ABANDON_WAIT, self.tasks.wait()).await.is_err() {
                tracing::warn!(tasks = self.tasks.len(), "subscription tasks still running after the grace period; left behind");
            }
        }
    }
}

/// How long abandoned tasks get to hand their messages back once the grace period is over.
pub const ABANDON_WAIT: Duration = Duration::from_secs(1);

/// What a component's reader tasks share with their [`TaskSubscription`]: its tokens and tasks,
/// and one slot per handler call in flight.
pub(crate) struct ReaderControl {
    pub stop: CancellationToken,
    pub abandon: CancellationToken,
    pub tasks: TaskTracker,
    slots: DeliverySlots,
}

impl ReaderControl {
    pub fn new(slots: DeliverySlots) -> Self {
        Self { stop: CancellationToken::new(), abandon: CancellationToken::new(), tasks: TaskTracker::new(), slots }
    }

    /// The subscription that stops these readers.
    pub fn subscription(&self) -> TaskSubscription {
        TaskSubscription { stop: self.stop.clone(), abandon: self.abandon.clone(), tasks: self.tasks.clone() }
    }

    /// A whole slot for one more handler call, or `None` once the subscription is stopping.
    pub async fn slot(&self) -> Option<DeliverySlot> {
        tokio::select! {
            biased;
            () = self.stop.cancelled() => None,
            slot = self.slots.acquire() => Some(slot),
        }
    }

    /// The subscription's own part of a slot, taken before waiting for the broker's next message
    /// (see [`DeliverySlots::reserve`]); `None` once the subscription is stopping.
    pub async fn reserve(&self) -> Option<DeliverySlot> {
        tokio::select! {
            biased;
            () = self.stop.cancelled() => None,
            slot = self.slots.reserve() => Some(slot),
        }
    }

    /// [`ReaderControl::reserve`] if a slot's own part is free right now.
    pub fn try_reserve(&self) -> Option<DeliverySlot> {
        self.slots.try_reserve()
    }

    /// The rest of a reserved slot, for a message already taken from the broker (see
    /// [`DeliverySlots::complete_unless_stopped`]).
    pub async fn complete(&self, mut slot: DeliverySlot) -> DeliverySlot {
        self.slots.complete_unless_stopped(&mut slot, &self.stop).await;
        slot
    }
}

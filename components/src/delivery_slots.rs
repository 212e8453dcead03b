//! Slots for messages taken from a broker and not yet settled: the subscription's own limit and,
//! when the sidecar gives one, a limit shared by every subscription delivering to the same app
//! (`--app-max-concurrency`, or its default). A reader takes a slot before it takes a message, so
//! what a sidecar holds in memory depends on these limits, never on the backlog or the number of
//! topics.

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub(crate) struct DeliverySlots {
    own: Arc<Semaphore>,
    shared: Option<Arc<Semaphore>>,
}

/// Room for one message. Dropping it frees the room.
pub(crate) struct DeliverySlot {
    _own: OwnedSemaphorePermit,
    shared: Option<OwnedSemaphorePermit>,
}

impl DeliverySlots {
    pub fn new(own: usize, shared: Option<Arc<Semaphore>>) -> Self {
        Self { own: Arc::new(Semaphore::new(own.max(1))), shared }
    }

    /// A whole slot: the subscription's own, then a shared one.
    pub async fn acquire(&self) -> DeliverySlot {
        let mut slot = self.reserve().await;
        self.complete(&mut slot).await;
        slot
    }

    /// Only the subscription's own part: what a reader holds while it waits for the broker to
    /// hand it a message. Waiting with a shared slot would let idle subscriptions hold the app's
    /// whole allowance while busy ones starve.
    pub async fn reserve(&self) -> DeliverySlot {
        let own = self.own.clone().acquire_owned().await.expect("delivery slots are never closed");
        DeliverySlot { _own: own, shared: None }
    }

    /// [`DeliverySlots::reserve`] if the subscription's own part is free right now.
    pub fn try_reserve(&self) -> Option<DeliverySlot> {
        let own = self.own.clone().try_acquire_owned().ok()?;
        Some(DeliverySlot { _own: own, shared: None })
    }

    /// Adds the shared part to a reserved slot, waiting for it; nothing to add to a slot that has
    /// it, or without a shared limit. Cancel-safe: dropped early, the slot stays reserved.
    pub async fn complete(&self, slot: &mut DeliverySlot) {
        if let (Some(shared), None) = (&self.shared, &slot.shared) {
            slot.shared = Some(shared.clone().acquire_owned().await.expect("delivery slots are never closed"));
        }
    }

    /// [`DeliverySlots::complete`], unless `stop` comes first: a subscription that is stopping
    /// hands the message it already took to the handler as it is (a stopping sidecar's handler
    /// hands it straight back), so it is settled the usual way and never stranded.
    pub async fn complete_unless_stopped(&self, slot: &mut DeliverySlot, stop: &CancellationToken) {
        tokio::select! {
            biased;
            () = self.complete(slot) => {}
            () = stop.cancelled() => {}
        }
    }

    /// A whole slot if both parts are free right now.
    pub fn try_acquire(&self) -> Option<DeliverySlot> {
        let own = self.own.clone().try_acquire_owned().ok()?;
        let shared = match &self.shared {
            Some(shared) => Some(shared.clone().try_acquire_owned().ok()?),
            None => None,
        };
        Some(DeliverySlot { _own: own, shared })
    }

    /// Whole slots free right now.
    pub fn available(&self) -> usize {
        let own = self.own.available_permits();
        self.shared.as_ref().map_or(own, |shared| own.min(shared.available_permits()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_shared_limit_bounds_every_subscription_together() {
        let app = Arc::new(Semaphore::new(3));
        let (a, b) = (DeliverySlots::new(10, Some(app.clone())), DeliverySlots::new(10, Some(app.clone())));
        let held: Vec<DeliverySlot> = vec![a.acquire().await, a.acquire().await, b.acquire().await];
        assert!(b.try_acquire().is_none(), "the app's three slots are taken");
        assert_eq!((a.available(), b.available()), (0, 0));
        // A reserved slot waits for the shared part without holding any of it.
        let reserved = b.reserve().await;
        assert_eq!(app.available_permits(), 0);
        let waiting = tokio::spawn({
            let (b, mut reserved) = (b.clone(), reserved);
            async move {
                b.complete(&mut reserved).await;
                reserved
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        drop(held);
        let _slot = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("a freed slot is handed on").unwrap();
        assert_eq!(app.available_permits(), 2);
    }

    #[tokio::test]
    async fn without_a_shared_limit_only_the_own_one_counts() {
        let slots = DeliverySlots::new(2, None);
        let (_one, _two) = (slots.acquire().await, slots.reserve().await);
        assert!(slots.try_acquire().is_none());
        assert_eq!(slots.available(), 0);
    }
}

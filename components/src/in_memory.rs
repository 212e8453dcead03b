//! `pubsub.in-memory`: one sidecar, nothing durable. Each consumer group has its own queue; a
//! handler error puts the message back after a short delay, so nothing accepted is lost while
//! the process lives.

use super::{BrokerError, BrokerMessage, Handled, MessageHandler, PubSub, SubscribeRequest, Subscription, call_handler};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Delay before a message its handler did not process is offered again.
const REDELIVERY_DELAY: Duration = Duration::from_millis(200);

#[derive(Default)]
pub struct InMemoryPubSub {
    /// topic → consumer group → that group's queue (shared by the group's subscriptions).
    topics: Mutex<HashMap<String, HashMap<String, Group>>>,
}

#[derive(Clone)]
struct Group {
    tx: mpsc::UnboundedSender<BrokerMessage>,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<BrokerMessage>>>,
}

impl InMemoryPubSub {
    pub fn new() -> Self {
        Self::default()
    }

    fn group(&self, topic: &str, group: &str) -> Group {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        topics
            .entry(topic.to_owned())
            .or_default()
            .entry(group.to_owned())
            .or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                Group { tx, rx: Arc::new(tokio::sync::Mutex::new(rx)) }
            })
            .clone()
    }
}

#[async_trait]
impl PubSub for InMemoryPubSub {
    async fn publish(&self, msg: BrokerMessage) -> Result<(), BrokerError> {
        let topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        // Like a broker with no consumer group yet: nobody subscribed, nobody receives it.
        if let Some(groups) = topics.get(&msg.topic) {
            for group in groups.values() {
                let _ = group.tx.send(msg.clone());
            }
        }
        Ok(())
    }

    async fn subscribe(&self, req: SubscribeRequest, handler: Arc<dyn MessageHandler>) -> Result<Box<dyn Subscription>, BrokerError> {
        let group = self.group(&req.topic, &req.consumer_group);
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let slots = req.slots(req.max_concurrency);
        let (loop_cancel, loop_tracker) = (cancel.clone(), tracker.clone());
        tracker.spawn(async move {
            loop {
                let mut permit = tokio::select! {
                    p = slots.reserve() => p,
                    _ = loop_cancel.cancelled() => break,
                };
                let msg = tokio::select! {
                    m = async { group.rx.lock().await.recv().await } => m,
                    _ = loop_cancel.cancelled() => break,
                };
                let Some(msg) = msg else { break };
                slots.complete_unless_stopped(&mut permit, &loop_cancel).await;
                let (handler, requeue) = (handler.clone(), group.tx.clone());
                loop_tracker.spawn(async move {
                    if call_handler("pubsub.in-memory", &*handler, msg.clone(), None, None).await != Handled::Processed {
                        tokio::spawn(async move {
                            tokio::time::sleep(REDELIVERY_DELAY).await;
                            let _ = requeue.send(msg);
                        });
                    }
                    drop(permit);
                });
            }
        });
        Ok(Box::new(InMemorySubscription { cancel, tracker }))
    }
}

struct InMemorySubscription {
    cancel: CancellationToken,
    tracker: TaskTracker,
}

#[async_trait]
impl Subscription for InMemorySubscription {
    async fn stop(&self, grace: Duration) {
        self.cancel.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(grace, self.tracker.wait()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NotProcessed;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Recorder {
        got: mpsc::UnboundedSender<BrokerMessage>,
        fail_first: AtomicUsize,
    }

    #[async_trait]
    impl MessageHandler for Recorder {
        async fn handle(&self, msg: BrokerMessage) -> Result<(), NotProcessed> {
            if self.fail_first.load(Ordering::SeqCst) > 0 {
                self.fail_first.fetch_sub(1, Ordering::SeqCst);
                return Err(NotProcessed("not yet".into()));
            }
            self.got.send(msg).unwrap();
            Ok(())
        }
    }

    fn sub(topic: &str, group: &str) -> SubscribeRequest {
        SubscribeRequest { topic: topic.into(), consumer_group: group.into(), max_concurrency: 4, shared_slots: None }
    }

    fn msg(topic: &str, data: &'static [u8]) -> BrokerMessage {
        BrokerMessage { topic: topic.into(), data: bytes::Bytes::from_static(data), metadata: HashMap::from([("k".into(), "v".into())]) }
    }

    #[tokio::test]
    async fn each_group_gets_every_message_and_failures_are_redelivered() {
        let ps = InMemoryPubSub::new();
        let (tx_a, mut rx_a) = mpsc::unbounded_channel();
        let (tx_b, mut rx_b) = mpsc::unbounded_channel();
        let a = ps.subscribe(sub("t", "a"), Arc::new(Recorder { got: tx_a, fail_first: AtomicUsize::new(0) })).await.unwrap();
        let b = ps.subscribe(sub("t", "b"), Arc::new(Recorder { got: tx_b, fail_first: AtomicUsize::new(1) })).await.unwrap();
        ps.publish(msg("t", b"hello")).await.unwrap();
        ps.publish(msg("other", b"not for us")).await.unwrap();
        let got_a = rx_a.recv().await.unwrap();
        assert_eq!(got_a, msg("t", b"hello"));
        // b failed once and must still get it.
        let got_b = tokio::time::timeout(Duration::from_secs(5), rx_b.recv()).await.unwrap().unwrap();
        assert_eq!(got_b.data.as_ref(), b"hello");
        a.stop(Duration::from_secs(1)).await;
        b.stop(Duration::from_secs(1)).await;
        assert!(rx_a.try_recv().is_err());
    }
}

//! What a subscription asks NATS for, seen from NATS: never more messages than it has room for,
//! and a backlog taken one slot at a time does not stall.

use super::JetStreamPubSub;
use super::outage_tests::{PrivateNats, private_nats};
use crate::test_support::numbered;
use crate::{BrokerMessage, MessageHandler, NotProcessed, PubSub, SubscribeRequest};
use async_nats::jetstream::consumer::pull;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

/// Tells each message it sees, then waits for a permit before it returns.
struct Gate {
    seen: mpsc::UnboundedSender<BrokerMessage>,
    open: Arc<Semaphore>,
}

#[async_trait]
impl MessageHandler for Gate {
    async fn handle(&self, msg: BrokerMessage) -> Result<(), NotProcessed> {
        let _ = self.seen.send(msg);
        self.open.acquire().await.expect("the gate is never closed").forget();
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_hands_over_no_more_than_the_subscription_has_room_for() {
    let PrivateNats { server: _server, store: _store, config, .. } = private_nats();
    let pubsub = JetStreamPubSub::open(&config).await.unwrap();
    for n in 0..20 {
        pubsub.publish(numbered("orders", n)).await.unwrap();
    }
    let (seen, mut rx) = mpsc::unbounded_channel();
    let open = Arc::new(Semaphore::new(0));
    let handler = Arc::new(Gate { seen, open: open.clone() });
    let request = SubscribeRequest { topic: "orders".into(), consumer_group: "checkout".into(), max_concurrency: 3, shared_slots: None };
    let subscription = pubsub.subscribe(request, handler).await.unwrap();
    let within = Duration::from_secs(10);
    for _ in 0..3 {
        tokio::time::timeout(within, rx.recv()).await.expect("three calls start").unwrap();
    }
    // What NATS sent and is not acknowledged: the three in the handler, nothing waiting in a buffer.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = async_nats::connect(config.metadata["natsURL"].as_str()).await.unwrap();
    let stream = async_nats::jetstream::new(client).get_stream("orders").await.unwrap();
    let mut consumer = stream.get_consumer::<pull::Config>("checkout-orders").await.unwrap();
    let info = consumer.info().await.unwrap();
    assert_eq!((info.num_ack_pending, info.num_pending), (3, 17), "handed over, and left in the stream");

    open.add_permits(20);
    for _ in 3..20 {
        tokio::time::timeout(within, rx.recv()).await.expect("the rest come once there is room").unwrap();
    }
    subscription.stop(Duration::from_secs(1)).await;
    pubsub.close().await;
}

/// One slot and a backlog: each message is asked for after the one before is settled. A count that
/// drifts by one (a message that came back before its request was counted) stalls delivery until
/// a heartbeat is missed, a minute.
#[tokio::test(flavor = "multi_thread")]
async fn a_backlog_taken_one_at_a_time_never_stalls() {
    const COUNT: usize = 10_000;
    let PrivateNats { server: _server, store: _store, config, .. } = private_nats();
    let pubsub = JetStreamPubSub::open(&config).await.unwrap();
    for n in 0..COUNT {
        pubsub.publish(numbered("orders", n)).await.unwrap();
    }
    let (seen, mut rx) = mpsc::unbounded_channel();
    let handler = Arc::new(Gate { seen, open: Arc::new(Semaphore::new(COUNT)) });
    let request = SubscribeRequest { topic: "orders".into(), consumer_group: "checkout".into(), max_concurrency: 1, shared_slots: None };
    let subscription = pubsub.subscribe(request, handler).await.unwrap();
    for n in 0..COUNT {
        let next = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        let next = next.unwrap_or_else(|_| panic!("delivery stalled after {n} of {COUNT}")).unwrap();
        assert_eq!(next.data, n.to_string(), "one slot: stream order");
    }
    subscription.stop(Duration::from_secs(1)).await;
    pubsub.close().await;
}

/// A consumer whose `maxAckPending` is under the subscription's slots still gets everything. The
/// feed asks for at most `maxAckPending` at a time: servers that answer a larger batch with 409
/// would otherwise refuse every request (Debian's nats-server 2.9 takes it, so on this server the
/// case guards the feed's handling of the limit, not the refusal).
#[tokio::test(flavor = "multi_thread")]
async fn requests_stay_within_max_ack_pending() {
    let PrivateNats { server: _server, store: _store, mut config, .. } = private_nats();
    config.metadata.insert("maxAckPending".into(), "2".into());
    let pubsub = JetStreamPubSub::open(&config).await.unwrap();
    for n in 0..10 {
        pubsub.publish(numbered("orders", n)).await.unwrap();
    }
    let (seen, mut rx) = mpsc::unbounded_channel();
    let handler = Arc::new(Gate { seen, open: Arc::new(Semaphore::new(10)) });
    let request = SubscribeRequest { topic: "orders".into(), consumer_group: "checkout".into(), max_concurrency: 8, shared_slots: None };
    let subscription = pubsub.subscribe(request, handler).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..10 {
        let next = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("every message within 10 s").unwrap();
        got.push(String::from_utf8_lossy(&next.data).parse::<usize>().unwrap());
    }
    got.sort();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    subscription.stop(Duration::from_secs(1)).await;
    pubsub.close().await;
}

//! A subscription that stops while its component stays open (an app gone unhealthy, a streaming
//! subscription closed) hands its partitions back at once, and what its grace period handled
//! stays handled: the next member of the group neither waits a session timeout nor gets it again.

use super::KafkaPubSub;
use super::rebalance_tests::{config, within};
use crate::test_support::{next, numbered, recorder};
use crate::{BrokerMessage, MessageHandler, NotProcessed, PubSub, SubscribeRequest};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const STEP: Duration = Duration::from_secs(20);

fn names(what: &str) -> (String, String) {
    let id = uuid::Uuid::new_v4().simple();
    (format!("{what}-{id}"), format!("{what}-group-{id}"))
}

fn request(topic: &str) -> SubscribeRequest {
    SubscribeRequest { topic: topic.into(), consumer_group: "(consumerGroup)".into(), max_concurrency: 4, shared_slots: None }
}

async fn open(group: &str) -> KafkaPubSub {
    within(STEP, "opening", KafkaPubSub::open(&config(group, "range"))).await.expect("the shared Kafka on 9092 (scripts/start-brokers.sh)")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_subscription_hands_its_partitions_back_while_its_component_stays_open() {
    let (topic, group) = names("leave");
    let first = open(&group).await;
    let (handler, mut seen) = recorder(0);
    let subscription = within(STEP, "subscribing", first.subscribe(request(&topic), handler)).await.unwrap();
    first.publish(numbered(&topic, 1)).await.unwrap();
    assert_eq!(next(&mut seen).await.data, "1");
    subscription.stop(Duration::from_secs(1)).await;
    drop(subscription);

    first.publish(numbered(&topic, 2)).await.unwrap();
    let since = Instant::now();
    let second = open(&group).await;
    let (handler, mut seen) = recorder(0);
    let _subscription = within(STEP, "the second member subscribing", second.subscribe(request(&topic), handler)).await.unwrap();
    assert_eq!(next(&mut seen).await.data, "2");
    // The session timeout is 6 s: a member that never left would hold the partition that long.
    assert!(since.elapsed() < Duration::from_secs(3), "the next member waited {:?} for the stopped one", since.elapsed());
    drop(first);
}

/// Says when a call starts, answers after a while.
struct Slow(mpsc::UnboundedSender<BrokerMessage>);

#[async_trait]
impl MessageHandler for Slow {
    async fn handle(&self, msg: BrokerMessage) -> Result<(), NotProcessed> {
        let _ = self.0.send(msg);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn what_a_stop_handled_in_its_grace_period_is_not_delivered_again() {
    let (topic, group) = names("grace");
    let first = open(&group).await;
    let (started, mut seen) = mpsc::unbounded_channel();
    let subscription = within(STEP, "subscribing", first.subscribe(request(&topic), Arc::new(Slow(started)))).await.unwrap();
    first.publish(numbered(&topic, 1)).await.unwrap();
    assert_eq!(next(&mut seen).await.data, "1");
    // The call in flight finishes within the grace period: it is handled, and committed.
    subscription.stop(Duration::from_secs(5)).await;
    drop(subscription);

    let second = open(&group).await;
    let (handler, mut seen) = recorder(0);
    let _subscription = within(STEP, "the second member subscribing", second.subscribe(request(&topic), handler)).await.unwrap();
    second.publish(numbered(&topic, 2)).await.unwrap();
    assert_eq!(next(&mut seen).await.data, "2", "the record handled in the grace period came again");
    drop(first);
}

//! The cases every component runs, unchanged, through the `PubSub` trait alone. Each takes the
//! broker under test; a case about a guarantee the broker does not make says so and checks nothing.

use super::brokers::{Broker, Guarantee};
use super::harness::{Case, Inbox, WITHIN, numbered, numbers, publish_numbers, subscribe, subscribe_sharing};
use bytes::Bytes;
use dapr_rs_components::{ABANDON_WAIT, BrokerMessage};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn set(range: std::ops::Range<usize>) -> BTreeSet<usize> {
    range.collect()
}

pub async fn publish_subscribe(broker: &'static Broker) {
    let case = Case::new(broker);
    let (topic, group) = (case.name("orders"), case.name("checkout"));
    let mut inbox = Inbox::default();
    let pubsub = case.open(&group).await;
    let subscription = subscribe(&pubsub, &topic, &group, 10, inbox.recorder("sub")).await;
    let mut message = numbered(&topic, 0);
    message.metadata.insert("ttlInSeconds".into(), "60".into());
    pubsub.publish(message).await.unwrap();
    publish_numbers(&pubsub, &topic, 1..10).await;
    let got = inbox.take(10).await;
    assert_eq!(numbers(&got).into_iter().collect::<BTreeSet<_>>(), set(0..10));
    assert!(got.iter().all(|(_, m)| m.topic == topic), "each message names its topic");
    inbox.assert_empty_for(Duration::from_millis(300)).await;
    subscription.stop(Duration::from_secs(1)).await;
    pubsub.close().await;
}

/// Two consumer groups each get every message; two instances of one group (where instances
/// share) split them, each message going to one.
pub async fn groups_each_get_every_message_and_members_share_them(broker: &'static Broker) {
    let case = Case::new(broker);
    if case.unless_promised(Guarantee::SharedBetweenSidecars) {
        return;
    }
    let topic = case.name("orders");
    let (shipping, billing) = (case.name("shipping"), case.name("billing"));
    let mut inbox = Inbox::default();
    let mut subscriptions = vec![subscribe(&case.open(&shipping).await, &topic, &shipping, 10, inbox.recorder("shipping")).await];
    if case.broker.promises(Guarantee::InstancesShare) {
        subscriptions.push(subscribe(&case.open(&shipping).await, &topic, &shipping, 10, inbox.recorder("shipping")).await);
    } else {
        eprintln!("conformance: {} does not promise InstancesShare; one instance per group", broker.component_type);
    }
    subscriptions.push(subscribe(&case.open(&billing).await, &topic, &billing, 10, inbox.recorder("billing")).await);
    let publisher = case.open(&case.name("publisher")).await;
    publish_numbers(&publisher, &topic, 0..20).await;
    let got = inbox.take(40).await;
    for group in ["shipping", "billing"] {
        let mine: Vec<_> = got.iter().filter(|(label, _)| *label == group).cloned().collect();
        let mut ns = numbers(&mine);
        ns.sort();
        assert_eq!(ns, (0..20).collect::<Vec<_>>(), "{group} gets every message exactly once");
    }
    inbox.assert_empty_for(Duration::from_millis(500)).await;
    for subscription in subscriptions {
        subscription.stop(Duration::from_secs(1)).await;
    }
}

pub async fn one_subscriber_gets_publish_order(broker: &'static Broker) {
    let case = Case::new(broker);
    if case.unless_promised(Guarantee::Ordered) {
        return;
    }
    let (topic, group) = (case.name("orders"), case.name("checkout"));
    let mut inbox = Inbox::default();
    let pubsub = case.open(&group).await;
    let subscription = subscribe(&pubsub, &topic, &group, 1, inbox.recorder("sub")).await;
    publish_numbers(&pubsub, &topic, 0..40).await;
    assert_eq!(numbers(&inbox.take(40).await), (0..40).collect::<Vec<_>>());
    subscription.stop(Duration::from_secs(1)).await;
}

/// A message the handler did not process comes back, as often as it takes, and not once more
/// after it was.
pub async fn a_message_not_processed_is_delivered_again(broker: &'static Broker) {
    let case = Case::new(broker);
    let (topic, group) = (case.name("orders"), case.name("checkout"));
    let mut inbox = Inbox::default();
    let pubsub = case.open(&group).await;
    let recorder = inbox.recorder_with("sub", 3, Duration::ZERO);
    let subscription = subscribe(&pubsub, &topic, &group, 10, recorder).await;
    pubsub.publish(numbered(&topic, 7)).await.unwrap();
    assert_eq!(numbers(&inbox.take(4).await), vec![7; 4], "refused three times, then processed");
    inbox.assert_empty_for(Duration::from_secs(3)).await;
    subscription.stop(Duration::from_secs(1)).await;
}

/// What is published while a group has no subscriber waits for it.
pub async fn a_group_gets_what_was_published_while_it_had_no_subscriber(broker: &'static Broker) {
    let case = Case::new(broker);
    if case.unless_promised(Guarantee::Durable) {
        return;
    }
    let (topic, group) = (case.name("orders"), case.name("checkout"));
    let mut inbox = Inbox::default();
    let first = case.open(&group).await;
    let subscription = subscribe(&first, &topic, &group, 10, inbox.recorder("sub")).await;
    first.publish(numbered(&topic, 0)).await.unwrap();
    assert_eq!(numbers(&inbox.take(1).await), vec![0]);
    subscription.stop(Duration::from_secs(1)).await;
    first.close().await;
    let publisher = case.open(&case.name("publisher")).await;
    publish_numbers(&publisher, &topic, 1..11).await;
    let again = case.open(&group).await;
    let subscription = subscribe(&again, &topic, &group, 10, inbox.recorder("sub")).await;
    assert_eq!(numbers(&inbox.take(10).await).into_iter().collect::<BTreeSet<_>>(), set(1..11));
    subscription.stop(Duration::from_secs(1)).await;
}

/// A subscription whose handler never answers stops within its grace period (plus the time
/// abandoned calls get to hand their messages back), and a durable broker hands the message
/// it held to the group's next subscriber.
pub async fn a_stop_ends_within_its_grace_and_what_was_held_comes_back(broker: &'static Broker) {
    let case = Case::new(broker);
    let (topic, group) = (case.name("orders"), case.name("checkout"));
    let mut inbox = Inbox::default();
    let pubsub = case.open(&group).await;
    let stuck = inbox.recorder_with("stuck", 0, Duration::from_secs(3600));
    let subscription = subscribe(&pubsub, &topic, &group, 10, stuck).await;
    pubsub.publish(numbered(&topic, 5)).await.unwrap();
    assert_eq!(numbers(&inbox.take(1).await), vec![5], "the handler holds the message");
    let grace = Duration::from_millis(500);
    let limit = grace + ABANDON_WAIT + Duration::from_secs(1);
    let started = Instant::now();
    tokio::time::timeout(limit, subscription.stop(grace)).await.unwrap_or_else(|_| panic!("stop did not end within {limit:?}"));
    eprintln!("{}: stopped with a handler in flight in {:?} (limit {limit:?})", broker.component_type, started.elapsed());
    tokio::time::timeout(Duration::from_secs(5), pubsub.close()).await.expect("close ends after the stop");
    if case.unless_promised(Guarantee::Durable) {
        return;
    }
    let again = case.open(&group).await;
    let subscription = subscribe(&again, &topic, &group, 10, inbox.recorder("sub")).await;
    let (label, message) = inbox.take(1).await.remove(0);
    assert_eq!((label, message.data.as_ref()), ("sub", b"5".as_ref()), "what the stopped subscription held comes back");
    subscription.stop(Duration::from_secs(1)).await;
}

/// The message a 1 MiB binary payload makes once it is base64 in its CloudEvent (4/3 of it, plus
/// the envelope's fields): arrives byte for byte, or is refused to the publisher.
const LARGE_MESSAGE: usize = 3 << 19;

pub async fn large_messages_arrive_whole_or_are_refused(broker: &'static Broker) {
    let case = Case::new(broker);
    let (topic, group) = (case.name("blobs"), case.name("checkout"));
    let mut inbox = Inbox::default();
    let pubsub = case.open(&group).await;
    let subscription = subscribe(&pubsub, &topic, &group, 10, inbox.recorder("sub")).await;
    let payloads: Vec<Bytes> =
        (0..3u8).map(|seed| (0..LARGE_MESSAGE).map(|i| (i % 251) as u8 ^ seed).collect::<Vec<u8>>().into()).collect();
    for payload in &payloads {
        let published = pubsub.publish(BrokerMessage { topic: topic.clone(), data: payload.clone(), metadata: HashMap::new() }).await;
        if !case.broker.promises(Guarantee::LargePayloads) {
            // Refused, and said so to the publisher: never a silent success.
            published.expect_err("a broker with a smaller message limit refuses the message");
            eprintln!("conformance: {} does not promise LargePayloads; checked that the publish fails", broker.component_type);
            return;
        }
        published.unwrap();
    }
    let mut got: Vec<Bytes> = inbox.take(3).await.into_iter().map(|(_, m)| m.data).collect();
    got.sort_by_key(|b| b[0]);
    assert!(got == payloads, "large messages arrive byte for byte");
    subscription.stop(Duration::from_secs(1)).await;
}

/// A bulk publish answers each entry, in the entries' order: a large entry in the middle is
/// refused alone where the broker's limit is smaller, and every other entry arrives.
pub async fn a_bulk_publish_answers_each_entry(broker: &'static Broker) {
    let case = Case::new(broker);
    let (topic, group) = (case.name("bulk"), case.name("checkout"));
    let mut inbox = Inbox::default();
    let pubsub = case.open(&group).await;
    let subscription = subscribe(&pubsub, &topic, &group, 10, inbox.recorder("sub")).await;
    const LARGE_AT: usize = 5;
    let mut entries: Vec<BrokerMessage> = (0..12).map(|n| numbered(&topic, n)).collect();
    entries[LARGE_AT].data = vec![b'7'; LARGE_MESSAGE].into();
    let outcomes = pubsub.publish_bulk(entries).await;
    assert_eq!(outcomes.len(), 12, "one outcome per entry");
    for (n, outcome) in outcomes.iter().enumerate() {
        match (n == LARGE_AT && !case.broker.promises(Guarantee::LargePayloads), outcome) {
            (false, Err(e)) => panic!("entry {n} was refused: {e}"),
            (true, Ok(())) => panic!("the large entry {n} was taken by a broker that does not promise LargePayloads"),
            _ => {}
        }
    }
    let expected: BTreeSet<usize> = (0..12).filter(|n| *n != LARGE_AT || case.broker.promises(Guarantee::LargePayloads)).collect();
    let got = inbox.take(expected.len()).await;
    let got: BTreeSet<usize> = got
        .iter()
        .map(|(_, m)| if m.data.len() == LARGE_MESSAGE { LARGE_AT } else { String::from_utf8_lossy(&m.data).parse().unwrap() })
        .collect();
    assert_eq!(got, expected, "every entry taken arrives once");
    inbox.assert_empty_for(Duration::from_millis(300)).await;
    subscription.stop(Duration::from_secs(1)).await;
    pubsub.close().await;
}

pub async fn many_topics_each_get_their_own_messages(broker: &'static Broker) {
    let case = Case::new(broker);
    let group = case.name("checkout");
    let topics: Vec<String> = (0..40).map(|n| case.name(&format!("topic{n}"))).collect();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let pubsub = case.open(&group).await;
    let mut subscriptions = Vec::new();
    for topic in &topics {
        let handler = Arc::new(TopicRecorder { subscribed: topic.clone(), tx: tx.clone() });
        subscriptions.push(subscribe(&pubsub, topic, &group, 10, handler).await);
    }
    for (n, topic) in topics.iter().enumerate() {
        pubsub.publish(numbered(topic, n)).await.unwrap();
    }
    for _ in 0..topics.len() {
        let (subscribed, message) = tokio::time::timeout(WITHIN, rx.recv()).await.expect("every topic's message arrives").unwrap();
        let n: usize = String::from_utf8_lossy(&message.data).parse().unwrap();
        assert_eq!((subscribed.as_str(), message.topic.as_str()), (topics[n].as_str(), topics[n].as_str()), "each topic gets only its own");
    }
    if let Ok(Some(extra)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
        panic!("nothing more expected, got {extra:?}");
    }
    for subscription in subscriptions {
        subscription.stop(Duration::from_secs(1)).await;
    }
}

/// Subscriptions sharing the app's slots never have more handler calls in flight between them
/// than there are slots, whatever each one's own limit.
pub async fn shared_slots_bound_handler_calls_in_flight(broker: &'static Broker) {
    const SLOTS: usize = 2;
    let case = Case::new(broker);
    let group = case.name("checkout");
    let topics: Vec<String> = (0..3).map(|n| case.name(&format!("topic{n}"))).collect();
    let mut inbox = Inbox::default();
    let slow = inbox.recorder_with("sub", 0, Duration::from_millis(50));
    let slots = Arc::new(tokio::sync::Semaphore::new(SLOTS));
    let pubsub = case.open(&group).await;
    let mut subscriptions = Vec::new();
    for topic in &topics {
        subscriptions.push(subscribe_sharing(&pubsub, topic, &group, 8, Some(slots.clone()), slow.clone()).await);
    }
    for topic in &topics {
        publish_numbers(&pubsub, topic, 0..8).await;
    }
    inbox.take(24).await;
    assert!(slow.peak_in_flight() <= SLOTS, "{} handler calls in flight with {SLOTS} shared slots", slow.peak_in_flight());
    assert!(slow.peak_in_flight() > 1, "the subscriptions ran side by side at all (peak {})", slow.peak_in_flight());
    for subscription in subscriptions {
        subscription.stop(Duration::from_secs(1)).await;
    }
    assert_eq!(slots.available_permits(), SLOTS, "every shared slot is given back");
}

/// Files each message with the topic its subscription was made for.
struct TopicRecorder {
    subscribed: String,
    tx: tokio::sync::mpsc::UnboundedSender<(String, BrokerMessage)>,
}

#[async_trait::async_trait]
impl dapr_rs_components::MessageHandler for TopicRecorder {
    async fn handle(&self, msg: BrokerMessage) -> Result<(), dapr_rs_components::NotProcessed> {
        let _ = self.tx.send((self.subscribed.clone(), msg));
        Ok(())
    }
}

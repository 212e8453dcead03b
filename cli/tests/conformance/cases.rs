//! The end-to-end cases every component runs, unchanged, through real sidecars: what a sidecar
//! adds to a component (consumer groups from app ids, the app's answers, dead letter, bulk, its
//! death and its stop). What a component does on its own is checked through the `PubSub` trait in
//! `components/tests/conformance/`. Each case takes the broker under test; a case about a
//! guarantee the broker does not make says so and checks nothing.

use super::brokers::{Broker, Guarantee};
use super::harness::{Case, PUBSUB};
use crate::common::inbox::Inbox;
use bytes::Bytes;
use dapr_rs_core::{
    BulkPublishEntry, BulkSubscribeOptions, DaprClient, PublishRequest, Subscription, SubscriptionOptions, TopicEvent, TopicEventStatus,
    handler_fn,
};
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

fn json(topic: &str, n: usize) -> PublishRequest {
    PublishRequest {
        pubsub_name: PUBSUB.into(),
        topic: topic.into(),
        data: Bytes::from(n.to_string()),
        data_content_type: "application/json".into(),
        metadata: HashMap::new(),
    }
}

/// Publishes the numbers of `range` one after the other, each as a JSON event.
async fn publish_numbers(client: &DaprClient, topic: &str, range: std::ops::Range<usize>) {
    for n in range {
        client.publish_event(json(topic, n)).await.unwrap();
    }
}

/// A subscription whose handler files every event under `label` in `inbox` and answers SUCCESS.
fn accepting(inbox: &Inbox, topic: &str, label: &str) -> Subscription {
    Subscription::new(PUBSUB, topic, inbox.handler(label, TopicEventStatus::Success))
}

fn numbers(events: &[(String, TopicEvent)]) -> Vec<usize> {
    events.iter().map(|(_, ev)| String::from_utf8_lossy(&ev.data).parse().expect("a number")).collect()
}

fn set(range: std::ops::Range<usize>) -> BTreeSet<usize> {
    range.collect()
}

pub async fn publish_subscribe(broker: &'static Broker) {
    let mut case = Case::new(broker);
    let topic = case.name("orders");
    let mut inbox = Inbox::default();
    let app = case.app(&case.name("checkout"), vec![accepting(&inbox, &topic, "sub")], &[]).await;
    let client = case.publisher(&app).await;
    publish_numbers(&client, &topic, 0..10).await;
    let got = inbox.take(10).await;
    assert_eq!(numbers(&got).into_iter().collect::<BTreeSet<_>>(), set(0..10));
    let ev = &got[0].1;
    assert_eq!((ev.topic.as_str(), ev.pubsub_name.as_str(), ev.data_content_type.as_str()), (topic.as_str(), PUBSUB, "application/json"));
    inbox.assert_empty_for(Duration::from_millis(300)).await;
}

pub async fn app_ids_each_get_every_message_and_instances_share_them(broker: &'static Broker) {
    let mut case = Case::new(broker);
    if case.unless_promised(Guarantee::SharedBetweenSidecars) {
        return;
    }
    let topic = case.name("orders");
    let mut inbox = Inbox::default();
    let sub = |label: &str| vec![accepting(&inbox, &topic, label)];
    let (shipping, billing) = (case.name("shipping"), case.name("billing"));
    let a1 = case.app(&shipping, sub("shipping"), &[]).await;
    // A second instance only where instances share; elsewhere it would take the first one's place.
    let _a2 = if case.broker.promises(Guarantee::InstancesShare) {
        Some(case.app(&shipping, sub("shipping"), &[]).await)
    } else {
        eprintln!("conformance: {} does not promise InstancesShare; one instance per app id", broker.component_type);
        None
    };
    let _b = case.app(&billing, sub("billing"), &[]).await;
    let client = case.publisher(&a1).await;
    publish_numbers(&client, &topic, 0..20).await;
    let got = inbox.take(40).await;
    for app in ["shipping", "billing"] {
        let mine: Vec<(String, TopicEvent)> = got.iter().filter(|(label, _)| label == app).cloned().collect();
        let mut ns = numbers(&mine);
        ns.sort();
        assert_eq!(
            ns,
            (0..20).collect::<Vec<_>>(),
            "{app} gets every message exactly once (two instances of shipping, where they share, share them)"
        );
    }
    inbox.assert_empty_for(Duration::from_millis(500)).await;
}

pub async fn one_subscriber_gets_publish_order(broker: &'static Broker) {
    let mut case = Case::new(broker);
    if case.unless_promised(Guarantee::Ordered) {
        return;
    }
    let topic = case.name("orders");
    let mut inbox = Inbox::default();
    let subs = vec![accepting(&inbox, &topic, "sub")];
    let app = case.app(&case.name("checkout"), subs, &["--app-max-concurrency", "1"]).await;
    let client = case.publisher(&app).await;
    publish_numbers(&client, &topic, 0..40).await;
    assert_eq!(numbers(&inbox.take(40).await), (0..40).collect::<Vec<_>>());
}

/// Many publishes in flight while the app takes one message at a time, slowly: the broker holds a
/// backlog far larger than what the sidecar has in flight, and every accepted message still
/// arrives (at least once). A broker that drops what a slow consumer has not taken (Mosquitto past
/// its `max_queued_messages`, a bounded channel that sheds) fails here.
pub async fn a_publisher_faster_than_the_app_loses_nothing(broker: &'static Broker) {
    const COUNT: usize = 3000;
    const IN_FLIGHT: usize = 64;
    let mut case = Case::new(broker);
    let topic = case.name("orders");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler = handler_fn(move |ev: TopicEvent| {
        let tx = tx.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let _ = tx.send(String::from_utf8_lossy(&ev.data).parse::<usize>().expect("a number"));
            Ok(TopicEventStatus::Success)
        }
    });
    let app = case.app(&case.name("checkout"), vec![Subscription::new(PUBSUB, &topic, handler)], &["--app-max-concurrency", "1"]).await;
    let client = case.publisher(&app).await;
    let started = std::time::Instant::now();
    futures::stream::iter(0..COUNT)
        .map(|n| client.publish_event(json(&topic, n)))
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await
        .expect("every publish is accepted");
    let (published, backlog) = (started.elapsed(), COUNT.saturating_sub(rx.len()));
    let mut missing = set(0..COUNT);
    let mut taken = 0;
    // Given up when nothing arrives for 30 s (what is lost does not come later) or after 120 s.
    let drained = tokio::time::timeout(Duration::from_secs(120), async {
        while !missing.is_empty() {
            let Ok(n) = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await else { return false };
            missing.remove(&n.expect("the handler lives"));
            taken += 1;
        }
        true
    })
    .await;
    let taking = started.elapsed();
    assert!(
        drained == Ok(true),
        "{}: {} of {COUNT} never arrived: {:?}",
        broker.component_type,
        missing.len(),
        missing.iter().take(20).collect::<Vec<_>>()
    );
    eprintln!(
        "{}: {COUNT} published in {published:?} ({IN_FLIGHT} in flight), all taken after {taking:?} ({taken} deliveries, {backlog} waiting when the last publish was accepted)",
        broker.component_type
    );
}

/// The app answers RETRY more often than the sidecar retries by itself (three times, without a
/// Resiliency policy), so the message must come back from the broker.
pub async fn retry_is_redelivered(broker: &'static Broker) {
    let mut case = Case::new(broker);
    let topic = case.name("orders");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let calls: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let handler = handler_fn(move |ev: TopicEvent| {
        let (tx, calls) = (tx.clone(), calls.clone());
        async move {
            let data = String::from_utf8_lossy(&ev.data).into_owned();
            let call = {
                let mut calls = calls.lock().unwrap();
                let n = calls.entry(data.clone()).or_default();
                *n += 1;
                *n
            };
            let answer = if call <= 6 { TopicEventStatus::Retry } else { TopicEventStatus::Success };
            tx.send((data, call, answer)).unwrap();
            Ok(answer)
        }
    });
    let app = case.app(&case.name("checkout"), vec![Subscription::new(PUBSUB, &topic, handler)], &[]).await;
    case.publisher(&app).await.publish_event(json(&topic, 7)).await.unwrap();
    loop {
        let (data, call, answer) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("the message comes back after RETRY within 30 s")
            .unwrap();
        assert_eq!(data, "7");
        if answer == TopicEventStatus::Success {
            assert_eq!(call, 7);
            break;
        }
    }
    if let Ok(Some(extra)) = tokio::time::timeout(Duration::from_secs(3), rx.recv()).await {
        panic!("delivered again after SUCCESS: {extra:?}");
    }
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("a delivery within 30 s").unwrap()
}

/// The subscriber's sidecar dies while the app holds a message: the broker hands it out again.
pub async fn a_message_in_flight_when_the_sidecar_dies_is_redelivered(broker: &'static Broker) {
    let mut case = Case::new(broker);
    if case.unless_promised(Guarantee::Durable) {
        return;
    }
    let topic = case.name("orders");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let hang = Arc::new(AtomicBool::new(true));
    let hang_now = hang.clone();
    let handler = handler_fn(move |ev: TopicEvent| {
        let (tx, hang) = (tx.clone(), hang_now.load(Ordering::SeqCst));
        async move {
            tx.send((String::from_utf8_lossy(&ev.data).into_owned(), hang)).unwrap();
            if hang {
                futures::future::pending::<()>().await;
            }
            Ok(TopicEventStatus::Success)
        }
    });
    let mut app = case.app(&case.name("checkout"), vec![Subscription::new(PUBSUB, &topic, handler)], &[]).await;
    let client = case.publisher(&app).await;
    client.publish_event(json(&topic, 5)).await.unwrap();
    assert_eq!(next(&mut rx).await, ("5".to_owned(), true), "the app holds the message");
    case.kill_sidecar(&mut app);
    hang.store(false, Ordering::SeqCst);
    case.start_sidecar(&mut app);
    assert_eq!(next(&mut rx).await, ("5".to_owned(), false), "redelivered after the sidecar died");
}

pub async fn dropped_messages_go_to_the_dead_letter_topic(broker: &'static Broker) {
    let mut case = Case::new(broker);
    let (topic, dead) = (case.name("orders"), case.name("orders-dead"));
    let mut inbox = Inbox::default();
    let options = SubscriptionOptions { dead_letter_topic: Some(dead.clone()), ..Default::default() };
    let subs = vec![
        Subscription::new(PUBSUB, &topic, inbox.handler("orders", TopicEventStatus::Drop)).with_options(options),
        accepting(&inbox, &dead, "dead"),
    ];
    let app = case.app(&case.name("checkout"), subs, &[]).await;
    let client = case.publisher(&app).await;
    publish_numbers(&client, &topic, 0..3).await;
    let got = inbox.take(6).await;
    let dead_letters: Vec<(String, TopicEvent)> = got.iter().filter(|(label, _)| label == "dead").cloned().collect();
    assert_eq!(numbers(&dead_letters).into_iter().collect::<BTreeSet<_>>(), set(0..3), "{got:?}");
    assert!(dead_letters.iter().all(|(_, ev)| ev.extensions["topic"] == topic.as_str()), "the original CloudEvent, unchanged");
    inbox.assert_empty_for(Duration::from_millis(500)).await;
}

pub async fn bulk_publish_and_bulk_subscribe(broker: &'static Broker) {
    let mut case = Case::new(broker);
    let topic = case.name("orders");
    let mut inbox = Inbox::default();
    let options = SubscriptionOptions {
        bulk_subscribe: Some(BulkSubscribeOptions { max_messages_count: 10, max_await_duration_ms: 200 }),
        ..Default::default()
    };
    let subs = vec![accepting(&inbox, &topic, "sub").with_options(options)];
    let app = case.app(&case.name("checkout"), subs, &[]).await;
    let entries = (0..50)
        .map(|n| BulkPublishEntry {
            entry_id: n.to_string(),
            event: Bytes::from(n.to_string()),
            content_type: "application/json".into(),
            ..Default::default()
        })
        .collect();
    let failed = case.publisher(&app).await.bulk_publish(PUBSUB, &topic, entries, HashMap::new()).await.unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(numbers(&inbox.take(50).await).into_iter().collect::<BTreeSet<_>>(), set(0..50));
    inbox.assert_empty_for(Duration::from_millis(300)).await;
}

pub async fn one_mebibyte_payloads_arrive_whole(broker: &'static Broker) {
    let mut case = Case::new(broker);
    let topic = case.name("blobs");
    let mut inbox = Inbox::default();
    let app = case.app(&case.name("checkout"), vec![accepting(&inbox, &topic, "sub")], &[]).await;
    let client = case.publisher(&app).await;
    let payloads: Vec<Bytes> = (0..3u8).map(|seed| (0..1usize << 20).map(|i| (i % 251) as u8 ^ seed).collect::<Vec<u8>>().into()).collect();
    for payload in &payloads {
        let req = PublishRequest {
            pubsub_name: PUBSUB.into(),
            topic: topic.clone(),
            data: payload.clone(),
            data_content_type: "application/octet-stream".into(),
            metadata: HashMap::new(),
        };
        let published = client.publish_event(req).await;
        if !case.broker.promises(Guarantee::LargePayloads) {
            // Refused, and said so to the publisher: never a silent success.
            let err = published.expect_err("a broker with a smaller message limit refuses a 1 MiB event");
            assert!(format!("{err:?}").contains("ERR_PUBSUB_PUBLISH_MESSAGE"), "{err:?}");
            eprintln!("conformance: {} does not promise LargePayloads; checked that the publish fails loudly", broker.component_type);
            return;
        }
        published.unwrap();
    }
    let mut got: Vec<Bytes> = inbox.take(3).await.into_iter().map(|(_, ev)| ev.data).collect();
    got.sort_by_key(|b| b[0]);
    assert!(got == payloads, "1 MiB payloads arrive byte for byte");
}

/// SIGTERM while slow handlers hold messages, 20 times: the sidecar exits 0 within its grace period
/// plus the shutdown's margin every time, and a durable broker still hands every message over.
pub async fn sigterm_with_slow_handlers_in_flight_stops_within_the_grace_period(broker: &'static Broker) {
    const ROUNDS: usize = 20;
    const PER_ROUND: usize = 5;
    let grace = Duration::from_secs(1);
    // The sidecar's own bound, and the time a process takes to start and exit.
    let limit = grace + dapr_rs_sidecar::sidecar::SHUTDOWN_MARGIN + Duration::from_millis(1500);
    let mut case = Case::new(broker);
    let topic = case.name("orders");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let slow = Arc::new(AtomicBool::new(true));
    let slow_now = slow.clone();
    let handler = handler_fn(move |ev: TopicEvent| {
        let (tx, slow) = (tx.clone(), slow_now.load(Ordering::SeqCst));
        async move {
            let n: usize = String::from_utf8_lossy(&ev.data).parse().expect("a number");
            let _ = tx.send((n, slow));
            if slow {
                // Never answers: the sidecar must give these up at its grace period, not wait, and
                // a message is only ever acknowledged by a call made after `slow` was cleared.
                futures::future::pending::<()>().await;
            }
            Ok(TopicEventStatus::Success)
        }
    });
    let grace_flag = grace.as_secs().to_string();
    let args = ["--graceful-shutdown-seconds", grace_flag.as_str()];
    let mut app = case.app(&case.name("checkout"), vec![Subscription::new(PUBSUB, &topic, handler)], &args).await;
    let mut slowest = Duration::ZERO;
    for round in 0..ROUNDS {
        let client = case.publisher(&app).await;
        publish_numbers(&client, &topic, round * PER_ROUND..(round + 1) * PER_ROUND).await;
        tokio::time::timeout(Duration::from_secs(30), async {
            while let Some((_, slow)) = rx.recv().await {
                if slow {
                    return;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("round {round}: no slow handler call within 30 s"));
        slowest = slowest.max(case.stop_sidecar_within(&mut app, limit));
        if round + 1 < ROUNDS {
            case.start_sidecar(&mut app);
        }
    }
    eprintln!("{}: {ROUNDS} stops with slow handlers in flight, the slowest took {slowest:?} (limit {limit:?})", broker.component_type);
    if case.unless_promised(Guarantee::Durable) {
        return;
    }
    // Answered before the sidecar is back, so no call made now can hang (MQTT hands out nothing
    // past messages that are never acknowledged).
    slow.store(false, Ordering::SeqCst);
    case.start_sidecar(&mut app);
    let mut missing = set(0..ROUNDS * PER_ROUND);
    let drained = tokio::time::timeout(Duration::from_secs(90), async {
        while !missing.is_empty() {
            let (n, slow) = rx.recv().await.expect("the handler lives");
            if !slow {
                missing.remove(&n);
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "{}: never taken after the stops: {missing:?}", broker.component_type);
}

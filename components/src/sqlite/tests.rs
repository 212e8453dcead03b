//! Behaviour tests on real SQLite files in temporary directories. Two `SqlitePubSub` instances on
//! one file stand in for two sidecar processes: each has its own connection, store thread and
//! doorbell socket, exactly as separate processes would.

use super::*;
use crate::NotProcessed;
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::time::Instant;
use tempfile::TempDir;
use tokio::sync::mpsc;

const WITHIN: Duration = Duration::from_secs(2);

fn db(dir: &TempDir) -> PathBuf {
    dir.path().join("nested").join("pubsub.db")
}

fn config(dir: &TempDir, app_id: &str, extra: &[(&str, &str)]) -> ComponentConfig {
    let mut metadata: HashMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    metadata.insert("path".into(), db(dir).display().to_string());
    ComponentConfig { name: "pubsub".into(), component_type: "pubsub.sqlite".into(), metadata, app_id: app_id.into() }
}

async fn open(dir: &TempDir, app_id: &str, extra: &[(&str, &str)]) -> SqlitePubSub {
    SqlitePubSub::open(&config(dir, app_id, extra)).await.expect("open")
}

fn message(topic: &str, i: usize) -> BrokerMessage {
    BrokerMessage {
        topic: topic.into(),
        data: format!("{{\"n\":{i}}}").into(),
        metadata: HashMap::from([("n".to_string(), i.to_string())]),
    }
}

fn number(msg: &BrokerMessage) -> usize {
    msg.metadata["n"].parse().unwrap()
}

fn request(topic: &str, group: &str, max_concurrency: usize) -> SubscribeRequest {
    SubscribeRequest { topic: topic.into(), consumer_group: group.into(), max_concurrency, shared_slots: None }
}

enum Behaviour {
    Succeed,
    /// Fails the first `n` calls.
    FailFirst(usize),
    /// Never returns from the first `n` calls.
    HangFirst(usize),
    HangAlways,
    /// Sleeps a little on even numbers, so a concurrent dispatcher would reorder.
    Jitter,
}

/// Reports every call (tagged) on a channel, then behaves as told.
struct Recorder {
    tag: &'static str,
    seen: mpsc::UnboundedSender<(&'static str, BrokerMessage)>,
    behaviour: Behaviour,
    calls: AtomicUsize,
}

#[async_trait]
impl MessageHandler for Recorder {
    async fn handle(&self, msg: BrokerMessage) -> Result<(), NotProcessed> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let even = msg.metadata.get("n").and_then(|n| n.parse::<usize>().ok()).is_some_and(|n| n % 2 == 0);
        let _ = self.seen.send((self.tag, msg));
        match self.behaviour {
            Behaviour::FailFirst(fails) if call < fails => Err(NotProcessed("not yet".into())),
            Behaviour::HangFirst(hangs) if call < hangs => futures::future::pending().await,
            Behaviour::HangAlways => futures::future::pending().await,
            Behaviour::Jitter if even => {
                tokio::time::sleep(Duration::from_millis(2)).await;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

type Seen = mpsc::UnboundedReceiver<(&'static str, BrokerMessage)>;

fn recorder(tag: &'static str, behaviour: Behaviour) -> (Arc<Recorder>, Seen) {
    let (seen, rx) = mpsc::unbounded_channel();
    (Arc::new(Recorder { tag, seen, behaviour, calls: AtomicUsize::new(0) }), rx)
}

fn shared_recorder(tag: &'static str, seen: &mpsc::UnboundedSender<(&'static str, BrokerMessage)>) -> Arc<Recorder> {
    Arc::new(Recorder { tag, seen: seen.clone(), behaviour: Behaviour::Succeed, calls: AtomicUsize::new(0) })
}

async fn next(seen: &mut Seen) -> (&'static str, BrokerMessage) {
    tokio::time::timeout(WITHIN, seen.recv()).await.expect("a delivery in time").expect("recorder alive")
}

async fn take(seen: &mut Seen, count: usize) -> Vec<(&'static str, BrokerMessage)> {
    let mut got = Vec::with_capacity(count);
    while got.len() < count {
        got.push(next(seen).await);
    }
    got
}

/// Asserts nothing more arrives for a while.
async fn quiet(seen: &mut Seen) {
    if let Ok(Some((tag, msg))) = tokio::time::timeout(Duration::from_millis(200), seen.recv()).await {
        panic!("unexpected extra delivery to {tag}: {msg:?}");
    }
}

fn count(path: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(path).unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Acks are written after the handler returns; waits until none is outstanding.
async fn until_settled(path: &Path) {
    let deadline = Instant::now() + WITHIN;
    while count(path, "SELECT COUNT(*) FROM pending") > 0 {
        assert!(Instant::now() < deadline, "messages still pending");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_then_subscribe_delivers_data_and_metadata() {
    let dir = TempDir::new().unwrap();
    let pubsub = open(&dir, "app", &[]).await;
    let (handler, mut seen) = recorder("app", Behaviour::Succeed);
    let sub = pubsub.subscribe(request("orders", "app", 10), handler).await.unwrap();
    let sent = BrokerMessage {
        topic: "orders".into(),
        data: bytes::Bytes::from_static(b"{\"specversion\":\"1.0\",\"data\":\"\\u0000\xff\"}"),
        metadata: HashMap::from([("traceparent".into(), "00-abc-01".into()), ("ttlInSeconds".into(), "60".into())]),
    };
    pubsub.publish(sent.clone()).await.unwrap();
    assert_eq!(next(&mut seen).await.1, sent);
    let empty = BrokerMessage { topic: "orders".into(), ..BrokerMessage::default() };
    pubsub.publish(empty.clone()).await.unwrap();
    assert_eq!(next(&mut seen).await.1, empty);
    quiet(&mut seen).await;
    sub.stop(WITHIN).await;
    pubsub.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doorbell_wakes_a_subscriber_in_another_instance_without_polling() {
    let dir = TempDir::new().unwrap();
    // With a 10 s fallback timer only the doorbell can explain a prompt delivery.
    let slow_poll = [("redeliverInterval", "10s")];
    let publisher = open(&dir, "publisher", &slow_poll).await;
    let subscriber = open(&dir, "subscriber", &slow_poll).await;
    let (handler, mut seen) = recorder("subscriber", Behaviour::Succeed);
    let sub = subscriber.subscribe(request("orders", "subscriber", 10), handler).await.unwrap();
    for i in 0..3 {
        // Let the subscription go idle first.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let sent_at = Instant::now();
        publisher.publish(message("orders", i)).await.unwrap();
        let (_, got) = next(&mut seen).await;
        let latency = sent_at.elapsed();
        assert_eq!(number(&got), i);
        assert!(latency < Duration::from_millis(500), "delivery {i} took {latency:?}");
    }
    sub.stop(WITHIN).await;
    subscriber.close().await;
    publisher.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_subscriptions_claim_nothing_and_the_lease_watcher_finds_what_no_ring_announced() {
    let dir = TempDir::new().unwrap();
    let pubsub = open(&dir, "app", &[("redeliverInterval", "50ms")]).await;
    let (tx, mut seen) = mpsc::unbounded_channel();
    let mut subs = Vec::new();
    for i in 0..200 {
        subs.push(pubsub.subscribe(request(&format!("topic-{i}"), "app", 10), shared_recorder("app", &tx)).await.unwrap());
    }
    // Every subscription's first claim finds nothing; then they sleep.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = pubsub.store.claims_so_far();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pubsub.store.claims_so_far(), before, "idle subscriptions must not poll (ten redeliver intervals went by)");

    // A message written by someone who rings no doorbell (as if the datagram were lost).
    let conn = rusqlite::Connection::open(db(&dir)).unwrap();
    conn.execute("INSERT INTO messages (topic, data, metadata, created_ms) VALUES ('topic-7', X'7B7D', '{\"n\":\"7\"}', 0)", []).unwrap();
    let (_, got) = next(&mut seen).await;
    assert_eq!((got.topic.as_str(), number(&got)), ("topic-7", 7));
    quiet(&mut seen).await;
    for sub in subs {
        sub.stop(WITHIN).await;
    }
    pubsub.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_slots_bound_deliveries_in_flight_across_subscriptions() {
    let dir = TempDir::new().unwrap();
    let pubsub = open(&dir, "app", &[]).await;
    for topic in ["a", "b"] {
        for i in 0..20 {
            pubsub.publish(message(topic, i)).await.unwrap();
        }
    }
    let app = Arc::new(tokio::sync::Semaphore::new(3));
    let (hung, mut seen) = recorder("app", Behaviour::HangAlways);
    let mut subs = Vec::new();
    for topic in ["a", "b"] {
        let req = SubscribeRequest { shared_slots: Some(app.clone()), ..request(topic, "app", 10) };
        subs.push(pubsub.subscribe(req, hung.clone()).await.unwrap());
    }
    take(&mut seen, 3).await;
    quiet(&mut seen).await;
    // Only what is in flight was claimed: the rest waits in the database, not in memory.
    assert_eq!(count(&db(&dir), "SELECT COUNT(*) FROM pending"), 3);
    for sub in subs {
        sub.stop(Duration::from_millis(10)).await;
    }
    pubsub.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_group_gets_every_message() {
    let dir = TempDir::new().unwrap();
    let publisher = open(&dir, "publisher", &[]).await;
    let orders = open(&dir, "orders", &[]).await;
    let billing = open(&dir, "billing", &[("consumerID", "billing-group")]).await;
    let (orders_handler, mut orders_seen) = recorder("orders", Behaviour::Succeed);
    let (billing_handler, mut billing_seen) = recorder("billing", Behaviour::Succeed);
    // An empty consumer group falls back to the component's consumerID (the app id by default).
    let a = orders.subscribe(request("events", "", 10), orders_handler).await.unwrap();
    let b = billing.subscribe(request("events", "", 10), billing_handler).await.unwrap();
    for i in 0..50 {
        publisher.publish(message("events", i)).await.unwrap();
    }
    for seen in [&mut orders_seen, &mut billing_seen] {
        let numbers: HashSet<usize> = take(seen, 50).await.iter().map(|(_, m)| number(m)).collect();
        assert_eq!(numbers, (0..50).collect());
        quiet(seen).await;
    }
    let groups = count(&db(&dir), "SELECT COUNT(*) FROM consumer_groups WHERE grp IN ('orders', 'billing-group')");
    assert_eq!(groups, 2);
    a.stop(WITHIN).await;
    b.stop(WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_of_one_group_share_messages_without_duplicates() {
    let dir = TempDir::new().unwrap();
    let publisher = open(&dir, "publisher", &[]).await;
    let first = open(&dir, "workers", &[]).await;
    let second = open(&dir, "workers", &[]).await;
    let (tx, mut seen) = mpsc::unbounded_channel();
    let a = first.subscribe(request("jobs", "workers", 8), shared_recorder("first", &tx)).await.unwrap();
    let b = second.subscribe(request("jobs", "workers", 8), shared_recorder("second", &tx)).await.unwrap();
    for i in 0..200 {
        publisher.publish(message("jobs", i)).await.unwrap();
    }
    let got = take(&mut seen, 200).await;
    let numbers: HashSet<usize> = got.iter().map(|(_, m)| number(m)).collect();
    assert_eq!(numbers.len(), 200, "a message was delivered twice");
    quiet(&mut seen).await;
    let by_first = got.iter().filter(|(tag, _)| *tag == "first").count();
    eprintln!("shared: first {by_first}, second {}", 200 - by_first);
    a.stop(WITHIN).await;
    b.stop(WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_error_leads_to_redelivery() {
    let dir = TempDir::new().unwrap();
    let pubsub = open(&dir, "app", &[("redeliverInterval", "10s")]).await;
    let (handler, mut seen) = recorder("app", Behaviour::FailFirst(2));
    let sub = pubsub.subscribe(request("orders", "app", 1), handler).await.unwrap();
    pubsub.publish(message("orders", 7)).await.unwrap();
    // Backoff 100 ms then 200 ms; the retry wakes the loop, not the 10 s timer.
    let got = take(&mut seen, 3).await;
    assert!(got.iter().all(|(_, m)| number(m) == 7));
    quiet(&mut seen).await;
    until_settled(&db(&dir)).await;
    sub.stop(WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_that_never_returns_is_redelivered_after_processing_timeout() {
    let dir = TempDir::new().unwrap();
    let pubsub = open(&dir, "app", &[("processingTimeout", "200ms"), ("redeliverInterval", "50ms")]).await;
    let (handler, mut seen) = recorder("app", Behaviour::HangFirst(1));
    let sub = pubsub.subscribe(request("orders", "app", 1), handler).await.unwrap();
    let started = Instant::now();
    pubsub.publish(message("orders", 1)).await.unwrap();
    take(&mut seen, 2).await;
    assert!(started.elapsed() >= Duration::from_millis(200), "redelivered before the lease ran out");
    until_settled(&db(&dir)).await;
    sub.stop(WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_messages_go_to_the_next_instance_of_the_group() {
    let dir = TempDir::new().unwrap();
    let first = open(&dir, "workers", &[]).await;
    let (stuck, mut stuck_seen) = recorder("first", Behaviour::HangAlways);
    let sub = first.subscribe(request("jobs", "workers", 10), stuck).await.unwrap();
    for i in 0..3 {
        first.publish(message("jobs", i)).await.unwrap();
    }
    take(&mut stuck_seen, 3).await;
    sub.stop(Duration::from_millis(50)).await;
    first.close().await;
    assert_eq!(count(&db(&dir), "SELECT COUNT(*) FROM pending"), 3, "nothing unhandled may be acknowledged");

    // The default 60 s lease does not delay them: stop released what it had not finished.
    let second = open(&dir, "workers", &[]).await;
    let (handler, mut seen) = recorder("second", Behaviour::Succeed);
    let sub = second.subscribe(request("jobs", "workers", 10), handler).await.unwrap();
    let numbers: HashSet<usize> = take(&mut seen, 3).await.iter().map(|(_, m)| number(m)).collect();
    assert_eq!(numbers, (0..3).collect());
    until_settled(&db(&dir)).await;
    sub.stop(WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_published_before_any_subscriber_are_delivered() {
    let dir = TempDir::new().unwrap();
    let publisher = open(&dir, "publisher", &[]).await;
    for i in 0..5 {
        publisher.publish(message("early", i)).await.unwrap();
    }
    publisher.clean_now().await.unwrap();
    publisher.close().await;

    let subscriber = open(&dir, "late", &[]).await;
    let (handler, mut seen) = recorder("late", Behaviour::Succeed);
    let sub = subscriber.subscribe(request("early", "late", 1), handler).await.unwrap();
    let numbers: Vec<usize> = take(&mut seen, 5).await.iter().map(|(_, m)| number(m)).collect();
    assert_eq!(numbers, (0..5).collect::<Vec<_>>());
    sub.stop(WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_one_delivers_in_publish_order() {
    let dir = TempDir::new().unwrap();
    let pubsub = open(&dir, "app", &[]).await;
    for i in 0..30 {
        pubsub.publish(message("ordered", i)).await.unwrap();
    }
    let (handler, mut seen) = recorder("app", Behaviour::Jitter);
    let sub = pubsub.subscribe(request("ordered", "app", 1), handler).await.unwrap();
    for i in 30..60 {
        pubsub.publish(message("ordered", i)).await.unwrap();
    }
    let numbers: Vec<usize> = take(&mut seen, 60).await.iter().map(|(_, m)| number(m)).collect();
    assert_eq!(numbers, (0..60).collect::<Vec<_>>());
    sub.stop(WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_metadata_is_a_config_error_naming_the_key() {
    let dir = TempDir::new().unwrap();
    for (key, value) in [("processingTimeout", "soon"), ("redeliverInterval", "0"), ("retention", "-1h")] {
        match SqlitePubSub::open(&config(&dir, "app", &[(key, value)])).await {
            Err(BrokerError::Config(message)) => assert!(message.contains(key), "{message}"),
            Err(other) => panic!("{key}: expected a Config error, got {other}"),
            Ok(_) => panic!("{key}={value} was accepted"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unopenable_path_is_unavailable_and_names_it() {
    let dir = TempDir::new().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let path = blocker.join("pubsub.db");
    let mut config = config(&dir, "app", &[]);
    config.metadata.insert("path".into(), path.display().to_string());
    match SqlitePubSub::open(&config).await {
        Err(BrokerError::Unavailable(message)) => assert!(message.contains(&*blocker.display().to_string()), "{message}"),
        Err(other) => panic!("expected Unavailable, got {other}"),
        Ok(_) => panic!("opened a database under a file"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_deletes_consumed_and_expired_messages_only() {
    let dir = TempDir::new().unwrap();
    let pubsub = open(&dir, "app", &[]).await;
    let (handler, mut seen) = recorder("app", Behaviour::Succeed);
    let sub = pubsub.subscribe(request("consumed", "app", 10), handler).await.unwrap();
    for i in 0..10 {
        pubsub.publish(message("consumed", i)).await.unwrap();
        pubsub.publish(message("unsubscribed", i)).await.unwrap();
    }
    take(&mut seen, 10).await;
    until_settled(&db(&dir)).await;
    pubsub.clean_now().await.unwrap();
    let path = db(&dir);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM messages WHERE topic = 'consumed'"), 0);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM messages WHERE topic = 'unsubscribed'"), 10);
    sub.stop(WITHIN).await;
    pubsub.close().await;

    let short = open(&dir, "app", &[("retention", "50ms")]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    short.clean_now().await.unwrap();
    assert_eq!(count(&path, "SELECT COUNT(*) FROM messages"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doorbell_rows_go_away_with_their_subscription() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let pubsub = open(&dir, "app", &[]).await;
    let (handler, _seen) = recorder("app", Behaviour::Succeed);
    let sub = pubsub.subscribe(request("orders", "app", 1), handler.clone()).await.unwrap();
    let _kept = pubsub.subscribe(request("orders", "other", 1), handler).await.unwrap();
    assert_eq!(count(&path, "SELECT COUNT(*) FROM listeners"), 2);
    sub.stop(WITHIN).await;
    assert_eq!(count(&path, "SELECT COUNT(*) FROM listeners"), 1);

    // A row left by a process that is gone is harmless and cleaned up.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("INSERT INTO listeners (topic, port, subscription, pid) VALUES ('orders', 9, 1, 999999999)", [])
        .unwrap();
    pubsub.publish(message("orders", 1)).await.unwrap();
    pubsub.clean_now().await.unwrap();
    assert_eq!(count(&path, "SELECT COUNT(*) FROM listeners"), 1);

    // close removes this instance's rows even for subscriptions never stopped.
    pubsub.close().await;
    assert_eq!(count(&path, "SELECT COUNT(*) FROM listeners"), 0);
    assert!(pubsub.publish(message("orders", 2)).await.is_err(), "publish after close must fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_with_a_hundred_in_flight() {
    const TOTAL: usize = 10_000;
    let dir = TempDir::new().unwrap();
    let publisher = Arc::new(open(&dir, "publisher", &[]).await);
    let subscriber = open(&dir, "subscriber", &[]).await;
    let (handler, mut seen) = recorder("subscriber", Behaviour::Succeed);
    let sub = subscriber.subscribe(request("load", "subscriber", 100), handler).await.unwrap();

    let started = Instant::now();
    let results: Vec<Result<(), BrokerError>> = futures::stream::iter(0..TOTAL)
        .map(|i| {
            let publisher = publisher.clone();
            async move { publisher.publish(message("load", i)).await }
        })
        .buffer_unordered(100)
        .collect()
        .await;
    let published = started.elapsed();
    assert!(results.iter().all(Result::is_ok));
    let mut numbers = HashSet::with_capacity(TOTAL);
    while numbers.len() < TOTAL {
        numbers.insert(number(&next(&mut seen).await.1));
    }
    let delivered = started.elapsed();
    eprintln!(
        "{TOTAL} messages: published in {published:?} ({:.0}/s), delivered in {delivered:?} ({:.0}/s)",
        TOTAL as f64 / published.as_secs_f64(),
        TOTAL as f64 / delivered.as_secs_f64()
    );
    sub.stop(WITHIN).await;
}

//! `--app-max-concurrency`: one limit on deliveries in flight to the app, shared by all its
//! subscriptions; with 1, the events of a topic arrive one at a time, in order.

mod common;

use bytes::Bytes;
use common::{SidecarBuilder, component, memory_resources};
use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::{PublishRequest, Subscription, TopicEvent, TopicEventStatus, handler_fn};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PUBSUB: &str = "order_pub_sub";

fn publish(topic: &str, n: u32) -> PublishRequest {
    PublishRequest {
        pubsub_name: PUBSUB.into(),
        topic: topic.into(),
        data: Bytes::from(n.to_string()),
        data_content_type: "application/json".into(),
        ..Default::default()
    }
}

/// Counts deliveries in flight at the app and remembers the most seen at once.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    most: AtomicUsize,
    done: AtomicUsize,
}

/// Publishes `per_topic` events to each of `topics`, each handled in 30 ms, and returns the most
/// deliveries the app saw in flight at once.
async fn most_in_flight(max_concurrency: Option<&str>, topics: &[&str], per_topic: u32) -> usize {
    most_in_flight_handled_in(Duration::from_millis(30), max_concurrency, topics, per_topic).await
}

async fn most_in_flight_handled_in(handling: Duration, max_concurrency: Option<&str>, topics: &[&str], per_topic: u32) -> usize {
    let dir = memory_resources(PUBSUB);
    let stats = Arc::new(InFlight::default());
    let subs = topics
        .iter()
        .map(|topic| {
            let stats = stats.clone();
            let handler = handler_fn(move |_ev: TopicEvent| {
                let stats = stats.clone();
                async move {
                    let now = stats.now.fetch_add(1, Ordering::SeqCst) + 1;
                    stats.most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(handling).await;
                    stats.now.fetch_sub(1, Ordering::SeqCst);
                    stats.done.fetch_add(1, Ordering::SeqCst);
                    Ok(TopicEventStatus::Success)
                }
            });
            Subscription::new(PUBSUB, *topic, handler)
        })
        .collect();
    let addr = "127.0.0.1:0".parse().unwrap(); // the OS picks the port; no race with other tests
    let server = AppServer::start_with_token(AppProtocol::Grpc, addr, subs, None).await.unwrap();
    let mut builder = SidecarBuilder::new("checkout", dir.path()).app(server.local_addr().port(), "grpc");
    if let Some(n) = max_concurrency {
        builder = builder.args(&["--app-max-concurrency", n]);
    }
    let sc = builder.start_subscribed();
    let client = sc.client();
    for n in 0..per_topic {
        for topic in topics {
            client.publish_event(publish(topic, n)).await.unwrap();
        }
    }
    let expected = topics.len() * per_topic as usize;
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats.done.load(Ordering::SeqCst) < expected {
        assert!(Instant::now() < deadline, "only {} of {expected} events were delivered", stats.done.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(sc);
    server.stop().await.unwrap();
    stats.most.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_limit_is_shared_by_every_subscription_of_the_app() {
    assert_eq!(most_in_flight(Some("1"), &["orders", "payments", "refunds"], 4).await, 1);
    let most = most_in_flight(Some("2"), &["orders", "payments", "refunds"], 4).await;
    assert!(most <= 2, "{most} deliveries in flight with --app-max-concurrency 2");
    // Without the flag the three subscriptions do overlap, so the limit above is what held them.
    assert!(most_in_flight(None, &["orders", "payments", "refunds"], 4).await >= 2);
}

/// Without the flag the app still has a limit (daprd has none): many subscriptions each taking
/// what they may would otherwise read a backlog into memory and overwhelm the app.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_flag_the_default_limit_holds_across_many_topics() {
    let names: Vec<String> = (0..300).map(|i| format!("topic-{i}")).collect();
    let topics: Vec<&str> = names.iter().map(String::as_str).collect();
    let most = most_in_flight_handled_in(Duration::from_millis(300), None, &topics, 4).await;
    let limit = dapr_rs_sidecar::config::DEFAULT_MAX_CONCURRENCY;
    assert!(most <= limit, "{most} deliveries in flight; the default limit is {limit}");
    assert!(most >= limit / 2, "only {most} in flight at once: the limit should be what holds them back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_a_limit_of_one_a_topic_is_delivered_in_order_on_the_embedded_broker() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pubsub.db");
    component(dir.path(), PUBSUB, "pubsub.sqlite", &[("path", db.to_str().unwrap())]);
    let seen: Arc<Mutex<Vec<u32>>> = Arc::default();
    let seen2 = seen.clone();
    let handler = handler_fn(move |ev: TopicEvent| {
        let seen = seen2.clone();
        async move {
            let n: u32 = std::str::from_utf8(&ev.data).unwrap().parse().unwrap();
            // Uneven handling times would let a later event overtake an earlier one if two ran at once.
            tokio::time::sleep(Duration::from_millis(u64::from((50 - n) % 7))).await;
            seen.lock().unwrap().push(n);
            Ok(TopicEventStatus::Success)
        }
    });
    let addr = "127.0.0.1:0".parse().unwrap(); // the OS picks the port; no race with other tests
    let server =
        AppServer::start_with_token(AppProtocol::Http, addr, vec![Subscription::new(PUBSUB, "orders", handler)], None).await.unwrap();
    let sc = SidecarBuilder::new("checkout", dir.path())
        .app(server.local_addr().port(), "http")
        .args(&["--app-max-concurrency", "1"])
        .start_subscribed();
    let client = sc.client();
    for n in 1..=50 {
        client.publish_event(publish("orders", n)).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.lock().unwrap().len() < 50 {
        assert!(Instant::now() < deadline, "only {} of 50 events arrived", seen.lock().unwrap().len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*seen.lock().unwrap(), (1..=50).collect::<Vec<_>>());
    drop(sc);
    server.stop().await.unwrap();
}

/// Ten thousand publishes at once on one client (one HTTP/2 connection) all succeed: each
/// request and each reply is a small DATA frame, and h2 on either side ends a connection that
/// holds too many of them unread.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousands_of_publishes_in_flight_on_one_connection_all_succeed() {
    let dir = memory_resources(PUBSUB);
    let sc = SidecarBuilder::new("orderprocessing", dir.path()).start();
    let client = sc.client();
    client.wait_for_sidecar(Duration::from_secs(20)).await.unwrap();
    // A streaming subscription on the same connection keeps the sidecar busy sending meanwhile.
    let mut stream = client.subscribe(PUBSUB, "burst", Default::default()).await.unwrap();
    let reader = tokio::spawn(async move {
        let mut received = 0;
        while received < 10_000 {
            let message = stream.next().await.expect("the stream ended").expect("the stream failed");
            message.respond(TopicEventStatus::Success).unwrap();
            received += 1;
        }
    });
    let calls = (0..10_000).map(|n| {
        let client = client.clone();
        tokio::spawn(async move { client.publish_event(publish("burst", n)).await })
    });
    let results = futures::future::join_all(calls).await;
    let failed: Vec<String> = results.into_iter().filter_map(|r| r.unwrap().err()).map(|e| e.to_string()).collect();
    assert!(failed.is_empty(), "{} of 10000 publishes failed, e.g. {}", failed.len(), failed[0]);
    tokio::time::timeout(Duration::from_secs(60), reader).await.expect("not every event was delivered").unwrap();
}

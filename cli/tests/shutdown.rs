//! Graceful shutdown on the durable embedded broker: on SIGTERM the sidecar stops taking messages,
//! lets deliveries in flight finish within `--graceful-shutdown-seconds`, never dead-letters them,
//! and exits; after a restart every event is delivered.

mod common;

use bytes::Bytes;
use common::{Sidecar, SidecarBuilder, component};
use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::{PublishRequest, Subscription, SubscriptionOptions, TopicEvent, TopicEventStatus, handler_fn};
use futures::StreamExt;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PUBSUB: &str = "order_pub_sub";

fn sqlite_component(dir: &Path) {
    let db = dir.join("pubsub.db");
    component(dir, PUBSUB, "pubsub.sqlite", &[("path", db.to_str().unwrap())]);
}

fn numbered(n: u32) -> PublishRequest {
    PublishRequest {
        pubsub_name: PUBSUB.into(),
        topic: "orders".into(),
        data: Bytes::from(n.to_string()),
        data_content_type: "application/json".into(),
        ..Default::default()
    }
}

fn number(ev: &TopicEvent) -> u32 {
    std::str::from_utf8(&ev.data).unwrap().parse().unwrap()
}

/// Publishes 1..=count through a sidecar of its own, many at a time.
async fn publish_all(publisher: &Sidecar, count: u32) {
    let client = publisher.client();
    let results: Vec<_> = futures::stream::iter(1..=count)
        .map(|n| {
            let client = client.clone();
            async move { client.publish_event(numbered(n)).await }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(results.iter().all(Result::is_ok), "{:?}", results.iter().find(|r| r.is_err()));
}

/// SIGTERM, then the exit code and how long the exit took.
async fn sigterm(sidecar: Sidecar) -> (Option<i32>, Duration) {
    let start = Instant::now();
    let code = tokio::task::spawn_blocking(move || sidecar.stop()).await.unwrap();
    (code, start.elapsed())
}

async fn wait_until(what: &str, timeout: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An app whose `orders` handler is `orders` and whose dead-letter topic handler records what
/// reaches `orders-dead`.
async fn app(orders: Arc<dyn dapr_rs_core::TopicHandler>, dead: Arc<Mutex<Vec<u32>>>) -> AppServer {
    let dead_handler = handler_fn(move |ev: TopicEvent| {
        let dead = dead.clone();
        async move {
            dead.lock().unwrap().push(number(&ev));
            Ok(TopicEventStatus::Success)
        }
    });
    let with_dlq = SubscriptionOptions { dead_letter_topic: Some("orders-dead".into()), ..Default::default() };
    let subs =
        vec![Subscription::new(PUBSUB, "orders", orders).with_options(with_dlq), Subscription::new(PUBSUB, "orders-dead", dead_handler)];
    let addr = "127.0.0.1:0".parse().unwrap(); // the OS picks the port; no race with other tests
    AppServer::start_with_token(AppProtocol::Grpc, addr, subs, None).await.unwrap()
}

fn subscriber(dir: &Path, app_port: u16, extra: &[&str]) -> Sidecar {
    let mut sc = SidecarBuilder::new("checkout", dir).app(app_port, "grpc").args(extra).start();
    sc.wait_http("/v1.0/healthz", 204, Duration::from_secs(20));
    sc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_1000_deliveries_exits_within_grace_and_a_restart_delivers_every_event() {
    let dir = tempfile::tempdir().unwrap();
    sqlite_component(dir.path());
    let seen: Arc<Mutex<Vec<u32>>> = Arc::default();
    let dead: Arc<Mutex<Vec<u32>>> = Arc::default();
    let seen2 = seen.clone();
    // A slow subscriber: 5 ms per event.
    let slow = handler_fn(move |ev: TopicEvent| {
        let seen = seen2.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            seen.lock().unwrap().push(number(&ev));
            Ok(TopicEventStatus::Success)
        }
    });
    let server = app(slow, dead.clone()).await;
    let port = server.local_addr().port();
    let flags = ["--app-max-concurrency", "2", "--graceful-shutdown-seconds", "5"];
    let sc = subscriber(dir.path(), port, &flags);
    let publisher = SidecarBuilder::new("orderprocessing", dir.path()).start();
    publish_all(&publisher, 1000).await;

    wait_until("200 events were delivered", Duration::from_secs(60), || seen.lock().unwrap().len() >= 200).await;
    let (code, took) = sigterm(sc).await;
    let before_restart = seen.lock().unwrap().len();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(5) + Duration::from_secs(2), "the sidecar took {took:?} to exit (grace 5 s)");
    assert!(before_restart < 1000, "the sidecar was stopped mid-way (it had delivered {before_restart})");

    let sc = subscriber(dir.path(), port, &flags);
    let all_delivered = || seen.lock().unwrap().iter().collect::<HashSet<_>>().len() == 1000;
    wait_until("every event was delivered after the restart", Duration::from_secs(60), all_delivered).await;
    let distinct: HashSet<u32> = seen.lock().unwrap().iter().copied().collect();
    assert_eq!(distinct, (1..=1000).collect());
    assert!(dead.lock().unwrap().is_empty(), "dead-lettered: {:?}", dead.lock().unwrap());
    drop(sc);
    server.stop().await.unwrap();
}

/// The app's phases in the next test.
const RUNNING: u8 = 0;
const GOING_DOWN: u8 = 1;
const RESTARTED: u8 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn at_shutdown_no_new_delivery_starts_and_a_failed_one_goes_back_to_the_broker_not_the_dead_letter_topic() {
    let dir = tempfile::tempdir().unwrap();
    sqlite_component(dir.path());
    let phase = Arc::new(AtomicU8::new(RUNNING));
    let delivered: Arc<Mutex<Vec<u32>>> = Arc::default();
    let started_while_going_down: Arc<Mutex<Vec<u32>>> = Arc::default();
    let dead: Arc<Mutex<Vec<u32>>> = Arc::default();
    let (phase2, delivered2, late2) = (phase.clone(), delivered.clone(), started_while_going_down.clone());
    // Event 1 holds the only app slot until the test sends SIGTERM; then, like an app that is
    // itself going down, the handler answers RETRY to everything until the restart.
    let handler = handler_fn(move |ev: TopicEvent| {
        let (phase, delivered, late) = (phase2.clone(), delivered2.clone(), late2.clone());
        async move {
            let n = number(&ev);
            match phase.load(Ordering::SeqCst) {
                GOING_DOWN => {
                    late.lock().unwrap().push(n);
                    return Ok(TopicEventStatus::Retry);
                }
                RUNNING if n == 1 => {
                    while phase.load(Ordering::SeqCst) == RUNNING {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    return Ok(TopicEventStatus::Retry);
                }
                _ => {}
            }
            delivered.lock().unwrap().push(n);
            Ok(TopicEventStatus::Success)
        }
    });
    let server = app(handler, dead.clone()).await;
    let port = server.local_addr().port();
    let flags = ["--app-max-concurrency", "1", "--graceful-shutdown-seconds", "10"];
    let sc = subscriber(dir.path(), port, &flags);
    let client = sc.client();
    for n in 1..=5 {
        client.publish_event(numbered(n)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(delivered.lock().unwrap().is_empty(), "event 1 holds the only app slot");

    phase.store(GOING_DOWN, Ordering::SeqCst);
    let (code, took) = sigterm(sc).await;
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(3), "the sidecar took {took:?}; it should not wait for deliveries it never started");
    assert_eq!(*started_while_going_down.lock().unwrap(), Vec::<u32>::new(), "deliveries started after SIGTERM");

    phase.store(RESTARTED, Ordering::SeqCst);
    let sc = subscriber(dir.path(), port, &flags);
    wait_until("every event was delivered after the restart", Duration::from_secs(30), || delivered.lock().unwrap().len() >= 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(dead.lock().unwrap().is_empty(), "dead-lettered at shutdown: {:?}", dead.lock().unwrap());
    let mut got = delivered.lock().unwrap().clone();
    got.sort();
    assert_eq!(got, [1, 2, 3, 4, 5]);
    drop(sc);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delivery_longer_than_the_grace_period_is_cut_at_the_deadline_and_redelivered_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    sqlite_component(dir.path());
    let first_call = Arc::new(AtomicBool::new(true));
    let done: Arc<Mutex<Vec<String>>> = Arc::default();
    let started: Arc<Mutex<Vec<String>>> = Arc::default();
    let (first2, done2, started2) = (first_call.clone(), done.clone(), started.clone());
    let handler = handler_fn(move |ev: TopicEvent| {
        let (first, done, started) = (first2.clone(), done2.clone(), started2.clone());
        async move {
            started.lock().unwrap().push(ev.id.clone());
            if first.swap(false, Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            done.lock().unwrap().push(ev.id);
            Ok(TopicEventStatus::Success)
        }
    });
    let server = app(handler, Arc::default()).await;
    let port = server.local_addr().port();
    let flags = ["--graceful-shutdown-seconds", "1"];
    let sc = subscriber(dir.path(), port, &flags);
    sc.client().publish_event(numbered(1)).await.unwrap();
    wait_until("the slow delivery started", Duration::from_secs(10), || !started.lock().unwrap().is_empty()).await;

    let (code, took) = sigterm(sc).await;
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(1) + Duration::from_millis(1500), "the sidecar took {took:?} to exit (grace 1 s)");
    assert!(done.lock().unwrap().is_empty());

    let sc = subscriber(dir.path(), port, &flags);
    wait_until("the cut delivery was redelivered", Duration::from_secs(20), || !done.lock().unwrap().is_empty()).await;
    assert_eq!(done.lock().unwrap()[0], started.lock().unwrap()[0], "the same event, redelivered");
    drop(sc);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_streaming_subscriber_still_answers_its_events_in_flight_during_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    sqlite_component(dir.path());
    let flags = ["--graceful-shutdown-seconds", "5"];
    let sc = SidecarBuilder::new("streamer", dir.path()).args(&flags).start();
    let client = sc.client();
    let mut stream = client.subscribe(PUBSUB, "orders", SubscriptionOptions::default()).await.unwrap();
    client.publish_event(numbered(1)).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(number(&first.event), 1);

    // SIGTERM with the event unanswered; the answer comes 300 ms later.
    let stopping = tokio::spawn(sigterm(sc));
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.respond(TopicEventStatus::Success).unwrap();
    let (code, took) = stopping.await.unwrap();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(2), "the sidecar took {took:?}: the answer should have ended the delivery");
    drop(stream);

    // The answer was taken: after a restart only new events arrive.
    let sc = SidecarBuilder::new("streamer", dir.path()).args(&flags).start();
    let client = sc.client();
    let mut stream = client.subscribe(PUBSUB, "orders", SubscriptionOptions::default()).await.unwrap();
    client.publish_event(numbered(2)).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(number(&next.event), 2, "event 1 was acknowledged before the sidecar exited");
    next.respond(TopicEventStatus::Success).unwrap();
}

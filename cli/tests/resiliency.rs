//! A `Resiliency` resource in the resources path sets the retries (and the per-attempt timeout) of
//! deliveries from a pubsub component to the app; then the dead-letter topic takes over.

mod common;

use bytes::Bytes;
use common::{SidecarBuilder, free_port, memory_resources, resiliency};
use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::{PublishRequest, Subscription, SubscriptionOptions, TopicEvent, TopicEventStatus, handler_fn};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PUBSUB: &str = "order_pub_sub";

/// When each delivery of `orders` reached the app, and what reached `orders-dead`.
type Log = Arc<Mutex<Vec<(Instant, String)>>>;

/// An app answering `answer(n)` to the n-th delivery of `orders` (after `delay(n)`).
async fn app(answer: fn(usize) -> TopicEventStatus, delay: fn(usize) -> Duration) -> (AppServer, Log, Log) {
    let (orders, dead): (Log, Log) = Default::default();
    let orders2 = orders.clone();
    let on_order = handler_fn(move |ev: TopicEvent| {
        let orders = orders2.clone();
        async move {
            let n = {
                let mut orders = orders.lock().unwrap();
                orders.push((Instant::now(), ev.id));
                orders.len() - 1
            };
            tokio::time::sleep(delay(n)).await;
            Ok(answer(n))
        }
    });
    let dead2 = dead.clone();
    let on_dead = handler_fn(move |ev: TopicEvent| {
        let dead = dead2.clone();
        async move {
            dead.lock().unwrap().push((Instant::now(), ev.id));
            Ok(TopicEventStatus::Success)
        }
    });
    let with_dlq = SubscriptionOptions { dead_letter_topic: Some("orders-dead".into()), ..Default::default() };
    let subs =
        vec![Subscription::new(PUBSUB, "orders", on_order).with_options(with_dlq), Subscription::new(PUBSUB, "orders-dead", on_dead)];
    let addr = "127.0.0.1:0".parse().unwrap(); // the OS picks the port; no race with other tests
    (AppServer::start_with_token(AppProtocol::Grpc, addr, subs, None).await.unwrap(), orders, dead)
}

fn order() -> PublishRequest {
    PublishRequest {
        pubsub_name: PUBSUB.into(),
        topic: "orders".into(),
        data: Bytes::from_static(b"{\"orderId\":1}"),
        data_content_type: "application/json".into(),
        ..Default::default()
    }
}

async fn wait_for(log: &Log, count: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while log.lock().unwrap().len() < count {
        assert!(Instant::now() < deadline, "{} of {count} deliveries within {within:?}", log.lock().unwrap().len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_inbound_retry_policy_sets_count_and_interval_then_the_dead_letter_topic_takes_the_event() {
    let dir = memory_resources(PUBSUB);
    resiliency(
        dir.path(),
        "  policies:\n    retries:\n      pubsubRetry:\n        policy: constant\n        duration: 150ms\n        maxRetries: 5\n  targets:\n    components:\n      order_pub_sub:\n        inbound:\n          retry: pubsubRetry\n",
    );
    let (server, orders, dead) = app(|_| TopicEventStatus::Retry, |_| Duration::ZERO).await;
    let sc = SidecarBuilder::new("checkout", dir.path()).app(server.local_addr().port(), "grpc").start_subscribed();
    sc.client().publish_event(order()).await.unwrap();
    wait_for(&dead, 1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let orders = orders.lock().unwrap().clone();
    assert_eq!(orders.len(), 6, "one delivery and maxRetries 5 retries");
    assert!(orders.iter().all(|(_, id)| id == &orders[0].1));
    for pair in orders.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap >= Duration::from_millis(140) && gap < Duration::from_secs(1), "constant 150ms, got {gap:?}");
    }
    assert_eq!(dead.lock().unwrap()[0].1, orders[0].1, "the same event was dead-lettered");
    drop(sc);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attempt_over_the_inbound_timeout_counts_as_a_retry() {
    let dir = memory_resources(PUBSUB);
    resiliency(
        dir.path(),
        "  policies:\n    timeouts:\n      quick: 300ms\n    retries:\n      fast:\n        policy: constant\n        duration: 10ms\n        maxRetries: 3\n  targets:\n    components:\n      order_pub_sub:\n        inbound:\n          timeout: quick\n          retry: fast\n",
    );
    // The first attempt hangs for 5 s; the second answers at once.
    let (server, orders, dead) = app(|_| TopicEventStatus::Success, |n| if n == 0 { Duration::from_secs(5) } else { Duration::ZERO }).await;
    let sc = SidecarBuilder::new("checkout", dir.path()).app(server.local_addr().port(), "grpc").start_subscribed();
    sc.client().publish_event(order()).await.unwrap();
    wait_for(&orders, 2, Duration::from_secs(3)).await;
    let orders = orders.lock().unwrap().clone();
    let gap = orders[1].0 - orders[0].0;
    assert!(gap >= Duration::from_millis(290) && gap < Duration::from_secs(2), "timed out after 300ms, got {gap:?}");
    assert_eq!(orders[0].1, orders[1].1);
    assert!(dead.lock().unwrap().is_empty());
    drop(sc);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resiliency_scoped_to_another_app_does_not_apply() {
    let dir = memory_resources(PUBSUB);
    resiliency(
        dir.path(),
        "  policies:\n    retries:\n      many:\n        policy: constant\n        duration: 10ms\n        maxRetries: 9\n  targets:\n    components:\n      order_pub_sub:\n        inbound:\n          retry: many\n",
    );
    let scoped = std::fs::read_to_string(dir.path().join("resiliency.yaml")).unwrap().replace("  - checkout", "  - someone-else");
    std::fs::write(dir.path().join("resiliency.yaml"), scoped).unwrap();
    let (server, orders, dead) = app(|_| TopicEventStatus::Retry, |_| Duration::ZERO).await;
    let sc = SidecarBuilder::new("checkout", dir.path()).app(server.local_addr().port(), "grpc").start_subscribed();
    sc.client().publish_event(order()).await.unwrap();
    wait_for(&dead, 1, Duration::from_secs(10)).await;
    assert_eq!(orders.lock().unwrap().len(), 4, "the default: one delivery and 3 retries");
    drop(sc);
    server.stop().await.unwrap();
}

#[test]
fn a_target_naming_a_missing_policy_stops_the_sidecar_naming_file_and_policy() {
    let dir = memory_resources(PUBSUB);
    resiliency(
        dir.path(),
        "  policies:\n    retries: {}\n  targets:\n    components:\n      order_pub_sub:\n        inbound:\n          retry: typo\n",
    );
    let out = common::output_within(
        SidecarBuilder::new("checkout", dir.path()).command(free_port(), free_port()),
        std::time::Duration::from_secs(30),
        "the sidecar to refuse the resiliency file",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("resiliency.yaml") && err.contains("typo"), "{err}");

    resiliency(dir.path(), "  policies:\n    retries:\n      r: {policy: sometimes}\n");
    let out = common::output_within(
        SidecarBuilder::new("checkout", dir.path()).command(free_port(), free_port()),
        std::time::Duration::from_secs(30),
        "the sidecar to refuse the resiliency file",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("resiliency.yaml") && err.contains("r.policy") && err.contains("sometimes"), "{err}");
}

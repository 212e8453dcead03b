//! Bulk deliveries obey the same limits as single ones: each bulk call takes one
//! `--app-max-concurrency` slot (shared with every other subscription of the app), and a call the
//! app does not answer within the Resiliency inbound timeout counts as a RETRY of its entries.

mod common;

use axum::extract::{Path as UrlPath, State};
use axum::routing::{get, post};
use common::{SidecarBuilder, memory_resources, resiliency};
use serde_json::{Value as Json, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PUBSUB: &str = "pubsub";

/// One bulk call as the app saw it.
#[derive(Debug, Clone)]
struct Call {
    at: Instant,
    topic: String,
    entry_ids: Vec<String>,
}

/// An HTTP app whose every topic is bulk-subscribed; the n-th call (from 0) takes `delay(n)`
/// before answering SUCCESS for each of its entries.
#[derive(Clone)]
struct BulkApp {
    topics: Vec<&'static str>,
    delay: fn(usize) -> Duration,
    calls: Arc<Mutex<Vec<Call>>>,
    answered: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
}

impl BulkApp {
    async fn serve(topics: Vec<&'static str>, delay: fn(usize) -> Duration) -> (Self, u16) {
        let app = Self {
            topics,
            delay,
            calls: Arc::default(),
            answered: Arc::default(),
            in_flight: Arc::default(),
            most_in_flight: Arc::default(),
        };
        let router =
            axum::Router::new().route("/dapr/subscribe", get(subscriptions)).route("/{topic}", post(bulk_call)).with_state(app.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(); // the OS picks the port
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (app, port)
    }

    /// Events answered so far (entries of finished calls).
    fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

async fn subscriptions(State(app): State<BulkApp>) -> axum::Json<Json> {
    let bulk = json!({"enabled": true, "maxMessagesCount": 10, "maxAwaitDurationMs": 100});
    axum::Json(
        app.topics.iter().map(|t| json!({"pubsubname": PUBSUB, "topic": t, "route": format!("/{t}"), "bulkSubscribe": bulk})).collect(),
    )
}

async fn bulk_call(
    State(app): State<BulkApp>,
    UrlPath(topic): UrlPath<String>,
    axum::Json(envelope): axum::Json<Json>,
) -> axum::Json<Json> {
    let entry_ids: Vec<String> =
        envelope["entries"].as_array().unwrap().iter().map(|e| e["entryId"].as_str().unwrap().to_owned()).collect();
    let n = {
        let mut calls = app.calls.lock().unwrap();
        calls.push(Call { at: Instant::now(), topic, entry_ids: entry_ids.clone() });
        calls.len() - 1
    };
    let now = app.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    app.most_in_flight.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep((app.delay)(n)).await;
    app.in_flight.fetch_sub(1, Ordering::SeqCst);
    app.answered.fetch_add(entry_ids.len(), Ordering::SeqCst);
    axum::Json(json!({"statuses": entry_ids.iter().map(|id| json!({"entryId": id, "status": "SUCCESS"})).collect::<Vec<_>>()}))
}

async fn publish(sc: &common::Sidecar, topic: &str, count: usize) {
    let client = sc.client();
    for n in 0..count {
        let request = dapr_rs_core::PublishRequest {
            pubsub_name: PUBSUB.into(),
            topic: topic.into(),
            data: bytes::Bytes::from(n.to_string()),
            data_content_type: "application/json".into(),
            ..Default::default()
        };
        client.publish_event(request).await.unwrap();
    }
}

async fn wait_until(what: &str, within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Bulk calls to two topics, each taking 150 ms; returns the most the app saw in flight at once.
async fn most_bulk_calls_in_flight(max_concurrency: Option<&str>) -> usize {
    let dir = memory_resources(PUBSUB);
    let (app, port) = BulkApp::serve(vec!["orders", "payments"], |_| Duration::from_millis(150)).await;
    let mut builder = SidecarBuilder::new("checkout", dir.path()).app(port, "http");
    if let Some(n) = max_concurrency {
        builder = builder.args(&["--app-max-concurrency", n]);
    }
    let sc = builder.start_subscribed();
    for round in 0..3 {
        publish(&sc, "orders", 2).await;
        publish(&sc, "payments", 2).await;
        wait_until(&format!("round {round} answered"), Duration::from_secs(20), || app.answered() == 4 * (round + 1)).await;
    }
    app.most_in_flight.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_bulk_call_takes_an_app_concurrency_slot_shared_across_subscriptions() {
    assert_eq!(most_bulk_calls_in_flight(Some("1")).await, 1);
    // Without the flag the two subscriptions' calls do overlap, so the limit above is what held them.
    assert!(most_bulk_calls_in_flight(None).await >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_call_over_the_inbound_timeout_is_retried() {
    let dir = memory_resources(PUBSUB);
    resiliency(
        dir.path(),
        "  policies:\n    timeouts:\n      quick: 300ms\n    retries:\n      fast:\n        policy: constant\n        duration: 10ms\n        maxRetries: 3\n  targets:\n    components:\n      pubsub:\n        inbound:\n          timeout: quick\n          retry: fast\n",
    );
    // The first call hangs for 5 s; the next answers at once.
    let (app, port) = BulkApp::serve(vec!["orders"], |n| if n == 0 { Duration::from_secs(5) } else { Duration::ZERO }).await;
    let sc = SidecarBuilder::new("checkout", dir.path()).app(port, "http").start_subscribed();
    publish(&sc, "orders", 1).await;
    wait_until("a second bulk call", Duration::from_secs(3), || app.calls().len() >= 2).await;
    let calls = app.calls();
    let gap = calls[1].at - calls[0].at;
    assert!(gap >= Duration::from_millis(290) && gap < Duration::from_secs(2), "timed out after 300ms, got {gap:?}");
    assert_eq!(calls[1].topic, "orders");
    assert_eq!(calls[1].entry_ids, calls[0].entry_ids, "the timed-out entries are the ones sent again");
    wait_until("the retried entry answered", Duration::from_secs(3), || app.answered() >= 1).await;
}

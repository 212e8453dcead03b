//! Bulk delivery (`bulkSubscribe`) through a real sidecar: batches reach the app over gRPC
//! (`OnBulkTopicEvent`, or `AppCallbackAlpha/OnBulkTopicEventAlpha1` when that is all the app
//! has) and HTTP (the bulk envelope), and each entry's outcome is applied on its own: RETRY and
//! missing entries are redelivered, DROP goes to the dead-letter topic.

mod common;

use bytes::Bytes;
use common::{Sidecar, SidecarBuilder, memory_resources};
use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::{BulkSubscribeOptions, PublishRequest, Subscription, SubscriptionOptions, TopicEvent, TopicEventStatus, handler_fn};
use dapr_rs_proto::common::{InvokeRequest, InvokeResponse};
use dapr_rs_proto::runtime::app_callback_alpha_server::{AppCallbackAlpha, AppCallbackAlphaServer};
use dapr_rs_proto::runtime::app_callback_server::{AppCallback, AppCallbackServer};
use dapr_rs_proto::runtime::topic_event_bulk_request_entry::Event as BulkEvent;
use dapr_rs_proto::runtime::{
    BulkSubscribeConfig, JobEventRequest, JobEventResponse, ListTopicSubscriptionsResponse, TopicEventBulkRequest, TopicEventBulkResponse,
    TopicEventBulkResponseEntry, TopicEventRequest, TopicEventResponse, TopicRoutes, TopicSubscription,
};
use serde_json::{Value as Json, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

const PUBSUB: &str = "order_pub_sub";

async fn start_sidecar(dir: &tempfile::TempDir, app_port: u16, protocol: &'static str) -> Sidecar {
    SidecarBuilder::new("checkout", dir.path()).app(app_port, protocol).start_subscribed()
}

/// Publishes `items` (text) to `topic` in one HTTP bulk publish.
fn bulk_publish(sc: &Sidecar, topic: &str, items: &[&str]) {
    let entries: Vec<Json> =
        items.iter().enumerate().map(|(i, item)| json!({"entryId": i.to_string(), "event": item, "contentType": "text/plain"})).collect();
    let path = format!("/v1.0/publish/bulk/{PUBSUB}/{topic}");
    let (status, body) = sc.http("POST", &path, &[("content-type", "application/json")], &serde_json::to_vec(&entries).unwrap());
    assert_eq!(status, 204, "{body}");
}

/// Polls `done` until it holds (10 s at most).
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---- core's AppServer as the app ----------------------------------------------------------------

async fn core_app_gets_batches(protocol: AppProtocol, flag: &'static str) {
    let dir = memory_resources(PUBSUB);
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, TopicEvent)>();
    let seen = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    let seen2 = seen.clone();
    let handler = handler_fn(move |ev: TopicEvent| {
        let (tx, seen) = (tx.clone(), seen2.clone());
        async move {
            let data = String::from_utf8_lossy(&ev.data).into_owned();
            let n = {
                let mut seen = lock(&seen);
                let n = seen.entry(data.clone()).or_default();
                *n += 1;
                *n
            };
            tx.send((Instant::now(), ev)).unwrap();
            let retry = (data == "retry-once" && n == 1) || (data == "retry-5" && n <= 5);
            Ok(if retry { TopicEventStatus::Retry } else { TopicEventStatus::Success })
        }
    });
    let bulk = BulkSubscribeOptions { max_messages_count: 5, max_await_duration_ms: 1500 };
    let sub =
        Subscription::new(PUBSUB, "orders", handler).with_options(SubscriptionOptions { bulk_subscribe: Some(bulk), ..Default::default() });
    let addr = "127.0.0.1:0".parse().unwrap(); // the OS picks the port; no race with other tests
    let server = AppServer::start_with_token(protocol, addr, vec![sub], None).await.unwrap();
    let sc = start_sidecar(&dir, server.local_addr().port(), flag).await;
    let client = sc.client();
    let publish = |n: u32| {
        let client = client.clone();
        async move {
            let req = PublishRequest {
                pubsub_name: PUBSUB.into(),
                topic: "orders".into(),
                data: Bytes::from(format!("event-{n}")),
                data_content_type: "text/plain".into(),
                ..Default::default()
            };
            client.publish_event(req).await.unwrap();
        }
    };

    // Four events wait for their batch to fill: a one-by-one delivery would have them by now.
    for n in 1..=4 {
        publish(n).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(rx.try_recv().is_err(), "{flag}: delivered before the batch was full");
    let fifth = Instant::now();
    publish(5).await;
    let mut batch = Vec::new();
    for _ in 0..5 {
        batch.push(tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("the full batch").unwrap());
    }
    let mut data: Vec<String> = batch.iter().map(|(_, e)| String::from_utf8_lossy(&e.data).into_owned()).collect();
    data.sort();
    assert_eq!(data, ["event-1", "event-2", "event-3", "event-4", "event-5"], "{flag}");
    for (at, ev) in &batch {
        assert!(*at >= fifth, "{flag}: an entry arrived before the batch was full");
        assert_eq!(
            (ev.source.as_str(), ev.event_type.as_str(), ev.data_content_type.as_str()),
            ("checkout", "com.dapr.event.sent", "text/plain")
        );
        assert_eq!((ev.topic.as_str(), ev.pubsub_name.as_str()), ("orders", PUBSUB));
        assert!(ev.extensions["traceparent"].as_str().unwrap().starts_with("00-"), "{flag}: {:?}", ev.extensions);
    }

    // A partial batch goes after maxAwaitDurationMs. RETRY sends an entry again, alone; after the
    // last retry (four tries) it goes back to the broker, which redelivers it.
    let published = Instant::now();
    publish_text(&client, "retry-once").await;
    publish_text(&client, "retry-5").await;
    let (first_at, _) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
    assert!(first_at - published >= Duration::from_millis(1000), "{flag}: a partial batch left after {:?}", first_at - published);
    eventually("retry-5 acknowledged", || lock(&seen).get("retry-5") == Some(&6)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut again = Vec::new();
    while let Ok((_, ev)) = rx.try_recv() {
        again.push(ev);
    }
    assert_eq!(lock(&seen).get("retry-once"), Some(&2), "{flag}");
    assert_eq!(lock(&seen).values().sum::<usize>(), 13, "{flag}: acknowledged events came back: {:?}", lock(&seen));
    let ids: HashSet<&str> = again.iter().filter(|e| e.data.as_ref() == b"retry-5").map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), 1, "{flag}: every redelivery is the same event");
    drop(sc);
    server.stop().await.unwrap();
}

async fn publish_text(client: &dapr_rs_core::DaprClient, text: &str) {
    let req = PublishRequest {
        pubsub_name: PUBSUB.into(),
        topic: "orders".into(),
        data: Bytes::from(text.to_owned()),
        data_content_type: "text/plain".into(),
        ..Default::default()
    };
    client.publish_event(req).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_core_app_gets_batches() {
    core_app_gets_batches(AppProtocol::Grpc, "grpc").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_core_app_gets_batches() {
    core_app_gets_batches(AppProtocol::Http, "http").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_batch_is_delivered_at_shutdown() {
    let dir = memory_resources(PUBSUB);
    let (tx, mut rx) = mpsc::unbounded_channel::<TopicEvent>();
    let handler = handler_fn(move |ev: TopicEvent| {
        let tx = tx.clone();
        async move {
            tx.send(ev).unwrap();
            Ok(TopicEventStatus::Success)
        }
    });
    // The batch would wait a minute to fill; SIGTERM sends it at once, within the grace period.
    let bulk = BulkSubscribeOptions { max_messages_count: 100, max_await_duration_ms: 60_000 };
    let sub =
        Subscription::new(PUBSUB, "orders", handler).with_options(SubscriptionOptions { bulk_subscribe: Some(bulk), ..Default::default() });
    let addr = "127.0.0.1:0".parse().unwrap(); // the OS picks the port; no race with other tests
    let server = AppServer::start_with_token(AppProtocol::Grpc, addr, vec![sub], None).await.unwrap();
    let sc = start_sidecar(&dir, server.local_addr().port(), "grpc").await;
    publish_text(&sc.client(), "last words").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err(), "the batch is still waiting to fill");
    let stopping = Instant::now();
    let code = tokio::task::spawn_blocking(move || sc.stop()).await.unwrap();
    assert_eq!(code, Some(0));
    assert!(stopping.elapsed() < Duration::from_secs(4), "stopped after {:?}", stopping.elapsed());
    assert_eq!(rx.try_recv().expect("delivered before the sidecar exited").data.as_ref(), b"last words");
    server.stop().await.unwrap();
}

// ---- a gRPC app with only the Alpha1 bulk RPC ---------------------------------------------------

/// What a bulk call carried, as the app saw it.
#[derive(Debug, Clone)]
struct Batch {
    request: TopicEventBulkRequest,
    /// Each entry's payload as text.
    data: Vec<String>,
}

#[derive(Default)]
struct Recorded {
    stable_calls: usize,
    alpha_calls: usize,
    batches: Vec<Batch>,
    /// Events on the dead-letter topic (single deliveries).
    dead_letters: Vec<TopicEventRequest>,
    seen: HashMap<String, usize>,
}

/// Implements `AppCallback`, whose `OnBulkTopicEvent` is Unimplemented, and `AppCallbackAlpha`,
/// whose `OnBulkTopicEventAlpha1` is Unimplemented too unless `.1` is set. Replies per entry by
/// payload: `drop` → DROP, `retry-always` → RETRY, `omit-once` → left out of the first reply,
/// anything else SUCCESS.
#[derive(Clone)]
struct AlphaOnlyApp(Arc<Mutex<Recorded>>, bool);

fn entry_text(entry: &dapr_rs_proto::runtime::TopicEventBulkRequestEntry) -> String {
    match &entry.event {
        Some(BulkEvent::CloudEvent(ce)) => String::from_utf8_lossy(&ce.data).into_owned(),
        Some(BulkEvent::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
        None => String::new(),
    }
}

#[tonic::async_trait]
impl AppCallback for AlphaOnlyApp {
    async fn on_invoke(&self, _: Request<InvokeRequest>) -> Result<Response<InvokeResponse>, Status> {
        Err(Status::unimplemented("no invoke"))
    }

    async fn list_topic_subscriptions(&self, _: Request<()>) -> Result<Response<ListTopicSubscriptionsResponse>, Status> {
        let bulk = |count| Some(BulkSubscribeConfig { enabled: true, max_messages_count: count, max_await_duration_ms: 400 });
        let subscriptions = vec![
            TopicSubscription {
                pubsub_name: PUBSUB.into(),
                topic: "orders".into(),
                routes: Some(TopicRoutes { rules: vec![], default: "/orders".into() }),
                dead_letter_topic: "orders-dlq".into(),
                bulk_subscribe: bulk(3),
                ..Default::default()
            },
            TopicSubscription { pubsub_name: PUBSUB.into(), topic: "orders-dlq".into(), ..Default::default() },
        ];
        Ok(Response::new(ListTopicSubscriptionsResponse { subscriptions }))
    }

    async fn on_topic_event(&self, req: Request<TopicEventRequest>) -> Result<Response<TopicEventResponse>, Status> {
        lock(&self.0).dead_letters.push(req.into_inner());
        Ok(Response::new(TopicEventResponse { status: 0 }))
    }

    async fn on_bulk_topic_event(&self, _: Request<TopicEventBulkRequest>) -> Result<Response<TopicEventBulkResponse>, Status> {
        lock(&self.0).stable_calls += 1;
        Err(Status::unimplemented("this app only has OnBulkTopicEventAlpha1"))
    }

    async fn on_job_event(&self, _: Request<JobEventRequest>) -> Result<Response<JobEventResponse>, Status> {
        Err(Status::unimplemented("no jobs"))
    }
}

#[tonic::async_trait]
impl AppCallbackAlpha for AlphaOnlyApp {
    async fn on_bulk_topic_event_alpha1(&self, req: Request<TopicEventBulkRequest>) -> Result<Response<TopicEventBulkResponse>, Status> {
        let request = req.into_inner();
        let data: Vec<String> = request.entries.iter().map(entry_text).collect();
        let mut rec = lock(&self.0);
        rec.alpha_calls += 1;
        if !self.1 {
            return Err(Status::unimplemented("no bulk RPC at all"));
        }
        let mut statuses = Vec::new();
        for (entry, text) in request.entries.iter().zip(&data) {
            let n = {
                let n = rec.seen.entry(text.clone()).or_default();
                *n += 1;
                *n
            };
            let status = match text.as_str() {
                "drop" => 2,
                "retry-always" => 1,
                "omit-once" if n == 1 => continue,
                _ => 0,
            };
            statuses.push(TopicEventBulkResponseEntry { entry_id: entry.entry_id.clone(), status });
        }
        rec.batches.push(Batch { request, data });
        Ok(Response::new(TopicEventBulkResponse { statuses }))
    }

    async fn on_job_event_alpha1(&self, _: Request<JobEventRequest>) -> Result<Response<JobEventResponse>, Status> {
        Err(Status::unimplemented("no jobs"))
    }
}

async fn serve_alpha_app(with_alpha: bool) -> (Arc<Mutex<Recorded>>, u16, tokio::sync::oneshot::Sender<()>) {
    let recorded = Arc::new(Mutex::new(Recorded::default()));
    let app = AlphaOnlyApp(recorded.clone(), with_alpha);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router =
        tonic::transport::Server::builder().add_service(AppCallbackServer::new(app.clone())).add_service(AppCallbackAlphaServer::new(app));
    tokio::spawn(router.serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), async {
        let _ = stopped.await;
    }));
    (recorded, port, stop)
}

#[tokio::test(flavor = "multi_thread")]
async fn alpha1_only_app_gets_batches_and_per_entry_outcomes() {
    let dir = memory_resources(PUBSUB);
    let (rec, port, _stop) = serve_alpha_app(true).await;
    let sc = start_sidecar(&dir, port, "grpc").await;

    bulk_publish(&sc, "orders", &["a", "b", "c"]);
    eventually("the first batch", || lock(&rec).batches.len() == 1).await;
    {
        let rec = lock(&rec);
        let batch = &rec.batches[0];
        let mut data = batch.data.clone();
        data.sort();
        assert_eq!(data, ["a", "b", "c"], "three concurrent messages make one batch");
        let req = &batch.request;
        assert_eq!((req.topic.as_str(), req.pubsub_name.as_str(), req.path.as_str()), ("orders", PUBSUB, "/orders"));
        assert_eq!(req.r#type, "com.dapr.event.sent.bulk");
        assert_eq!(req.metadata.get("pubsubName").map(String::as_str), Some(PUBSUB));
        assert!(uuid::Uuid::parse_str(&req.id).is_ok());
        for entry in &req.entries {
            assert!(uuid::Uuid::parse_str(&entry.entry_id).is_ok());
            assert_eq!(entry.content_type, "application/cloudevents+json");
            let Some(BulkEvent::CloudEvent(ce)) = &entry.event else { panic!("a CloudEvent entry") };
            assert_eq!((ce.source.as_str(), ce.spec_version.as_str(), ce.data_content_type.as_str()), ("checkout", "1.0", "text/plain"));
            assert!(ce.extensions.as_ref().unwrap().fields.contains_key("traceparent"));
        }
        assert_eq!(rec.stable_calls, 1, "OnBulkTopicEvent was tried first");
    }

    // DROP goes to the dead-letter topic; an entry left out of the reply is sent again.
    bulk_publish(&sc, "orders", &["drop", "omit-once", "d"]);
    eventually("omit-once redelivered", || lock(&rec).seen.get("omit-once") == Some(&2)).await;
    eventually("drop dead-lettered", || lock(&rec).dead_letters.len() == 1).await;
    // RETRY every time: the first try and three retries, then the dead-letter topic.
    bulk_publish(&sc, "orders", &["retry-always"]);
    eventually("retry-always dead-lettered", || lock(&rec).dead_letters.len() == 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rec = lock(&rec);
    assert_eq!(rec.stable_calls, 1, "the fallback is remembered for the app channel");
    assert_eq!(rec.seen["retry-always"], 4);
    for once in ["a", "b", "c", "d", "drop"] {
        assert_eq!(rec.seen[once], 1, "{once}");
    }
    assert!(rec.batches.iter().any(|b| b.data.len() > 1));
    assert!(
        rec.batches.iter().all(|b| b.data.len() <= 3),
        "maxMessagesCount is 3: {:?}",
        rec.batches.iter().map(|b| &b.data).collect::<Vec<_>>()
    );
    let mut dead: Vec<(String, String)> =
        rec.dead_letters.iter().map(|e| (e.topic.clone(), String::from_utf8_lossy(&e.data).into_owned())).collect();
    dead.sort();
    assert_eq!(dead, [("orders-dlq".to_owned(), "drop".to_owned()), ("orders-dlq".to_owned(), "retry-always".to_owned())]);
    // The dead letter is the original event, not a new one.
    let original = rec.batches.iter().flat_map(|b| &b.request.entries).find(|e| entry_text(e) == "drop").unwrap();
    let Some(BulkEvent::CloudEvent(ce)) = &original.event else { panic!() };
    assert_eq!(rec.dead_letters.iter().find(|e| e.data.as_ref() == b"drop").unwrap().id, ce.id);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_without_any_bulk_rpc_drops_the_batch() {
    let dir = memory_resources(PUBSUB);
    let (rec, port, _stop) = serve_alpha_app(false).await;
    let sc = start_sidecar(&dir, port, "grpc").await;
    bulk_publish(&sc, "orders", &["x", "y"]);
    eventually("both dead-lettered", || lock(&rec).dead_letters.len() == 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rec = lock(&rec);
    assert_eq!((rec.stable_calls, rec.alpha_calls), (1, 1), "both RPCs tried once, never retried");
    assert!(rec.batches.is_empty());
    assert_eq!(rec.dead_letters.len(), 2, "dropped once, never redelivered");
}

// ---- an HTTP app --------------------------------------------------------------------------------

#[derive(Default)]
struct HttpRecorded {
    /// Bulk bodies POSTed to /orders and /raw, with their Content-Type.
    envelopes: Vec<(String, Json)>,
    dead_letters: Vec<Json>,
    seen: HashMap<String, usize>,
}

type HttpState = Arc<Mutex<HttpRecorded>>;

async fn http_subscribe() -> axum::Json<Json> {
    let bulk = json!({"enabled": true, "maxMessagesCount": 4, "maxAwaitDurationMs": 300});
    axum::Json(json!([
        {"pubsubname": PUBSUB, "topic": "orders", "route": "/orders", "deadLetterTopic": "orders-dlq", "bulkSubscribe": bulk},
        {"pubsubname": PUBSUB, "topic": "raw", "route": "/raw", "metadata": {"rawPayload": "true"}, "bulkSubscribe": bulk},
        {"pubsubname": PUBSUB, "topic": "gone", "route": "/gone", "deadLetterTopic": "orders-dlq", "bulkSubscribe": {"enabled": true}},
        {"pubsubname": PUBSUB, "topic": "orders-dlq", "route": "/dlq"}
    ]))
}

/// Replies by each entry's data: `drop` → DROP, `retry-always` → RETRY, `empty-once` → empty
/// status first, `missing-once` → left out first, `bad-reply-once` → an unparsable reply first.
async fn http_bulk(
    axum::extract::State(state): axum::extract::State<HttpState>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let envelope: Json = serde_json::from_slice(&body).unwrap();
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let mut rec = lock(&state);
    rec.envelopes.push((content_type, envelope.clone()));
    let mut statuses = Vec::new();
    let mut bad_reply = false;
    for entry in envelope["entries"].as_array().unwrap() {
        let data = entry["event"]["data"].as_str().or(entry["event"].as_str()).unwrap_or("").to_owned();
        let n = {
            let n = rec.seen.entry(data.clone()).or_default();
            *n += 1;
            *n
        };
        let status = match (data.as_str(), n) {
            ("drop", _) => "DROP",
            ("retry-always", _) => "RETRY",
            ("empty-once", 1) => "",
            ("missing-once", 1) => continue,
            ("bad-reply-once", 1) => {
                bad_reply = true;
                "SUCCESS"
            }
            _ => "SUCCESS",
        };
        statuses.push(json!({"entryId": entry["entryId"], "status": status}));
    }
    if bad_reply {
        return "this is not JSON".into_response();
    }
    axum::Json(json!({ "statuses": statuses })).into_response()
}

async fn http_dead_letter(axum::extract::State(state): axum::extract::State<HttpState>, body: Bytes) -> axum::http::StatusCode {
    lock(&state).dead_letters.push(serde_json::from_slice(&body).unwrap());
    axum::http::StatusCode::OK
}

fn data_of(envelope: &Json) -> Vec<String> {
    let mut data: Vec<String> =
        envelope["entries"].as_array().unwrap().iter().map(|e| e["event"]["data"].as_str().unwrap_or("").to_owned()).collect();
    data.sort();
    data
}

#[tokio::test(flavor = "multi_thread")]
async fn http_app_gets_the_bulk_envelope_and_per_entry_outcomes() {
    use axum::routing::{get, post};
    let dir = memory_resources(PUBSUB);
    let state = HttpState::default();
    let app = axum::Router::new()
        .route("/dapr/subscribe", get(http_subscribe))
        .route("/orders", post(http_bulk))
        .route("/raw", post(http_bulk))
        .route("/gone", post(|| async { axum::http::StatusCode::NOT_FOUND }))
        .route("/dlq", post(http_dead_letter))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let sc = start_sidecar(&dir, port, "http").await;

    bulk_publish(&sc, "orders", &["a", "b", "c", "d"]);
    eventually("the first batch", || !lock(&state).envelopes.is_empty()).await;
    {
        let rec = lock(&state);
        let (content_type, envelope) = &rec.envelopes[0];
        assert_eq!(content_type, "application/json");
        assert_eq!(data_of(envelope), ["a", "b", "c", "d"], "four concurrent messages make one batch");
        assert_eq!(envelope["type"], "com.dapr.event.sent.bulk");
        assert_eq!((envelope["topic"].as_str(), envelope["pubsubname"].as_str()), (Some("orders"), Some(PUBSUB)));
        assert_eq!(envelope["metadata"]["pubsubName"], PUBSUB);
        assert!(uuid::Uuid::parse_str(envelope["id"].as_str().unwrap()).is_ok());
        for entry in envelope["entries"].as_array().unwrap() {
            assert!(!entry["entryId"].as_str().unwrap().is_empty());
            assert_eq!(entry["contentType"], "application/cloudevents+json");
            assert!(entry["metadata"].is_object());
            let ce = &entry["event"];
            assert_eq!(
                (ce["source"].as_str(), ce["topic"].as_str(), ce["datacontenttype"].as_str()),
                (Some("checkout"), Some("orders"), Some("text/plain"))
            );
            assert!(ce["id"].is_string() && ce["traceparent"].is_string());
        }
    }

    // Empty status and missing entries are retried; DROP and exhausted RETRY are dead-lettered.
    bulk_publish(&sc, "orders", &["empty-once", "missing-once", "drop", "retry-always"]);
    eventually("two dead letters", || lock(&state).dead_letters.len() == 2).await;
    // An unparsable reply retries the whole batch.
    bulk_publish(&sc, "orders", &["bad-reply-once", "e"]);
    eventually("the batch after a bad reply", || lock(&state).seen.get("e") == Some(&2)).await;
    // 404 drops the whole batch (to the dead-letter topic here).
    bulk_publish(&sc, "gone", &["gone-1", "gone-2"]);
    eventually("the 404 batch dead-lettered", || lock(&state).dead_letters.len() == 4).await;
    // rawPayload: entries carry the broker bytes as base64.
    let (status, body) = sc.http(
        "POST",
        "/v1.0/publish/bulk/order_pub_sub/raw?metadata.rawPayload=true",
        &[("content-type", "application/json")],
        br#"[{"entryId": "r1", "event": "raw one", "contentType": "text/plain"}, {"entryId": "r2", "event": "raw two", "contentType": "text/plain"}]"#,
    );
    assert_eq!(status, 204, "{body}");
    eventually("the raw entries", || lock(&state).seen.contains_key("cmF3IG9uZQ==") && lock(&state).seen.contains_key("cmF3IHR3bw=="))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let rec = lock(&state);
    for (data, times) in
        [("a", 1), ("empty-once", 2), ("missing-once", 2), ("drop", 1), ("retry-always", 4), ("bad-reply-once", 2), ("e", 2)]
    {
        assert_eq!(rec.seen.get(data), Some(&times), "{data}: {:?}", rec.seen);
    }
    let mut dead: Vec<&str> = rec.dead_letters.iter().map(|ce| ce["data"].as_str().unwrap()).collect();
    dead.sort();
    assert_eq!(dead, ["drop", "gone-1", "gone-2", "retry-always"]);
    let raw = rec.envelopes.iter().find(|(_, e)| e["topic"] == "raw").expect("a raw batch");
    for entry in raw.1["entries"].as_array().unwrap() {
        assert!(entry["event"].is_string());
        assert_eq!(entry["contentType"], "application/octet-stream");
    }
    assert!(rec.envelopes.iter().all(|(_, e)| e["entries"].as_array().unwrap().len() <= 4));
}

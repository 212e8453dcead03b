//! A gRPC app with only the Alpha1 bulk RPC (or none at all): the fallback and per-entry outcomes.

use super::{PUBSUB, bulk_publish, eventually, lock, start_sidecar};
use crate::common::memory_resources;
use dapr_rs_proto::common::{InvokeRequest, InvokeResponse};
use dapr_rs_proto::runtime::app_callback_alpha_server::{AppCallbackAlpha, AppCallbackAlphaServer};
use dapr_rs_proto::runtime::app_callback_server::{AppCallback, AppCallbackServer};
use dapr_rs_proto::runtime::topic_event_bulk_request_entry::Event as BulkEvent;
use dapr_rs_proto::runtime::{
    BulkSubscribeConfig, JobEventRequest, JobEventResponse, ListTopicSubscriptionsResponse, TopicEventBulkRequest, TopicEventBulkResponse,
    TopicEventBulkResponseEntry, TopicEventRequest, TopicEventResponse, TopicRoutes, TopicSubscription,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::{Request, Response, Status};

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

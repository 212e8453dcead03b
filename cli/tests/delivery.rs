//! End to end through a real sidecar process: publish with the core client, deliver to an app
//! served by core's callback servers, over gRPC and HTTP, and to streaming subscribers.

mod common;

use bytes::Bytes;
use common::{SidecarBuilder, memory_resources};
use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::{PublishRequest, Subscription, SubscriptionOptions, TopicEvent, TopicEventStatus, handler_fn};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

fn json_publish(n: u32) -> PublishRequest {
    PublishRequest {
        pubsub_name: "order_pub_sub".into(),
        topic: "orders".into(),
        data: Bytes::from(n.to_string()),
        data_content_type: "application/json".into(),
        ..Default::default()
    }
}

async fn recv(rx: &mut mpsc::UnboundedReceiver<TopicEvent>) -> TopicEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("an event within 10 s").unwrap()
}

/// An app whose handler forwards every event and answers `answer(n)` for the n-th call.
async fn app(
    protocol: AppProtocol,
    answer: impl Fn(usize) -> TopicEventStatus + Send + Sync + 'static,
) -> (AppServer, mpsc::UnboundedReceiver<TopicEvent>, Arc<AtomicUsize>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let calls = Arc::new(AtomicUsize::new(0));
    let (calls2, answer) = (calls.clone(), Arc::new(answer));
    let handler = handler_fn(move |ev: TopicEvent| {
        let (tx, calls, answer) = (tx.clone(), calls2.clone(), answer.clone());
        async move {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            tx.send(ev).unwrap();
            Ok(answer(n))
        }
    });
    let addr = "127.0.0.1:0".parse().unwrap(); // the OS picks the port; no race with other tests
    let server =
        AppServer::start_with_token(protocol, addr, vec![Subscription::new("order_pub_sub", "orders", handler)], None).await.unwrap();
    (server, rx, calls)
}

async fn end_to_end(protocol: AppProtocol, proto_flag: &'static str) {
    let dir = memory_resources("order_pub_sub");
    let (server, mut rx, _) = app(protocol, |_| TopicEventStatus::Success).await;
    let sc = SidecarBuilder::new("checkout", dir.path()).app(server.local_addr().port(), proto_flag).start_subscribed();
    let client = sc.client();
    client.wait_for_sidecar(Duration::from_secs(5)).await.unwrap();
    client.publish_event(json_publish(42)).await.unwrap();
    let ev = recv(&mut rx).await;
    assert_eq!(ev.data.as_ref(), b"42");
    assert_eq!(ev.data_content_type, "application/json");
    assert_eq!(ev.source, "checkout");
    assert_eq!(ev.event_type, "com.dapr.event.sent");
    assert_eq!(ev.spec_version, "1.0");
    assert_eq!(ev.topic, "orders");
    assert_eq!(ev.pubsub_name, "order_pub_sub");
    assert_eq!(uuid::Uuid::parse_str(&ev.id).unwrap().get_version_num(), 4);
    assert!(ev.extensions["traceparent"].as_str().unwrap().starts_with("00-"));
    assert!(ev.extensions.contains_key("time"));

    // Text and binary payloads keep their bytes and content type.
    let mut text = json_publish(0);
    text.data = Bytes::from_static(b"hello world");
    text.data_content_type = "text/plain".into();
    client.publish_event(text).await.unwrap();
    let ev = recv(&mut rx).await;
    assert_eq!((ev.data.as_ref(), ev.data_content_type.as_str()), (&b"hello world"[..], "text/plain"));
    let mut binary = json_publish(0);
    binary.data = Bytes::from_static(&[0, 255, 1, 254]);
    binary.data_content_type = "application/octet-stream".into();
    client.publish_event(binary).await.unwrap();
    assert_eq!(recv(&mut rx).await.data.as_ref(), &[0, 255, 1, 254]);

    // The sidecar lists the app's subscription in its metadata.
    let md = client.metadata().await.unwrap();
    assert_eq!(md.id, "checkout");
    assert_eq!(md.subscriptions.len(), 1);
    assert_eq!(md.subscriptions[0].topic, "orders");
    server.stop().await.unwrap();
    assert_eq!(sc.stop(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_app_receives_published_events() {
    end_to_end(AppProtocol::Grpc, "grpc").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_app_receives_published_events() {
    end_to_end(AppProtocol::Http, "http").await;
}

async fn retry_then_success(protocol: AppProtocol, flag: &'static str) {
    let dir = memory_resources("order_pub_sub");
    // RETRY twice, then SUCCESS: the same event arrives three times, then no more.
    let (server, mut rx, calls) = app(protocol, |n| if n < 2 { TopicEventStatus::Retry } else { TopicEventStatus::Success }).await;
    let sc = SidecarBuilder::new("checkout", dir.path()).app(server.local_addr().port(), flag).start_subscribed();
    sc.client().publish_event(json_publish(7)).await.unwrap();
    let ids: Vec<String> = [recv(&mut rx).await, recv(&mut rx).await, recv(&mut rx).await].into_iter().map(|e| e.id).collect();
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    drop(sc);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_retry_is_redelivered_until_success() {
    retry_then_success(AppProtocol::Grpc, "grpc").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_retry_is_redelivered_until_success() {
    retry_then_success(AppProtocol::Http, "http").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_handler_is_retried_never_acked() {
    let dir = memory_resources("order_pub_sub");
    let (tx, mut rx) = mpsc::unbounded_channel::<TopicEvent>();
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let handler = handler_fn(move |ev: TopicEvent| {
        let (tx, calls) = (tx.clone(), c2.clone());
        async move {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err("boom".into());
            }
            tx.send(ev).unwrap();
            Ok(TopicEventStatus::Success)
        }
    });
    let addr = "127.0.0.1:0".parse().unwrap(); // the OS picks the port; no race with other tests
    let server = AppServer::start_with_token(AppProtocol::Grpc, addr, vec![Subscription::new("order_pub_sub", "orders", handler)], None)
        .await
        .unwrap();
    let sc = SidecarBuilder::new("checkout", dir.path()).app(server.local_addr().port(), "grpc").start_subscribed();
    sc.client().publish_event(json_publish(1)).await.unwrap();
    assert_eq!(recv(&mut rx).await.data.as_ref(), b"1");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn streaming_subscription_receives_and_retries() {
    let dir = memory_resources("order_pub_sub");
    let sc = SidecarBuilder::new("streamer", dir.path()).start();
    let client = sc.client();
    let mut stream = client.subscribe("order_pub_sub", "orders", SubscriptionOptions::default()).await.unwrap();
    let md = client.metadata().await.unwrap();
    assert_eq!(md.subscriptions[0].r#type, dapr_rs_proto::runtime::PubsubSubscriptionType::Streaming as i32);
    client.publish_event(json_publish(5)).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(first.event.data.as_ref(), b"5");
    first.respond(TopicEventStatus::Retry).unwrap();
    let again = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(again.event.id, first.event.id);
    again.respond(TopicEventStatus::Success).unwrap();
    // An unknown pubsub is refused when the stream opens.
    let err = client.subscribe("nope", "orders", SubscriptionOptions::default()).await.err().expect("refused");
    assert_eq!(err.grpc_code(), tonic::Code::InvalidArgument);
    assert_eq!(err.error_code(), Some("ERR_PUBSUB_NOT_FOUND"));
}

//! `rawPayload` subscriptions (contract §4): the sidecar wraps whatever the broker holds in a
//! synthesized CloudEvent of type application/octet-stream, whether it was published raw or not.

mod common;

use bytes::Bytes;
use common::inbox::{Inbox, protocol_flag, serve};
use common::{SidecarBuilder, memory_resources};
use dapr_rs_core::app::AppProtocol;
use dapr_rs_core::{PublishRequest, Subscription, SubscriptionOptions, TopicEventStatus};
use std::collections::HashMap;

const PUBSUB: &str = "order_pub_sub";

async fn raw_subscription(protocol: AppProtocol) {
    let dir = memory_resources(PUBSUB);
    let mut inbox = Inbox::default();
    let raw = SubscriptionOptions { metadata: HashMap::from([("rawPayload".into(), "true".into())]), ..Default::default() };
    let app =
        serve(protocol, vec![Subscription::new(PUBSUB, "raw", inbox.handler("raw", TopicEventStatus::Success)).with_options(raw)]).await;
    let sc = SidecarBuilder::new("rawapp", dir.path()).app(app.local_addr().port(), protocol_flag(protocol)).start_subscribed();
    let client = sc.client();

    // Raw publish, raw subscribe: the app gets the bytes as published, in a synthesized envelope.
    let bytes: &[u8] = &[0, 159, 146, 150, 255, b'{'];
    client
        .publish_event(PublishRequest {
            pubsub_name: PUBSUB.into(),
            topic: "raw".into(),
            data: Bytes::copy_from_slice(bytes),
            data_content_type: "application/octet-stream".into(),
            metadata: HashMap::from([("rawPayload".into(), "true".into())]),
        })
        .await
        .unwrap();
    let (_, ev) = inbox.next().await;
    assert_eq!(ev.data.as_ref(), bytes);
    assert_eq!(ev.data_content_type, "application/octet-stream");
    assert_eq!((ev.event_type.as_str(), ev.source.as_str(), ev.spec_version.as_str()), ("com.dapr.event.sent", "Dapr", "1.0"));
    assert_eq!(uuid::Uuid::parse_str(&ev.id).unwrap().get_version_num(), 4);
    assert_eq!((ev.extensions["topic"].as_str(), ev.extensions["pubsubname"].as_str()), (Some("raw"), Some(PUBSUB)));

    // A CloudEvent published normally reaches a rawPayload subscriber whole: its JSON is the data.
    client
        .publish_event(PublishRequest {
            pubsub_name: PUBSUB.into(),
            topic: "raw".into(),
            data: Bytes::from_static(br#"{"orderId": 7}"#),
            data_content_type: "application/json".into(),
            metadata: HashMap::from([("cloudevent.id".into(), "wrapped-7".into())]),
        })
        .await
        .unwrap();
    let (_, ev) = inbox.next().await;
    assert_eq!(ev.data_content_type, "application/octet-stream");
    assert_ne!(ev.id, "wrapped-7", "the envelope is new; the published CloudEvent is its data");
    let inner: serde_json::Value = serde_json::from_slice(&ev.data).expect("the data is the CloudEvent JSON");
    assert_eq!(inner["id"], "wrapped-7");
    assert_eq!(inner["source"], "rawapp");
    assert_eq!(inner["datacontenttype"], "application/json");
    assert_eq!(inner["data"], serde_json::json!({"orderId": 7}));
    assert_eq!(inner["topic"], "raw");
    drop(sc);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_raw_payload_subscription_gets_the_broker_bytes() {
    raw_subscription(AppProtocol::Grpc).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_raw_payload_subscription_gets_the_broker_bytes() {
    raw_subscription(AppProtocol::Http).await;
}

/// `rawPayload` is read by one rule on both sides: a value that is no boolean refuses the publish
/// and the subscription alike, naming the key and the value.
#[tokio::test(flavor = "multi_thread")]
async fn a_raw_payload_that_is_no_boolean_is_refused_on_publish_and_on_subscribe() {
    let dir = memory_resources(PUBSUB);
    let sc = SidecarBuilder::new("rawbad", dir.path()).start();
    let client = sc.client();
    let maybe = HashMap::from([("rawPayload".to_string(), "maybe".to_string())]);
    let publish = PublishRequest {
        pubsub_name: PUBSUB.into(),
        topic: "raw".into(),
        data: Bytes::from_static(b"x"),
        data_content_type: "text/plain".into(),
        metadata: maybe.clone(),
    };
    let err = client.publish_event(publish).await.expect_err("a publish with rawPayload=maybe is refused");
    assert_eq!(err.grpc_code(), tonic::Code::InvalidArgument, "{err}");
    assert!(err.to_string().contains("rawPayload") && err.to_string().contains("maybe"), "{err}");
    let options = SubscriptionOptions { metadata: maybe, ..Default::default() };
    let err = client.subscribe(PUBSUB, "raw", options).await.err().expect("a subscription with rawPayload=maybe is refused");
    assert_eq!(err.grpc_code(), tonic::Code::InvalidArgument, "{err}");
    assert!(err.to_string().contains("rawPayload") && err.to_string().contains("maybe"), "{err}");
}

/// A raw payload has no envelope for the trace: daprd's gRPC `PublishEvent` puts it in the publish
/// metadata (`traceid`, `tracestate`), which brokers that carry metadata keep, and a rawPayload
/// subscriber's synthesized CloudEvent takes it from there. Its HTTP API adds nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_grpc_raw_publish_carries_its_trace_in_the_metadata() {
    let dir = memory_resources(PUBSUB);
    let mut inbox = Inbox::default();
    let raw = SubscriptionOptions { metadata: HashMap::from([("rawPayload".into(), "true".into())]), ..Default::default() };
    let app =
        serve(AppProtocol::Grpc, vec![Subscription::new(PUBSUB, "raw", inbox.handler("raw", TopicEventStatus::Success)).with_options(raw)])
            .await;
    let sc = SidecarBuilder::new("rawtrace", dir.path()).app(app.local_addr().port(), "grpc").start_subscribed();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let raw_publish = |data: &'static [u8]| PublishRequest {
        pubsub_name: PUBSUB.into(),
        topic: "raw".into(),
        data: Bytes::from_static(data),
        data_content_type: "application/octet-stream".into(),
        metadata: HashMap::from([("rawPayload".into(), "true".into()), ("traceid".into(), "the caller's".into())]),
    };
    let trace = dapr_rs_core::TraceContext::new(traceparent, "vendor=1");
    sc.client().publish_event_traced(raw_publish(b"over gRPC"), &trace).await.unwrap();
    let (_, ev) = inbox.next().await;
    assert_eq!(ev.data.as_ref(), b"over gRPC");
    // The sidecar traces nothing here, so the trace it continues is the caller's, unchanged.
    let attribute = |key: &str| ev.extensions.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    assert_eq!((attribute("traceid"), attribute("tracestate")), (Some(traceparent.to_owned()), Some("vendor=1".to_owned())), "{ev:?}");
    assert_eq!(ev.metadata.get("traceid").map(String::as_str), Some(traceparent), "in the broker metadata: {:?}", ev.metadata);

    let (status, body) = sc.http(
        "POST",
        &format!("/v1.0/publish/{PUBSUB}/raw?metadata.rawPayload=true"),
        &[("traceparent", traceparent), ("content-type", "application/octet-stream")],
        b"over HTTP",
    );
    assert_eq!(status, 204, "{body}");
    let (_, ev) = inbox.next().await;
    assert_eq!(ev.data.as_ref(), b"over HTTP");
    assert!(!ev.extensions.contains_key("traceid") && !ev.metadata.contains_key("traceid"), "{ev:?}");
    drop(sc);
    app.stop().await.unwrap();
}

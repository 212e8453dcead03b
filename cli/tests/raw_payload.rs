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

//! A broker message's metadata reaches the app as daprd delivers it (reference
//! dapr-observability-and-kafka.md §3): each key an HTTP header or gRPC metadata, lowercased, with
//! `pubsubName` added; a key HTTP cannot carry fails the call and is named in the log; core's app
//! servers read it back as the event's `metadata`, a bulk entry's from the entry, a stream's empty.

mod common;

use bytes::Bytes;
use common::inbox::{Inbox, protocol_flag, serve};
use common::redis_server::RedisServer;
use common::test_apps::{AppKind, TestApp};
use common::{SidecarBuilder, component, memory_resources};
use dapr_rs_core::app::AppProtocol;
use dapr_rs_core::{BulkSubscribeOptions, PublishRequest, Subscription, SubscriptionOptions, TopicEventStatus};
use std::collections::HashMap;
use std::time::Duration;

const PUBSUB: &str = "brokerps";

/// A common test app subscribed to `topic`, recording what each delivery's call carried: the
/// wire as the sidecar writes it, before any SDK reads it.
async fn recording_app(kind: AppKind, topic: &str) -> TestApp {
    TestApp::subscribed(kind, false, "127.0.0.1", PUBSUB, topic).await
}

fn publish(topic: &str, metadata: &[(&str, &str)]) -> PublishRequest {
    PublishRequest {
        pubsub_name: PUBSUB.into(),
        topic: topic.into(),
        data: Bytes::from_static(br#"{"orderId": 7}"#),
        data_content_type: "application/json".into(),
        metadata: metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

fn redis_resources(redis: &RedisServer) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    component(dir.path(), PUBSUB, "pubsub.redis", &[("redisHost", &redis.address()), ("redeliverInterval", "300ms")]);
    dir
}

/// Kafka's record metadata (`__key`, `__partition`, …) and headers reach the app, as daprd sends them.
async fn kafka_record_metadata_reaches(kind: AppKind) {
    // A topic and consumer group of this run only; `oldest`, so the record is read whenever the group joins.
    let topic = format!("broker-metadata-{}", uuid::Uuid::new_v4().simple());
    let dir = tempfile::tempdir().unwrap();
    let metadata = [("brokers", "127.0.0.1:9092"), ("authType", "none"), ("initialOffset", "oldest"), ("consumerGroup", topic.as_str())];
    component(dir.path(), PUBSUB, "pubsub.kafka", &metadata);
    let mut app = recording_app(kind, &topic).await;
    let sc = SidecarBuilder::new("metadata-kafka", dir.path()).app(app.addr.port(), kind.protocol()).start_subscribed();
    sc.client().publish_event(publish(&topic, &[("partitionKey", "order-7"), ("X-Tenant", "Acme")])).await.unwrap();

    let got = app.recv_within(Duration::from_secs(60)).await.headers;
    let what = format!("{kind:?} app got {got:?}");
    assert_eq!(got.get("__key").map(String::as_str), Some("order-7"), "{what}");
    assert!(got.get("__partition").is_some_and(|p| p.parse::<i32>().is_ok()), "{what}");
    assert!(got.get("__offset").is_some_and(|o| o.parse::<i64>().is_ok()), "{what}");
    assert_eq!(got.get("__topic"), Some(&topic), "{what}");
    assert!(got.get("__timestamp").and_then(|t| t.parse::<i64>().ok()).is_some_and(|ms| ms > 1_600_000_000_000), "{what}");
    // The record's headers, keys lowercased (every publish metadata key is a header, partitionKey too).
    assert_eq!(got.get("x-tenant").map(String::as_str), Some("Acme"), "{what}");
    assert_eq!(got.get("partitionkey").map(String::as_str), Some("order-7"), "{what}");
    assert_eq!(got.get("pubsubname").map(String::as_str), Some(PUBSUB), "{what}");
    let content_type = if kind == AppKind::Grpc { "application/grpc" } else { "application/cloudevents+json" };
    assert_eq!(got.get("content-type").map(String::as_str), Some(content_type), "{what}");
    drop(sc);
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_record_metadata_reaches_an_http_app_as_headers() {
    kafka_record_metadata_reaches(AppKind::Http).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_record_metadata_reaches_a_grpc_app_as_metadata() {
    kafka_record_metadata_reaches(AppKind::Grpc).await;
}

/// Redis keeps a publish's metadata with the message; the app gets each key as a header, by daprd's
/// rules: lowercased, `grpc-*` under `dapr-`, content-type and `*-bin` left out.
#[tokio::test(flavor = "multi_thread")]
async fn a_publish_metadata_key_on_redis_arrives_as_a_header() {
    let redis = RedisServer::start();
    let dir = redis_resources(&redis);
    let mut app = recording_app(AppKind::Http, "orders").await;
    let sc = SidecarBuilder::new("metadata-redis", dir.path()).app(app.addr.port(), "http").start_subscribed();
    let metadata = [("X-Order-Source", "web"), ("grpc-note", "n"), ("Content-Type", "text/evil"), ("trace-bin", "AAE=")];
    sc.client().publish_event(publish("orders", &metadata)).await.unwrap();

    let got = app.recv_within(Duration::from_secs(15)).await.headers;
    assert_eq!(got.get("x-order-source").map(String::as_str), Some("web"), "{got:?}");
    assert_eq!(got.get("dapr-grpc-note").map(String::as_str), Some("n"), "{got:?}");
    assert_eq!(got.get("content-type").map(String::as_str), Some("application/cloudevents+json"), "{got:?}");
    assert_eq!(got.get("pubsubname").map(String::as_str), Some(PUBSUB), "{got:?}");
    assert!(!got.contains_key("trace-bin") && !got.contains_key("grpc-note"), "{got:?}");
    drop(sc);
}

/// A value HTTP cannot carry fails the HTTP call, as in daprd, and the log names its key each
/// time; gRPC leaves such a key out and delivers the rest.
#[tokio::test(flavor = "multi_thread")]
async fn a_value_http_cannot_carry_fails_the_call_and_is_named_in_the_log() {
    let redis = RedisServer::start();
    let dir = redis_resources(&redis);
    let bad = [("x-bad", "line\nbreak"), ("x-good", "ok")];

    let mut http_app = recording_app(AppKind::Http, "bad-http").await;
    let (mut sc, logs) = SidecarBuilder::new("metadata-bad", dir.path()).app(http_app.addr.port(), "http").start_logged();
    sc.wait_http("/v1.0/healthz", 204, Duration::from_secs(15));
    sc.client().publish_event(publish("bad-http", &bad)).await.unwrap();
    logs.wait_for(&["x-bad", "not a valid HTTP header value", "ERROR"], 2, Duration::from_secs(20));
    http_app.expect_nothing(Duration::from_millis(500)).await;
    drop(sc);

    let mut grpc_app = recording_app(AppKind::Grpc, "bad-grpc").await;
    let sc = SidecarBuilder::new("metadata-bad", dir.path()).app(grpc_app.addr.port(), "grpc").start_subscribed();
    sc.client().publish_event(publish("bad-grpc", &bad)).await.unwrap();
    let got = grpc_app.recv_within(Duration::from_secs(15)).await.headers;
    assert_eq!(got.get("x-good").map(String::as_str), Some("ok"), "{got:?}");
    assert!(!got.contains_key("x-bad"), "{got:?}");
    drop(sc);
}

/// Core's app servers give a handler the metadata and nothing of the transport; a bulk entry's
/// comes from the entry (whose keys keep their case), and a streamed event has none.
async fn core_reads_the_metadata(protocol: AppProtocol) {
    let dir = memory_resources(PUBSUB);
    let mut inbox = Inbox::default();
    let bulk = SubscriptionOptions {
        bulk_subscribe: Some(BulkSubscribeOptions { max_messages_count: 1, max_await_duration_ms: 100 }),
        ..Default::default()
    };
    let subs = vec![
        Subscription::new(PUBSUB, "single", inbox.handler("single", TopicEventStatus::Success)),
        Subscription::new(PUBSUB, "bulk", inbox.handler("bulk", TopicEventStatus::Success)).with_options(bulk),
    ];
    let server = serve(protocol, subs).await;
    let sc = SidecarBuilder::new("metadata-core", dir.path()).app(server.local_addr().port(), protocol_flag(protocol)).start_subscribed();
    let client = sc.client();
    let mut stream = client.subscribe(PUBSUB, "streamed", SubscriptionOptions::default()).await.unwrap();
    let metadata = [("X-Order-Source", "web"), ("Tenant", "acme")];

    client.publish_event(publish("single", &metadata)).await.unwrap();
    let (_, ev) = inbox.next().await;
    let want: HashMap<String, String> =
        [("pubsubname", PUBSUB), ("x-order-source", "web"), ("tenant", "acme")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
    assert_eq!(ev.metadata, want, "{protocol:?}");

    client.publish_event(publish("bulk", &metadata)).await.unwrap();
    let (label, ev) = inbox.next().await;
    assert_eq!(label, "bulk");
    let want: HashMap<String, String> = metadata.map(|(k, v)| (k.to_owned(), v.to_owned())).into();
    assert_eq!(ev.metadata, want, "{protocol:?} bulk entry");

    client.publish_event(publish("streamed", &metadata)).await.unwrap();
    let message = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("a streamed event").unwrap().unwrap();
    assert!(message.event.metadata.is_empty(), "daprd sends a stream no metadata: {:?}", message.event.metadata);
    message.respond(TopicEventStatus::Success).unwrap();
    drop(sc);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn core_grpc_app_reads_the_metadata() {
    core_reads_the_metadata(AppProtocol::Grpc).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn core_http_app_reads_the_metadata() {
    core_reads_the_metadata(AppProtocol::Http).await;
}

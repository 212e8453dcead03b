//! Dead-letter topics (contract §8): a DROP, an HTTP 404, exhausted retries and an expired event
//! send the original CloudEvent to the dead-letter topic, where its own subscriber receives it.

mod common;

use bytes::Bytes;
use common::inbox::{Inbox, serve};
use common::{SidecarBuilder, component, free_port, memory_resources};
use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::{PublishRequest, Subscription, SubscriptionOptions, TopicEvent, TopicEventStatus};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

const PUBSUB: &str = "order_pub_sub";

fn publish(topic: &str, id: &str, metadata: &[(&str, &str)]) -> PublishRequest {
    let mut md: HashMap<String, String> = metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    md.insert("cloudevent.id".into(), id.into());
    PublishRequest {
        pubsub_name: PUBSUB.into(),
        topic: topic.into(),
        data: Bytes::from(format!(r#"{{"order": "{id}"}}"#)),
        data_content_type: "application/json".into(),
        metadata: md,
    }
}

fn dead_lettered(topic: &str) -> SubscriptionOptions {
    SubscriptionOptions { dead_letter_topic: Some(topic.into()), ..Default::default() }
}

/// The dead-letter subscriber got the original event: same id, source, type and data.
fn assert_original(dead: &TopicEvent, id: &str) {
    assert_eq!(dead.id, id);
    assert_eq!((dead.source.as_str(), dead.event_type.as_str()), ("checkout", "com.dapr.event.sent"));
    assert_eq!(dead.data_content_type, "application/json");
    assert_eq!(dead.data_json().unwrap(), serde_json::json!({"order": id}));
    assert_eq!(dead.extensions["topic"], "orders", "the CloudEvent is re-published unchanged");
}

/// Also: daprd re-publishes a dead letter with the metadata it delivered it with, the broker
/// message's and `pubsubName`; a broker that keeps metadata (here the embedded one's `metadata`
/// column, Kafka's headers alike) holds both for whoever reads the dead-letter topic.
#[tokio::test(flavor = "multi_thread")]
async fn grpc_drop_goes_to_the_dead_letter_topic() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pubsub.db");
    component(dir.path(), PUBSUB, "pubsub.sqlite", &[("path", db.to_str().unwrap())]);
    let mut inbox = Inbox::default();
    let subs = vec![
        Subscription::new(PUBSUB, "orders", inbox.handler("orders", TopicEventStatus::Drop)).with_options(dead_lettered("orders-dead")),
        Subscription::new(PUBSUB, "orders-dead", inbox.handler("dead", TopicEventStatus::Success)),
    ];
    let app = serve(AppProtocol::Grpc, subs).await;
    let sc = SidecarBuilder::new("checkout", dir.path()).app(app.local_addr().port(), "grpc").start_subscribed();
    sc.client().publish_event(publish("orders", "dropped-1", &[("tenant", "acme")])).await.unwrap();
    let got = inbox.take(2).await;
    assert_eq!(got.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(), ["orders", "dead"]);
    assert_original(&got[1].1, "dropped-1");
    assert_eq!(got[1].1.metadata.get("tenant").map(String::as_str), Some("acme"), "{:?}", got[1].1.metadata);
    inbox.assert_empty_for(Duration::from_millis(300)).await;
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let stored: String = conn.query_row("SELECT metadata FROM messages WHERE topic = 'orders-dead'", [], |row| row.get(0)).unwrap();
    let stored: HashMap<String, String> = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored.get("pubsubName").map(String::as_str), Some(PUBSUB), "{stored:?}");
    assert_eq!(stored.get("tenant").map(String::as_str), Some("acme"), "{stored:?}");
    // The sidecar keeps it among its last dead letters (dapr-rs' own endpoint, for the dashboard).
    let (status, body) = sc.http("GET", "/v1.0-alpha1/dapr-rs/deadletters", &[], b"");
    assert_eq!(status, 200, "{body}");
    let kept: serde_json::Value = serde_json::from_str(&body).unwrap();
    let kept = &kept["deadLetters"][0];
    assert_eq!(
        (kept["eventId"].as_str(), kept["topic"].as_str(), kept["deadLetterTopic"].as_str()),
        (Some("dropped-1"), Some("orders"), Some("orders-dead"))
    );
    assert_eq!((kept["pubsubName"].as_str(), kept["reason"].as_str()), (Some(PUBSUB), Some("the app answered DROP")));
    drop(sc);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn http_404_goes_to_the_dead_letter_topic() {
    // A declarative subscription routes to a path the app does not serve: it answers 404.
    let sub = "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: orders}\nspec:\n  pubsubname: order_pub_sub\n  topic: orders\n  routes: {default: /not-served}\n  deadLetterTopic: orders-dead\n";
    let dir = memory_resources(PUBSUB);
    std::fs::write(dir.path().join("orders.yaml"), sub).unwrap();
    let mut inbox = Inbox::default();
    let app =
        serve(AppProtocol::Http, vec![Subscription::new(PUBSUB, "orders-dead", inbox.handler("dead", TopicEventStatus::Success))]).await;
    let sc = SidecarBuilder::new("checkout", dir.path()).app(app.local_addr().port(), "http").start_subscribed();
    sc.client().publish_event(publish("orders", "not-found-1", &[])).await.unwrap();
    let (label, dead) = inbox.next().await;
    assert_eq!(label, "dead");
    assert_original(&dead, "not-found-1");
    inbox.assert_empty_for(Duration::from_millis(300)).await;
    drop(sc);
    app.stop().await.unwrap();
}

async fn exhausted_retries(protocol: AppProtocol, flag: &'static str) {
    let dir = memory_resources(PUBSUB);
    let mut inbox = Inbox::default();
    let subs = vec![
        Subscription::new(PUBSUB, "orders", inbox.handler("orders", TopicEventStatus::Retry)).with_options(dead_lettered("orders-dead")),
        Subscription::new(PUBSUB, "orders-dead", inbox.handler("dead", TopicEventStatus::Success)),
    ];
    let app = serve(protocol, subs).await;
    let sc = SidecarBuilder::new("checkout", dir.path()).app(app.local_addr().port(), flag).start_subscribed();
    sc.client().publish_event(publish("orders", "retried-1", &[])).await.unwrap();
    let mut attempts = 0;
    let dead = loop {
        match inbox.next().await {
            (label, ev) if label == "orders" => {
                assert_eq!(ev.id, "retried-1");
                attempts += 1;
            }
            (_, dead) => break dead,
        }
    };
    assert!(attempts >= 2, "the app was asked again before the event was dead-lettered ({attempts} attempts)");
    assert_original(&dead, "retried-1");
    inbox.assert_empty_for(Duration::from_millis(500)).await;
    drop(sc);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_exhausted_retries_go_to_the_dead_letter_topic() {
    exhausted_retries(AppProtocol::Grpc, "grpc").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_exhausted_retries_go_to_the_dead_letter_topic() {
    exhausted_retries(AppProtocol::Http, "http").await;
}

/// Events published while the app is not up yet wait on the durable broker; one whose
/// `ttlInSeconds` ran out meanwhile is never delivered, and goes to the dead-letter topic. There it
/// is still expired (it is re-published unchanged, as daprd does), so a normal subscriber would drop
/// it again: a rawPayload subscriber of the dead-letter topic sees it, as the original CloudEvent.
async fn expired_events(protocol: AppProtocol, flag: &'static str) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pubsub.db");
    component(dir.path(), PUBSUB, "pubsub.sqlite", &[("path", db.to_str().unwrap())]);
    let app_port = free_port();
    let mut sc = SidecarBuilder::new("checkout", dir.path()).app(app_port, flag).start();
    let client = sc.client();
    client.publish_event(publish("orders", "short-lived", &[("ttlInSeconds", "1")])).await.unwrap();
    client.publish_event(publish("orders", "long-lived", &[("ttlInSeconds", "3600")])).await.unwrap();
    client.publish_event(publish("orders", "forever", &[])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1600)).await;

    let mut inbox = Inbox::default();
    let ok = TopicEventStatus::Success;
    let subs = vec![
        Subscription::new(PUBSUB, "orders", inbox.handler("orders", ok)).with_options(dead_lettered("orders-dead")),
        Subscription::new(PUBSUB, "orders-dead", inbox.handler("dead", ok))
            .with_options(SubscriptionOptions { metadata: HashMap::from([("rawPayload".into(), "true".into())]), ..Default::default() }),
    ];
    let addr: SocketAddr = format!("127.0.0.1:{app_port}").parse().unwrap();
    let app = AppServer::start_with_token(protocol, addr, subs, None).await.unwrap();
    sc.wait_http("/v1.0/healthz", 204, Duration::from_secs(10));
    let mut got: Vec<(String, String)> = Vec::new();
    for (label, ev) in inbox.take(3).await {
        if label == "dead" {
            let original: serde_json::Value = serde_json::from_slice(&ev.data).unwrap();
            assert!(original["expiration"].is_string(), "{original}");
            assert_eq!(original["data"], serde_json::json!({"order": "short-lived"}));
            got.push((original["id"].as_str().unwrap().to_owned(), label));
        } else {
            got.push((ev.id, label));
        }
    }
    got.sort();
    assert_eq!(
        got,
        [("forever", "orders"), ("long-lived", "orders"), ("short-lived", "dead")].map(|(a, b)| (a.to_string(), b.to_string()))
    );
    inbox.assert_empty_for(Duration::from_millis(500)).await;
    drop(sc);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_expired_events_are_dead_lettered_not_delivered() {
    expired_events(AppProtocol::Grpc, "grpc").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_expired_events_are_dead_lettered_not_delivered() {
    expired_events(AppProtocol::Http, "http").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_event_without_a_dead_letter_topic_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pubsub.db");
    component(dir.path(), PUBSUB, "pubsub.sqlite", &[("path", db.to_str().unwrap())]);
    let app_port = free_port();
    let mut sc = SidecarBuilder::new("checkout", dir.path()).app(app_port, "grpc").start();
    let client = sc.client();
    client.publish_event(publish("orders", "short-lived", &[("ttlInSeconds", "1")])).await.unwrap();
    client.publish_event(publish("orders", "forever", &[])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let mut inbox = Inbox::default();
    let addr: SocketAddr = format!("127.0.0.1:{app_port}").parse().unwrap();
    let subs = vec![Subscription::new(PUBSUB, "orders", inbox.handler("orders", TopicEventStatus::Success))];
    let app = AppServer::start_with_token(AppProtocol::Grpc, addr, subs, None).await.unwrap();
    sc.wait_http("/v1.0/healthz", 204, Duration::from_secs(10));
    let (_, ev) = inbox.next().await;
    assert_eq!(ev.id, "forever");
    inbox.assert_empty_for(Duration::from_millis(800)).await;
    drop(sc);
    app.stop().await.unwrap();
}

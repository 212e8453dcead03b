//! Topic scoping (contract §8): `publishingScopes`, `subscriptionScopes`, `allowedTopics` and
//! `protectedTopics` on publish (403 / PermissionDenied), on subscription and on dead letters.

mod common;

use bytes::Bytes;
use common::{SidecarBuilder, component};
use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::{PublishRequest, Subscription, SubscriptionOptions, TopicEvent, TopicEventStatus, handler_fn};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PUBSUB: &str = "order_pub_sub";

fn publish(topic: &str) -> PublishRequest {
    PublishRequest {
        pubsub_name: PUBSUB.into(),
        topic: topic.into(),
        data: Bytes::from_static(b"{}"),
        data_content_type: "application/json".into(),
        ..Default::default()
    }
}

/// An app recording (topic, event) for every delivery, answering `answer(topic)`.
async fn app(topics: &[(&str, Option<&str>)], answer: fn(&str) -> TopicEventStatus) -> (AppServer, Arc<Mutex<Vec<(String, TopicEvent)>>>) {
    let got: Arc<Mutex<Vec<(String, TopicEvent)>>> = Arc::default();
    let subs = topics
        .iter()
        .map(|(topic, dead_letter)| {
            let got = got.clone();
            let handler = handler_fn(move |ev: TopicEvent| {
                let got = got.clone();
                async move {
                    let status = answer(&ev.topic);
                    got.lock().unwrap().push((ev.topic.clone(), ev));
                    Ok(status)
                }
            });
            let options = SubscriptionOptions { dead_letter_topic: dead_letter.map(str::to_owned), ..Default::default() };
            Subscription::new(PUBSUB, *topic, handler).with_options(options)
        })
        .collect();
    let addr = "127.0.0.1:0".parse().unwrap(); // the OS picks the port; no race with other tests
    (AppServer::start_with_token(AppProtocol::Grpc, addr, subs, None).await.unwrap(), got)
}

fn count(got: &Mutex<Vec<(String, TopicEvent)>>, topic: &str) -> usize {
    got.lock().unwrap().iter().filter(|(t, _)| t == topic).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn publishing_outside_the_scopes_is_forbidden_over_http_and_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let metadata = [
        ("allowedTopics", "orders, audit, secret, payments"),
        ("protectedTopics", "audit,secret"),
        ("publishingScopes", "checkout=orders,audit;auditor=audit;silent="),
    ];
    component(dir.path(), PUBSUB, "pubsub.in-memory", &metadata);
    let checkout = SidecarBuilder::new("checkout", dir.path()).start();
    let status = |sc: &common::Sidecar, topic: &str| sc.http("POST", &format!("/v1.0/publish/{PUBSUB}/{topic}"), &[], b"x");
    assert_eq!(status(&checkout, "orders").0, 204);
    assert_eq!(status(&checkout, "audit").0, 204, "protected, but in checkout's scope");
    for forbidden in ["secret", "payments", "unlisted"] {
        let (code, body) = status(&checkout, forbidden);
        assert_eq!(code, 403, "{forbidden}: {body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["errorCode"], "ERR_PUBSUB_FORBIDDEN");
        assert!(body["message"].as_str().unwrap().contains(forbidden), "{body}");
    }
    let err = checkout.client().publish_event(publish("secret")).await.unwrap_err();
    assert_eq!(err.grpc_code(), tonic::Code::PermissionDenied);
    assert_eq!(err.error_code(), Some("ERR_PUBSUB_FORBIDDEN"));
    checkout.client().publish_event(publish("orders")).await.unwrap();

    // An app not in publishingScopes may use any allowed topic that is not protected.
    let other = SidecarBuilder::new("other", dir.path()).start();
    assert_eq!(status(&other, "payments").0, 204);
    assert_eq!(status(&other, "audit").0, 403, "protected topics need a scope");
    assert_eq!(status(&other, "unlisted").0, 403, "not an allowed topic");
    // `silent=` lists no topic: nothing may be published.
    let silent = SidecarBuilder::new("silent", dir.path()).start();
    assert_eq!(status(&silent, "orders").0, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_outside_the_scopes_are_not_registered() {
    let dir = tempfile::tempdir().unwrap();
    component(dir.path(), PUBSUB, "pubsub.in-memory", &[("subscriptionScopes", "checkout=orders")]);
    let (server, got) = app(&[("orders", None), ("payments", None)], |_| TopicEventStatus::Success).await;
    let sc = SidecarBuilder::new("checkout", dir.path()).app(server.local_addr().port(), "grpc").start_subscribed();
    let client = sc.client();
    let md = client.metadata().await.unwrap();
    assert_eq!(md.subscriptions.iter().map(|s| s.topic.as_str()).collect::<Vec<_>>(), ["orders"]);
    client.publish_event(publish("payments")).await.unwrap();
    client.publish_event(publish("orders")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&got, "orders") == 0 {
        assert!(Instant::now() < deadline, "the allowed subscription got nothing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(&got, "payments"), 0);

    // A streaming subscription to a forbidden topic fails when it opens.
    let err = client.subscribe(PUBSUB, "payments", SubscriptionOptions::default()).await.err().expect("refused");
    assert_eq!(err.grpc_code(), tonic::Code::PermissionDenied);
    assert_eq!(err.error_code(), Some("ERR_PUBSUB_FORBIDDEN"));
    assert!(client.subscribe(PUBSUB, "orders", SubscriptionOptions::default()).await.is_ok());
    drop(sc);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_go_through_the_publishing_scopes() {
    let dir = tempfile::tempdir().unwrap();
    // checkout may publish to payments-dead but not to orders-dead.
    component(dir.path(), PUBSUB, "pubsub.in-memory", &[("publishingScopes", "checkout=orders,payments,payments-dead")]);
    let topics = [("orders", Some("orders-dead")), ("payments", Some("payments-dead")), ("orders-dead", None), ("payments-dead", None)];
    let (server, got) =
        app(&topics, |topic| if topic.ends_with("-dead") { TopicEventStatus::Success } else { TopicEventStatus::Drop }).await;
    let sc = SidecarBuilder::new("checkout", dir.path()).app(server.local_addr().port(), "grpc").start_subscribed();
    let client = sc.client();
    client.publish_event(publish("payments")).await.unwrap();
    client.publish_event(publish("orders")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    // The forbidden dead letter leaves the event with the broker, which offers it again.
    while count(&got, "payments-dead") == 0 || count(&got, "orders") < 2 {
        assert!(Instant::now() < deadline, "deliveries so far: {:?}", got.lock().unwrap().iter().map(|(t, _)| t).collect::<Vec<_>>());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(count(&got, "orders-dead"), 0, "a dead letter was published to a topic the scopes forbid");
    drop(sc);
    server.stop().await.unwrap();
}

//! Declarative subscriptions (contract §6): `kind: Subscription` files in the resources path,
//! delivered through the app channel to an app that declares no subscription of its own.

mod common;

use common::inbox::{Inbox, serve};
use common::{SidecarBuilder, memory_resources};
use dapr_rs_core::app::AppProtocol;
use dapr_rs_core::proto::runtime::PubsubSubscriptionType;
use dapr_rs_core::{Subscription, TopicEventStatus};
use std::path::Path;
use std::time::Duration;

const PUBSUB: &str = "order_pub_sub";

fn resources(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = memory_resources(PUBSUB);
    for (name, yaml) in files {
        std::fs::write(dir.path().join(name), yaml).unwrap();
    }
    dir
}

fn metadata_json(sc: &common::Sidecar) -> serde_json::Value {
    let (status, body) = sc.http("GET", "/v1.0/metadata", &[], b"");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// v2alpha1 with the docs' lower-case keys.
const V2_WIDGETS: &str = r#"
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: widgets
spec:
  pubsubname: order_pub_sub
  topic: orders
  routes:
    rules:
      - match: event.type == "widget" && event.data.size > 10
        path: /big-widgets
    default: /orders
  deadlettertopic: orders-dead
scopes:
  - warehouse
"#;

#[tokio::test(flavor = "multi_thread")]
async fn v2alpha1_routes_events_to_a_grpc_app_that_declares_nothing() {
    let dir = resources(&[("subscription.yaml", V2_WIDGETS)]);
    let mut inbox = Inbox::default();
    let ok = TopicEventStatus::Success;
    let app = serve(
        AppProtocol::Grpc,
        vec![
            Subscription::declarative(PUBSUB, "orders", "/big-widgets", inbox.handler("big-widgets", ok)),
            Subscription::declarative(PUBSUB, "orders", "/orders", inbox.handler("orders", ok)),
        ],
    )
    .await;
    let sc = SidecarBuilder::new("warehouse", dir.path()).app(app.local_addr().port(), "grpc").start_subscribed();
    let client = sc.client();
    client.publish_event(common::typed_json_event(PUBSUB, "orders", "w-big", "widget", r#"{"size": 20}"#)).await.unwrap();
    client.publish_event(common::typed_json_event(PUBSUB, "orders", "w-small", "widget", r#"{"size": 2}"#)).await.unwrap();
    let mut got: Vec<(String, String, String)> = inbox.take(2).await.into_iter().map(|(l, ev)| (ev.id, l, ev.path)).collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("w-big".to_string(), "big-widgets".to_string(), "/big-widgets".to_string()),
            ("w-small".into(), "orders".into(), "/orders".into())
        ]
    );

    // Metadata over gRPC and HTTP: one DECLARATIVE subscription with its rules and dead-letter topic.
    let md = client.metadata().await.unwrap();
    assert_eq!(md.subscriptions.len(), 1, "{:?}", md.subscriptions);
    let s = &md.subscriptions[0];
    assert_eq!(s.r#type, PubsubSubscriptionType::Declarative as i32);
    assert_eq!(s.dead_letter_topic, "orders-dead");
    let paths: Vec<&str> = s.rules.as_ref().unwrap().rules.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/big-widgets", "/orders"]);
    let json = metadata_json(&sc);
    assert_eq!(json["subscriptions"][0]["type"], "DECLARATIVE");
    assert_eq!(json["subscriptions"][0]["rules"][0]["match"], r#"event.type == "widget" && event.data.size > 10"#);
    drop(sc);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn v1alpha1_delivers_to_an_http_app_and_scopes_are_honoured() {
    // camelCase and odd-case keys alike, as daprd's case-insensitive decoding takes them.
    let v1 = "apiVersion: dapr.io/v1alpha1\nkind: Subscription\nmetadata:\n  name: checkout\nspec:\n  pubsubName: order_pub_sub\n  Topic: orders\n  route: checkout\nscopes: [checkout, someone-else]\n";
    let not_ours = "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata:\n  name: theirs\nspec:\n  pubsubname: order_pub_sub\n  topic: payments\n  routes: {default: /payments}\nscopes: [payments-app]\n";
    let dir = resources(&[("checkout.yaml", v1), ("theirs.yaml", not_ours)]);
    let mut inbox = Inbox::default();
    let ok = TopicEventStatus::Success;
    let app = serve(
        AppProtocol::Http,
        vec![
            Subscription::declarative(PUBSUB, "orders", "/checkout", inbox.handler("checkout", ok)),
            Subscription::declarative(PUBSUB, "payments", "/payments", inbox.handler("payments", ok)),
        ],
    )
    .await;
    let sc = SidecarBuilder::new("checkout", dir.path()).app(app.local_addr().port(), "http").start_subscribed();
    let client = sc.client();
    client.publish_event(common::typed_json_event(PUBSUB, "orders", "o-1", "order", r#"{"orderId": 1}"#)).await.unwrap();
    client.publish_event(common::typed_json_event(PUBSUB, "payments", "p-1", "payment", "1")).await.unwrap();
    let (label, ev) = inbox.next().await;
    assert_eq!((label.as_str(), ev.id.as_str(), ev.path.as_str()), ("checkout", "o-1", "/checkout"));
    assert_eq!(ev.data_json().unwrap(), serde_json::json!({"orderId": 1}));
    inbox.assert_empty_for(Duration::from_millis(300)).await;
    let json = metadata_json(&sc);
    let subs = json["subscriptions"].as_array().unwrap();
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!((subs[0]["topic"].as_str(), subs[0]["type"].as_str()), (Some("orders"), Some("DECLARATIVE")));
    drop(sc);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_programmatic_subscription_for_the_same_topic_takes_the_declarative_ones_place() {
    let declarative = "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: orders}\nspec:\n  pubsubname: order_pub_sub\n  topic: orders\n  routes: {default: /declared}\n";
    let dir = resources(&[("orders.yaml", declarative)]);
    let mut inbox = Inbox::default();
    let ok = TopicEventStatus::Success;
    let app = serve(
        AppProtocol::Grpc,
        vec![
            Subscription::declarative(PUBSUB, "orders", "/declared", inbox.handler("declared", ok)),
            Subscription::new(PUBSUB, "orders", inbox.handler("programmatic", ok)),
        ],
    )
    .await;
    let (mut sc, logs) = SidecarBuilder::new("checkout", dir.path()).app(app.local_addr().port(), "grpc").start_logged();
    sc.wait_http("/v1.0/healthz", 204, Duration::from_secs(10));
    logs.wait_for(&["programmatic subscription replaces the declarative one", "topic=orders"], 1, Duration::from_secs(5));
    let client = sc.client();
    client.publish_event(common::typed_json_event(PUBSUB, "orders", "o-1", "order", "1")).await.unwrap();
    let (label, _) = inbox.next().await;
    assert_eq!(label, "programmatic");
    inbox.assert_empty_for(Duration::from_millis(300)).await;
    let md = client.metadata().await.unwrap();
    assert_eq!(md.subscriptions.len(), 1);
    assert_eq!(md.subscriptions[0].r#type, PubsubSubscriptionType::Programmatic as i32);
    drop(sc);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_app_port_a_declarative_subscription_is_listed_but_consumes_nothing() {
    let dir = resources(&[("subscription.yaml", V2_WIDGETS)]);
    let (sc, logs) = SidecarBuilder::new("warehouse", dir.path()).start_logged();
    logs.wait_for(&["no --app-port", "topic=orders"], 1, Duration::from_secs(5));
    let json = metadata_json(&sc);
    assert_eq!(json["subscriptions"][0]["type"], "DECLARATIVE");
    assert_eq!(json["subscriptions"][0]["topic"], "orders");
}

fn assert_refused(dir: &Path, file: &str, expected: &str) {
    let (code, output) = SidecarBuilder::new("checkout", dir).run_to_exit(Duration::from_secs(20));
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains(file) && output.contains(expected), "expected {file} and {expected:?} in:\n{output}");
}

#[test]
fn a_malformed_subscription_file_stops_the_sidecar_naming_the_file_and_the_problem() {
    let head = "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: broken}\nspec:\n  pubsubname: order_pub_sub\n";
    let dir = resources(&[("broken.yaml", &format!("{head}  routes: {{default: /x}}\n"))]);
    assert_refused(dir.path(), "broken.yaml", "spec.topic is required");
    let dir =
        resources(&[("broken.yaml", &format!("{head}  topic: orders\n  routes: {{rules: [{{match: 'event.type ==', path: /x}}]}}\n"))]);
    assert_refused(dir.path(), "broken.yaml", r#"invalid match expression "event.type ==""#);
    let dir = resources(&[("broken.yaml", &format!("{head}  topic: orders\n  routes: [[/x]]\n"))]);
    assert_refused(dir.path(), "broken.yaml", "spec.routes must be a mapping");
}

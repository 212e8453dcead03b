//! Routing rules (contract §8): CEL `match` expressions over `event`, first match wins, the default
//! route last, no match dropped (or dead-lettered), a failing expression dead-lettered or retried,
//! and an expression that does not compile refused when the app's subscriptions are registered.

mod common;

use common::inbox::{Inbox, protocol_flag, serve};
use common::{SidecarBuilder, memory_resources};
use dapr_rs_core::app::AppProtocol;
use dapr_rs_core::{RoutingRule, Subscription, SubscriptionOptions, TopicEventStatus};
use std::time::Duration;

const PUBSUB: &str = "order_pub_sub";

fn rule(priority: i32, expr: &str) -> SubscriptionOptions {
    SubscriptionOptions { rule: Some(RoutingRule { match_expr: expr.into(), priority }), ..Default::default() }
}

fn with_dead_letter(mut options: SubscriptionOptions, topic: &str) -> SubscriptionOptions {
    options.dead_letter_topic = Some(topic.into());
    options
}

async fn rules_route_by_type_and_data(protocol: AppProtocol) {
    let dir = memory_resources(PUBSUB);
    let mut inbox = Inbox::default();
    let ok = TopicEventStatus::Success;
    let subs = vec![
        Subscription::new(PUBSUB, "orders", inbox.handler("default", ok)),
        Subscription::new(PUBSUB, "orders", inbox.handler("big", ok)).with_options(rule(2, "event.data.size > 10")),
        Subscription::new(PUBSUB, "orders", inbox.handler("widget", ok)).with_options(rule(1, r#"event.type == "widget""#)),
    ];
    let app = serve(protocol, subs).await;
    let sc = SidecarBuilder::new("router", dir.path()).app(app.local_addr().port(), protocol_flag(protocol)).start_subscribed();
    let client = sc.client();
    // A widget of size 50 matches both rules: the first one (by priority) takes it.
    client.publish_event(common::typed_json_event(PUBSUB, "orders", "w-50", "widget", r#"{"size": 50}"#)).await.unwrap();
    client.publish_event(common::typed_json_event(PUBSUB, "orders", "g-50", "gadget", r#"{"size": 50}"#)).await.unwrap();
    client.publish_event(common::typed_json_event(PUBSUB, "orders", "g-1", "gadget", r#"{"size": 1}"#)).await.unwrap();
    let mut got: Vec<(String, String, String)> = inbox.take(3).await.into_iter().map(|(label, ev)| (ev.id, label, ev.path)).collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("g-1".to_string(), "default".to_string(), "/events/order_pub_sub/orders".to_string()),
            ("g-50".into(), "big".into(), "/events/order_pub_sub/orders/rule-2".into()),
            ("w-50".into(), "widget".into(), "/events/order_pub_sub/orders/rule-1".into()),
        ]
    );
    inbox.assert_empty_for(Duration::from_millis(300)).await;

    // Metadata reports the rules in evaluation order, the default last.
    let md = client.metadata().await.unwrap();
    let rules: Vec<(String, String)> =
        md.subscriptions[0].rules.as_ref().unwrap().rules.iter().map(|r| (r.r#match.clone(), r.path.clone())).collect();
    assert_eq!(
        rules,
        [
            (r#"event.type == "widget""#.to_string(), "/events/order_pub_sub/orders/rule-1".to_string()),
            ("event.data.size > 10".into(), "/events/order_pub_sub/orders/rule-2".into()),
            ("".into(), "/events/order_pub_sub/orders".into()),
        ]
    );
    drop(sc);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_rules_choose_the_path_by_type_and_data() {
    rules_route_by_type_and_data(AppProtocol::Grpc).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_rules_choose_the_route_by_type_and_data() {
    rules_route_by_type_and_data(AppProtocol::Http).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_no_rule_matches_is_dropped_or_dead_lettered() {
    let dir = memory_resources(PUBSUB);
    let mut inbox = Inbox::default();
    let ok = TopicEventStatus::Success;
    let widgets = r#"event.type == "widget""#;
    let subs = vec![
        // Rules only, no default: anything else is dropped, here to the dead-letter topic.
        Subscription::new(PUBSUB, "orders", inbox.handler("orders", ok)).with_options(with_dead_letter(rule(1, widgets), "orders-dead")),
        Subscription::new(PUBSUB, "orders-dead", inbox.handler("dead", ok)),
        // The same without a dead-letter topic: dropped and acknowledged.
        Subscription::new(PUBSUB, "plain", inbox.handler("plain", ok)).with_options(rule(1, widgets)),
    ];
    let app = serve(AppProtocol::Grpc, subs).await;
    let sc = SidecarBuilder::new("router", dir.path()).app(app.local_addr().port(), "grpc").start_subscribed();
    let client = sc.client();

    client.publish_event(common::typed_json_event(PUBSUB, "orders", "gadget-1", "gadget", r#"{"n": 1}"#)).await.unwrap();
    let (label, dead) = inbox.next().await;
    assert_eq!(label, "dead");
    // The dead-letter topic gets the original CloudEvent.
    assert_eq!((dead.id.as_str(), dead.event_type.as_str(), dead.source.as_str()), ("gadget-1", "gadget", "router"));
    assert_eq!(dead.data_json().unwrap(), serde_json::json!({"n": 1}));
    assert_eq!(dead.topic, "orders-dead");
    assert_eq!(dead.extensions["topic"], "orders");

    client.publish_event(common::typed_json_event(PUBSUB, "plain", "gadget-2", "gadget", "2")).await.unwrap();
    client.publish_event(common::typed_json_event(PUBSUB, "plain", "widget-3", "widget", "3")).await.unwrap();
    let (label, ev) = inbox.next().await;
    assert_eq!((label.as_str(), ev.id.as_str()), ("plain", "widget-3"));
    inbox.assert_empty_for(Duration::from_millis(500)).await;
    drop(sc);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_match_that_is_not_a_bool_is_dead_lettered_or_retried() {
    let dir = memory_resources(PUBSUB);
    let mut inbox = Inbox::default();
    let ok = TopicEventStatus::Success;
    let subs = vec![
        Subscription::new(PUBSUB, "orders", inbox.handler("orders", ok))
            .with_options(with_dead_letter(rule(1, "event.type"), "orders-dead")),
        Subscription::new(PUBSUB, "orders-dead", inbox.handler("dead", ok)),
        Subscription::new(PUBSUB, "plain", inbox.handler("plain", ok)).with_options(rule(1, "event.data.size + 1")),
    ];
    let app = serve(AppProtocol::Http, subs).await;
    let (mut sc, logs) = SidecarBuilder::new("router", dir.path()).app(app.local_addr().port(), "http").start_logged();
    sc.wait_http("/v1.0/healthz", 204, Duration::from_secs(10));
    let client = sc.client();

    client.publish_event(common::typed_json_event(PUBSUB, "orders", "not-bool-1", "gadget", "1")).await.unwrap();
    let (label, dead) = inbox.next().await;
    assert_eq!((label.as_str(), dead.id.as_str()), ("dead", "not-bool-1"));

    // Without a dead-letter topic the message goes back to the broker, which redelivers it.
    client.publish_event(common::typed_json_event(PUBSUB, "plain", "not-bool-2", "gadget", r#"{"size": 1}"#)).await.unwrap();
    let errors = logs.wait_for(&["cannot choose a route", "not a boolean", "event.data.size + 1"], 2, Duration::from_secs(10));
    assert!(errors.iter().all(|l| l.contains("topic=plain")), "{errors:?}");
    inbox.assert_empty_for(Duration::from_millis(300)).await;
    drop(sc);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_match_that_does_not_compile_is_refused_at_registration() {
    let dir = memory_resources(PUBSUB);
    let mut inbox = Inbox::default();
    let ok = TopicEventStatus::Success;
    let subs = vec![
        Subscription::new(PUBSUB, "orders", inbox.handler("bad", ok)).with_options(rule(1, "event.type ==")),
        Subscription::new(PUBSUB, "orders", inbox.handler("orders-default", ok)),
        Subscription::new(PUBSUB, "other", inbox.handler("other", ok)),
    ];
    let app = serve(AppProtocol::Grpc, subs).await;
    let (mut sc, logs) = SidecarBuilder::new("router", dir.path()).app(app.local_addr().port(), "grpc").start_logged();
    sc.wait_http("/v1.0/healthz", 204, Duration::from_secs(10));
    let refused = logs.wait_for(&["subscription not registered", "pubsub=order_pub_sub", "topic=orders"], 1, Duration::from_secs(5));
    assert!(refused[0].contains(r#"invalid match expression "event.type ==""#), "{refused:?}");

    // The subscription is not registered at all; the app's others are.
    let client = sc.client();
    let md = client.metadata().await.unwrap();
    assert_eq!(md.subscriptions.iter().map(|s| s.topic.as_str()).collect::<Vec<_>>(), ["other"]);
    client.publish_event(common::typed_json_event(PUBSUB, "orders", "o-1", "widget", "1")).await.unwrap();
    client.publish_event(common::typed_json_event(PUBSUB, "other", "x-1", "widget", "1")).await.unwrap();
    let (label, ev) = inbox.next().await;
    assert_eq!((label.as_str(), ev.id.as_str()), ("other", "x-1"));
    inbox.assert_empty_for(Duration::from_millis(300)).await;
    drop(sc);
    app.stop().await.unwrap();
}

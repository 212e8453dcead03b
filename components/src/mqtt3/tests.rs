//! Behaviour tests against the machine's Mosquitto on 127.0.0.1:1883 (`make test` starts it).
//! Every test uses its own topics and client ids, so runs never see each other's messages.

use super::*;
use crate::test_support::{next, nothing_more, numbered as message, recorder};
use std::collections::HashMap;
use std::time::Duration;

const MOSQUITTO: &str = "tcp://127.0.0.1:1883";
const WITHIN: Duration = Duration::from_secs(10);

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

fn config(app_id: &str, extra: &[(&str, &str)]) -> ComponentConfig {
    let mut metadata: HashMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    metadata.entry("url".into()).or_insert_with(|| MOSQUITTO.into());
    ComponentConfig { name: "pubsub".into(), component_type: "pubsub.mqtt3".into(), metadata, app_id: app_id.into() }
}

fn request(topic: &str, group: &str) -> SubscribeRequest {
    SubscribeRequest { topic: topic.into(), consumer_group: group.into(), max_concurrency: 16, shared_slots: None }
}

#[tokio::test]
async fn a_message_not_taken_is_handed_over_again_and_acknowledged_once_taken() {
    let app = unique("checkout");
    let pubsub =
        Mqtt3PubSub::open(&config(&app, &[("cleanSession", "true")])).await.expect("the machine's Mosquitto (make test starts it)");
    let topic = unique("orders");
    let (handler, mut rx) = recorder(2);
    let subscription = pubsub.subscribe(request(&topic, &app), handler).await.unwrap();
    pubsub.publish(message(&topic, 7)).await.unwrap();
    for _ in 0..3 {
        assert_eq!(next(&mut rx).await.data, "7");
    }
    nothing_more(&mut rx).await;
    subscription.stop(Duration::from_secs(1)).await;
    pubsub.close().await;
}

#[tokio::test]
async fn a_persistent_session_keeps_what_was_published_while_the_subscriber_was_away() {
    let (app, topic) = (unique("billing"), unique("invoices"));
    let publisher = Mqtt3PubSub::open(&config(&unique("publisher"), &[])).await.unwrap();
    let subscriber = Mqtt3PubSub::open(&config(&app, &[])).await.unwrap();
    let (handler, mut rx) = recorder(0);
    let subscription = subscriber.subscribe(request(&topic, &app), handler).await.unwrap();
    publisher.publish(message(&topic, 0)).await.unwrap();
    assert_eq!(next(&mut rx).await.data, "0");
    subscription.stop(Duration::from_secs(1)).await;
    subscriber.close().await;

    for n in 1..4 {
        publisher.publish(message(&topic, n)).await.unwrap();
    }
    let subscriber = Mqtt3PubSub::open(&config(&app, &[])).await.unwrap();
    let (handler, mut rx) = recorder(0);
    let subscription = subscriber.subscribe(request(&topic, &app), handler).await.unwrap();
    let mut got: Vec<String> = Vec::new();
    for _ in 1..4 {
        got.push(String::from_utf8_lossy(&next(&mut rx).await.data).into_owned());
    }
    assert_eq!(got, ["1", "2", "3"]);
    nothing_more(&mut rx).await;
    subscription.stop(Duration::from_secs(1)).await;
    subscriber.close().await;
    publisher.close().await;
    end_session(&app).await;
}

/// Leaves nothing behind on the shared broker: a clean connection under the same client id ends
/// the session the broker kept.
async fn end_session(client_id: &str) {
    let mut options = rumqttc::MqttOptions::new(client_id, "127.0.0.1", 1883);
    options.set_clean_session(true);
    let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
    let connected = tokio::time::timeout(WITHIN, eventloop.poll()).await;
    assert!(matches!(connected, Ok(Ok(rumqttc::Event::Incoming(rumqttc::Incoming::ConnAck(_))))), "{connected:?}");
    client.disconnect().await.unwrap();
    while tokio::time::timeout(WITHIN, eventloop.poll()).await.is_ok_and(|event| event.is_ok()) {}
}

#[tokio::test]
async fn with_clean_sessions_instances_of_one_app_share_and_app_ids_each_get_every_message() {
    let (topic, shipping, billing) = (unique("orders"), unique("shipping"), unique("billing"));
    let clean = [("cleanSession", "true")];
    let publisher = Mqtt3PubSub::open(&config(&unique("publisher"), &clean)).await.unwrap();
    let instances = [
        Mqtt3PubSub::open(&config(&shipping, &clean)).await.unwrap(),
        Mqtt3PubSub::open(&config(&shipping, &clean)).await.unwrap(),
        Mqtt3PubSub::open(&config(&billing, &clean)).await.unwrap(),
    ];
    let (shipping_handler, mut shipping_rx) = recorder(0);
    let (billing_handler, mut billing_rx) = recorder(0);
    let subscriptions = [
        instances[0].subscribe(request(&topic, &shipping), shipping_handler.clone()).await.unwrap(),
        instances[1].subscribe(request(&topic, &shipping), shipping_handler).await.unwrap(),
        instances[2].subscribe(request(&topic, &billing), billing_handler).await.unwrap(),
    ];
    for n in 0..10 {
        publisher.publish(message(&topic, n)).await.unwrap();
    }
    for rx in [&mut shipping_rx, &mut billing_rx] {
        let mut got: Vec<usize> = Vec::new();
        for _ in 0..10 {
            got.push(String::from_utf8_lossy(&next(rx).await.data).parse().unwrap());
        }
        got.sort();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        nothing_more(rx).await;
    }
    for subscription in subscriptions {
        subscription.stop(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn a_broker_that_is_down_names_broker_and_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("tcp://app:secret@127.0.0.1:{port}");
    let err = Mqtt3PubSub::open(&config("checkout", &[("url", &url)])).await.err().expect("nothing listens there");
    let text = err.to_string();
    assert!(matches!(err, BrokerError::Unavailable(_)), "{text}");
    assert!(text.contains("MQTT broker") && text.contains(&format!("tcp://app:***@127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("secret"), "the password is never shown: {text}");
}

#[tokio::test]
async fn wildcards_are_refused_by_name() {
    let app = unique("checkout");
    let pubsub = Mqtt3PubSub::open(&config(&app, &[("cleanSession", "true")])).await.unwrap();
    let err = pubsub.publish(message("orders/#", 1)).await.expect_err("a wildcard is not a topic name");
    assert!(err.to_string().contains("orders/#"), "{err}");
    pubsub.close().await;
}

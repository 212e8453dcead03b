//! Behaviour tests against the machine's RabbitMQ on 127.0.0.1:5672, guest/guest (`make test`
//! starts it). Every test uses its own topic and app id, so runs never see each other's messages.

use super::*;
use crate::test_support::{next, nothing_more, recorder};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

const RABBITMQ: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn config(extra: &[(&str, &str)]) -> ComponentConfig {
    let mut metadata: HashMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    metadata.entry("connectionString".into()).or_insert_with(|| RABBITMQ.into());
    ComponentConfig { name: "pubsub".into(), component_type: "pubsub.rabbitmq".into(), metadata, app_id: unique("app") }
}

fn message(topic: &str, n: usize) -> BrokerMessage {
    BrokerMessage { topic: topic.into(), data: format!("{{\"n\":{n}}}").into(), metadata: HashMap::from([("n".into(), n.to_string())]) }
}

/// Leaves nothing behind on the machine's RabbitMQ: the topic's exchange (queues of the default
/// `deletedWhenUnused` go with their last consumer) and the queues named.
async fn remove(pubsub: &RabbitMqPubSub, topic: &str, queues: &[String]) {
    let channel = pubsub.connector.connection().await.unwrap().create_channel().await.unwrap();
    for queue in queues {
        channel.queue_delete(queue.as_str().into(), lapin::options::QueueDeleteOptions::default()).await.unwrap();
    }
    channel.exchange_delete(topic.into(), lapin::options::ExchangeDeleteOptions::default()).await.unwrap();
}

fn request(topic: &str, group: &str) -> SubscribeRequest {
    SubscribeRequest { topic: topic.into(), consumer_group: group.into(), max_concurrency: 16, shared_slots: None }
}

#[tokio::test]
async fn messages_and_their_metadata_arrive_and_a_nacked_one_comes_back() {
    let pubsub = RabbitMqPubSub::open(&config(&[])).await.expect("the machine's RabbitMQ (make test starts it)");
    let topic = unique("orders");
    let (handler, mut rx) = recorder(2);
    let subscription = pubsub.subscribe(request(&topic, &unique("checkout")), handler).await.unwrap();
    pubsub.publish(message(&topic, 1)).await.unwrap();
    for _ in 0..3 {
        let got = next(&mut rx).await;
        assert_eq!((got.data.as_ref(), got.metadata.get("n").map(String::as_str)), (&b"{\"n\":1}"[..], Some("1")));
    }
    nothing_more(&mut rx).await;
    subscription.stop(Duration::from_secs(1)).await;
    remove(&pubsub, &topic, &[]).await;
    pubsub.close().await;
}

#[tokio::test]
async fn instances_of_one_app_share_its_queue_and_app_ids_each_get_every_message() {
    let (publisher, first, second) = (
        RabbitMqPubSub::open(&config(&[])).await.unwrap(),
        RabbitMqPubSub::open(&config(&[])).await.unwrap(),
        RabbitMqPubSub::open(&config(&[])).await.unwrap(),
    );
    let (topic, shipping, billing) = (unique("orders"), unique("shipping"), unique("billing"));
    let (shipping_handler, mut shipping_rx) = recorder(0);
    let (billing_handler, mut billing_rx) = recorder(0);
    let subscriptions = [
        first.subscribe(request(&topic, &shipping), shipping_handler.clone()).await.unwrap(),
        second.subscribe(request(&topic, &shipping), shipping_handler).await.unwrap(),
        second.subscribe(request(&topic, &billing), billing_handler).await.unwrap(),
    ];
    for n in 0..10 {
        publisher.publish(message(&topic, n)).await.unwrap();
    }
    for rx in [&mut shipping_rx, &mut billing_rx] {
        let mut got: Vec<String> = Vec::new();
        for _ in 0..10 {
            got.push(String::from_utf8_lossy(&next(rx).await.data).into_owned());
        }
        got.sort();
        let mut want: Vec<String> = (0..10).map(|n| format!("{{\"n\":{n}}}")).collect();
        want.sort();
        assert_eq!(got, want);
        nothing_more(rx).await;
    }
    for subscription in subscriptions {
        subscription.stop(Duration::from_secs(1)).await;
    }
    remove(&publisher, &topic, &[]).await;
}

#[tokio::test]
async fn a_rabbitmq_that_is_down_names_broker_and_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("amqp://guest:guest@127.0.0.1:{port}");
    let err = RabbitMqPubSub::open(&config(&[("connectionString", &address)])).await.err().expect("nothing listens there");
    let text = err.to_string();
    assert!(matches!(err, BrokerError::Unavailable(_)), "{text}");
    assert!(text.contains("RabbitMQ") && text.contains(&format!("amqp://guest:***@127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("guest:guest"), "the password is never shown: {text}");
}

#[tokio::test]
async fn a_bad_value_names_its_key() {
    let err = RabbitMqPubSub::open(&config(&[("exchangeKind", "broadcast")])).await.err().expect("an unknown exchangeKind is refused");
    assert!(matches!(&err, BrokerError::Config(m) if m.contains("exchangeKind") && m.contains("broadcast")), "{err}");
}

/// Says when it starts, then takes half a second to process the message.
struct Slow(mpsc::UnboundedSender<()>);

#[async_trait]
impl MessageHandler for Slow {
    async fn handle(&self, _msg: BrokerMessage) -> Result<(), crate::NotProcessed> {
        let _ = self.0.send(());
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(())
    }
}

#[tokio::test]
async fn a_message_processed_during_the_shutdown_grace_is_acknowledged_not_redelivered() {
    let pubsub = RabbitMqPubSub::open(&config(&[("deletedWhenUnused", "false")])).await.unwrap();
    let (topic, group) = (unique("orders"), unique("checkout"));
    let (started, mut started_rx) = mpsc::unbounded_channel();
    let subscription = pubsub.subscribe(request(&topic, &group), Arc::new(Slow(started))).await.unwrap();
    pubsub.publish(message(&topic, 1)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), started_rx.recv()).await.expect("the handler starts").unwrap();
    subscription.stop(Duration::from_secs(5)).await;

    let (handler, mut rx) = recorder(0);
    let again = pubsub.subscribe(request(&topic, &group), handler).await.unwrap();
    nothing_more(&mut rx).await;
    again.stop(Duration::from_secs(1)).await;
    remove(&pubsub, &topic, &[format!("{group}-{topic}")]).await;
    pubsub.close().await;
}

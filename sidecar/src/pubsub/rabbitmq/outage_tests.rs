//! The machine's RabbitMQ seen through a TCP relay of the test's own that goes away (every
//! connection cut, nothing listening) and comes back, as a network outage or a broker restart
//! looks to the sidecar: publishes fail loudly meanwhile, then publishing and delivery carry on by
//! themselves and nothing acknowledged to the publisher is lost. (A RabbitMQ of the test's own
//! would take an Erlang node per run; the relay cuts the same connections.)

use super::RabbitMqPubSub;
use crate::pubsub::{BrokerMessage, ComponentConfig, MessageHandler, NotProcessed, PubSub, SubscribeRequest};
use async_trait::async_trait;
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

const RABBITMQ: &str = "127.0.0.1:5672";

struct Forward(mpsc::UnboundedSender<String>);

#[async_trait]
impl MessageHandler for Forward {
    async fn handle(&self, msg: BrokerMessage) -> Result<(), NotProcessed> {
        let _ = self.0.send(String::from_utf8_lossy(&msg.data).into_owned());
        Ok(())
    }
}

/// Relays 127.0.0.1:`port` to RabbitMQ until dropped; dropping it cuts every relayed connection.
struct Relay {
    _tasks: JoinSet<()>,
}

async fn relay(port: u16) -> Relay {
    // The relay dropped just before lets go of its listener when its task is torn down.
    let mut listener = TcpListener::bind(("127.0.0.1", port)).await;
    for _ in 0..40 {
        if listener.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        listener = TcpListener::bind(("127.0.0.1", port)).await;
    }
    let listener = listener.expect("the relay's port is free again");
    let mut tasks = JoinSet::new();
    tasks.spawn(async move {
        let mut connections = JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            connections.spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(RABBITMQ).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    Relay { _tasks: tasks }
}

fn message(topic: &str, n: usize) -> BrokerMessage {
    BrokerMessage { topic: topic.into(), data: n.to_string().into(), metadata: HashMap::new() }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rabbitmq_that_goes_away_fails_publishes_and_delivery_resumes_when_it_is_back() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let relayed = relay(port).await;
    let topic = format!("orders-{}", uuid::Uuid::new_v4().simple());
    let config = ComponentConfig {
        name: "pubsub".into(),
        component_type: "pubsub.rabbitmq".into(),
        metadata: [
            ("connectionString".to_owned(), format!("amqp://guest:guest@127.0.0.1:{port}/%2f")),
            // The queue outlives the cut connection, so what is published before the subscriber
            // is back waits in it.
            ("deletedWhenUnused".to_owned(), "false".to_owned()),
            ("reconnectWait".to_owned(), "200ms".to_owned()),
        ]
        .into(),
        app_id: "checkout".into(),
    };
    let pubsub = RabbitMqPubSub::open(&config).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let request = SubscribeRequest { topic: topic.clone(), consumer_group: "checkout".into(), max_concurrency: 4 };
    let subscription = pubsub.subscribe(request, Arc::new(Forward(tx))).await.unwrap();
    pubsub.publish(message(&topic, 0)).await.unwrap();
    assert_eq!(tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap(), "0");

    drop(relayed);
    let failed = tokio::time::timeout(Duration::from_secs(30), pubsub.publish(message(&topic, 1))).await;
    assert!(matches!(failed, Ok(Err(_))), "a publish while RabbitMQ is away fails: {failed:?}");

    let _relayed = relay(port).await;
    let mut acknowledged = BTreeSet::new();
    for n in 2..6 {
        for _ in 0..100 {
            if pubsub.publish(message(&topic, n)).await.is_ok() {
                acknowledged.insert(n.to_string());
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!(acknowledged.len(), 4, "publishing carries on once RabbitMQ is back");
    let mut delivered = BTreeSet::new();
    while !acknowledged.is_subset(&delivered) {
        let got = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("delivery resumes by itself").unwrap();
        delivered.insert(got);
    }
    subscription.stop(Duration::from_secs(1)).await;

    // Leaves nothing behind on the machine's RabbitMQ.
    let channel = pubsub.connector.connection().await.unwrap().create_channel().await.unwrap();
    channel.queue_delete(format!("checkout-{topic}").as_str().into(), QueueDeleteOptions::default()).await.unwrap();
    channel.exchange_delete(topic.as_str().into(), ExchangeDeleteOptions::default()).await.unwrap();
    pubsub.close().await;
}

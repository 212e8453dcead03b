//! The machine's RabbitMQ seen through a TCP relay of the test's own that goes away (every
//! connection cut, nothing listening) and comes back, as a network outage or a broker restart
//! looks to the sidecar: publishes fail loudly meanwhile, then publishing and delivery carry on by
//! themselves and nothing acknowledged to the publisher is lost. (A RabbitMQ of the test's own
//! would take an Erlang node per run; the relay cuts the same connections.)

use super::RabbitMqPubSub;
use crate::test_support::{next, numbered as message, publishing_and_delivery_resume, recorder};
use crate::{ComponentConfig, PubSub, SubscribeRequest};
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

const RABBITMQ: &str = "127.0.0.1:5672";

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
    let (handler, mut rx) = recorder(0);
    let request = SubscribeRequest { topic: topic.clone(), consumer_group: "checkout".into(), max_concurrency: 4, shared_slots: None };
    let subscription = pubsub.subscribe(request, handler).await.unwrap();
    pubsub.publish(message(&topic, 0)).await.unwrap();
    assert_eq!(next(&mut rx).await.data, "0");

    drop(relayed);
    let failed = tokio::time::timeout(Duration::from_secs(30), pubsub.publish(message(&topic, 1))).await;
    assert!(matches!(failed, Ok(Err(_))), "a publish while RabbitMQ is away fails: {failed:?}");

    let _relayed = relay(port).await;
    publishing_and_delivery_resume(&pubsub, &topic, &mut rx).await;
    subscription.stop(Duration::from_secs(1)).await;

    // Leaves nothing behind on the machine's RabbitMQ.
    let channel = pubsub.connector.connection().await.unwrap().create_channel().await.unwrap();
    channel.queue_delete(format!("checkout-{topic}").as_str().into(), QueueDeleteOptions::default()).await.unwrap();
    channel.exchange_delete(topic.as_str().into(), ExchangeDeleteOptions::default()).await.unwrap();
    pubsub.close().await;
}

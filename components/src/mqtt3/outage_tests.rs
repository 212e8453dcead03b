//! A Mosquitto of the test's own (on a port of its own, persistence in a temporary directory)
//! that goes away and comes back: publishes fail loudly meanwhile, then publishing and delivery
//! carry on by themselves and nothing acknowledged to the publisher is lost.

use super::Mqtt3PubSub;
use super::test_broker::{free_port, mosquitto};
use crate::test_support::{next, numbered as message, publishing_and_delivery_resume, recorder};
use crate::{ComponentConfig, PubSub, SubscribeRequest};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_that_goes_away_fails_publishes_and_delivery_resumes_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = mosquitto(port, dir.path(), "persistence true\nautosave_interval 1\n");
    let config = |app_id: &str| ComponentConfig {
        name: "pubsub".into(),
        component_type: "pubsub.mqtt3".into(),
        metadata: [("url".to_owned(), format!("tcp://127.0.0.1:{port}"))].into(),
        app_id: app_id.into(),
    };
    let publisher = Mqtt3PubSub::open(&config("publisher")).await.unwrap();
    let subscriber = Mqtt3PubSub::open(&config("checkout")).await.unwrap();
    let (handler, mut rx) = recorder(0);
    let request = SubscribeRequest { topic: "orders".into(), consumer_group: "checkout".into(), max_concurrency: 4, shared_slots: None };
    let subscription = subscriber.subscribe(request, handler).await.unwrap();
    publisher.publish(message("orders", 0)).await.unwrap();
    assert_eq!(next(&mut rx).await.data, "0");

    server.stop();
    let failed = tokio::time::timeout(Duration::from_secs(25), publisher.publish(message("orders", 1))).await;
    assert!(matches!(failed, Ok(Err(_))), "a publish while the broker is away fails: {failed:?}");

    let _server = mosquitto(port, dir.path(), "persistence true\nautosave_interval 1\n");
    publishing_and_delivery_resume(&publisher, "orders", &mut rx).await;
    subscription.stop(Duration::from_secs(1)).await;
    subscriber.close().await;
    publisher.close().await;
}

//! A Kafka of the test's own (`scripts/kafka/run-private.sh`, its data in a temporary directory)
//! that dies and comes back: publishes fail loudly meanwhile, then publishing and delivery carry
//! on by themselves and nothing acknowledged to the publisher is lost. And a Kafka that is not
//! there at all fails the component, naming its address.

use super::KafkaPubSub;
use crate::test_support::{next, numbered as message, publishing_and_delivery_resume, recorder};
use crate::{ComponentConfig, PubSub, SubscribeRequest};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn scripts() -> PathBuf {
    super::checkout_dir::checkout_dir().join("../scripts/kafka")
}

/// The test's own broker (the script execs the JVM, so this child is the broker), killed
/// (SIGKILL) and reaped when dropped, also when the test fails.
struct KafkaBroker(Child);

impl Drop for KafkaBroker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn kafka_broker(port: u16, controller_port: u16, data: &Path) -> KafkaBroker {
    let log = std::fs::File::create(data.with_extension("log")).unwrap();
    let broker = Command::new(scripts().join("run-private.sh"))
        .args([port.to_string(), controller_port.to_string()])
        .arg(data)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .map(KafkaBroker)
        .expect("scripts/kafka/run-private.sh (scripts/start-brokers.sh fetches Kafka)");
    // `ready` creates (or finds) a topic: the broker serves, not only listens. It has a deadline.
    let ready = Command::new(scripts().join("kafka.sh"))
        .args(["ready", &port.to_string(), "90"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("scripts/kafka/kafka.sh");
    assert!(ready.success(), "the private Kafka on {port} did not serve within 90 s; its log: {}", data.with_extension("log").display());
    broker
}

fn config(port: u16) -> ComponentConfig {
    ComponentConfig {
        name: "pubsub".into(),
        component_type: "pubsub.kafka".into(),
        metadata: [
            ("brokers".to_owned(), format!("127.0.0.1:{port}")),
            ("authType".to_owned(), "none".to_owned()),
            ("initialOffset".to_owned(), "oldest".to_owned()),
            ("backOffDuration".to_owned(), "200ms".to_owned()),
        ]
        .into(),
        app_id: "checkout".into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kafka_that_dies_fails_publishes_and_delivery_resumes_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("kafka");
    let (port, controller_port) = (free_port(), free_port());
    let broker = kafka_broker(port, controller_port, &data);
    let pubsub = KafkaPubSub::open(&config(port)).await.unwrap();
    let (handler, mut rx) = recorder(0);
    let request = SubscribeRequest { topic: "orders".into(), consumer_group: "checkout".into(), max_concurrency: 4, shared_slots: None };
    let subscription = pubsub.subscribe(request, handler).await.unwrap();
    pubsub.publish(message("orders", 0)).await.unwrap();
    assert_eq!(next(&mut rx).await.data, "0");

    drop(broker);
    let failed = tokio::time::timeout(Duration::from_secs(30), pubsub.publish(message("orders", 1))).await;
    assert!(matches!(failed, Ok(Err(_))), "a publish while Kafka is away fails: {failed:?}");

    let _broker = kafka_broker(port, controller_port, &data);
    publishing_and_delivery_resume(&pubsub, "orders", &mut rx).await;
    subscription.stop(Duration::from_secs(1)).await;
    pubsub.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kafka_that_is_not_there_fails_the_component_naming_its_address() {
    let port = free_port();
    let mut config = config(port);
    config.metadata.insert("sessionTimeout".into(), "2s".into());
    config.metadata.insert("heartbeatInterval".into(), "500ms".into());
    let err = match KafkaPubSub::open(&config).await {
        Ok(_) => panic!("a component with no Kafka behind it opened"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

/// Kafka refuses a group whose session timeout is below its `group.min.session.timeout.ms` (6 s
/// by default): the subscription fails with Kafka's reason, not only "not assigned".
#[tokio::test(flavor = "multi_thread")]
async fn a_session_timeout_kafka_refuses_fails_the_subscription_with_kafkas_reason() {
    let mut config = config(9092);
    config.metadata.insert("sessionTimeout".into(), "2s".into());
    config.metadata.insert("heartbeatInterval".into(), "500ms".into());
    let pubsub = KafkaPubSub::open(&config).await.expect("the shared Kafka on 9092 (scripts/start-brokers.sh)");
    let topic = format!("short-session-{}", uuid::Uuid::new_v4().simple());
    let request = SubscribeRequest { topic, consumer_group: "checkout".into(), max_concurrency: 1, shared_slots: None };
    let err = match pubsub.subscribe(request, recorder(0).0).await {
        Ok(_) => panic!("a group with a 2 s session timeout was assigned its topic"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("Kafka said") && err.to_lowercase().contains("session"), "{err}");
    pubsub.close().await;
}

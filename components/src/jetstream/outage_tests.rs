//! A NATS of the test's own (`nats-server -js`, persistent store in a temporary directory) that
//! goes away and comes back: publishes fail loudly meanwhile, then publishing and delivery carry
//! on by themselves and nothing acknowledged to the publisher is lost.

use super::JetStreamPubSub;
use crate::test_support::{next, numbered as message, publishing_and_delivery_resume, recorder};
use crate::{ComponentConfig, PubSub, SubscribeRequest};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The test's own nats-server, stopped (SIGKILL) when dropped, also when the test fails.
pub(super) struct NatsServer(Child);

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nats_server(port: u16, store: &std::path::Path) -> NatsServer {
    let server = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(NatsServer)
        .expect("nats-server (scripts/start-brokers.sh installs it)");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nats-server did not listen on {port}");
}

/// A nats-server of the test's own, its persistent store, and a component config pointing at it.
pub(super) struct PrivateNats {
    pub server: NatsServer,
    pub store: tempfile::TempDir,
    pub port: u16,
    pub config: ComponentConfig,
}

pub(super) fn private_nats() -> PrivateNats {
    let store = tempfile::tempdir().unwrap();
    // The port of a listener just closed: nats-server cannot be asked for port 0 and tell it back.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = nats_server(port, store.path());
    let config = ComponentConfig {
        name: "pubsub".into(),
        component_type: "pubsub.jetstream".into(),
        metadata: [("natsURL".to_owned(), format!("nats://127.0.0.1:{port}"))].into(),
        app_id: "checkout".into(),
    };
    PrivateNats { server, store, port, config }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nats_that_goes_away_fails_publishes_and_delivery_resumes_when_it_is_back() {
    let PrivateNats { server, store, port, config } = private_nats();
    let pubsub = JetStreamPubSub::open(&config).await.unwrap();
    let (handler, mut rx) = recorder(0);
    let request = SubscribeRequest { topic: "orders".into(), consumer_group: "checkout".into(), max_concurrency: 4, shared_slots: None };
    let subscription = pubsub.subscribe(request, handler).await.unwrap();
    pubsub.publish(message("orders", 0)).await.unwrap();
    assert_eq!(next(&mut rx).await.data, "0");

    drop(server);
    let failed = tokio::time::timeout(Duration::from_secs(20), pubsub.publish(message("orders", 1))).await;
    assert!(matches!(failed, Ok(Err(_))), "a publish while NATS is away fails: {failed:?}");

    let _server = nats_server(port, store.path());
    publishing_and_delivery_resume(&pubsub, "orders", &mut rx).await;
    subscription.stop(Duration::from_secs(1)).await;
    pubsub.close().await;
}

//! A Mosquitto of the test's own (on a port of its own, persistence in a temporary directory)
//! that goes away and comes back: publishes fail loudly meanwhile, then publishing and delivery
//! carry on by themselves and nothing acknowledged to the publisher is lost.

use super::Mqtt3PubSub;
use crate::pubsub::test_support::{next, numbered as message, publishing_and_delivery_resume, recorder};
use crate::pubsub::{ComponentConfig, PubSub, SubscribeRequest};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The test's own mosquitto, stopped (SIGKILL) when dropped, also when the test fails.
struct Mosquitto(Child);

impl Mosquitto {
    /// SIGTERM: mosquitto writes its sessions to disk and exits, as on a service restart.
    fn stop(mut self) {
        // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn mosquitto(port: u16, dir: &std::path::Path) -> Mosquitto {
    let config = dir.join("mosquitto.conf");
    let text = format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nautosave_interval 1\n",
        dir.display()
    );
    std::fs::write(&config, text).unwrap();
    let server = Command::new("mosquitto")
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Mosquitto)
        .expect("mosquitto (scripts/start-brokers.sh installs it)");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("mosquitto did not listen on {port}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_that_goes_away_fails_publishes_and_delivery_resumes_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    // The port of a listener just closed: mosquitto cannot be asked for port 0 and tell it back.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = mosquitto(port, dir.path());
    let config = |app_id: &str| ComponentConfig {
        name: "pubsub".into(),
        component_type: "pubsub.mqtt3".into(),
        metadata: [("url".to_owned(), format!("tcp://127.0.0.1:{port}"))].into(),
        app_id: app_id.into(),
    };
    let publisher = Mqtt3PubSub::open(&config("publisher")).await.unwrap();
    let subscriber = Mqtt3PubSub::open(&config("checkout")).await.unwrap();
    let (handler, mut rx) = recorder(0);
    let request = SubscribeRequest { topic: "orders".into(), consumer_group: "checkout".into(), max_concurrency: 4 };
    let subscription = subscriber.subscribe(request, handler).await.unwrap();
    publisher.publish(message("orders", 0)).await.unwrap();
    assert_eq!(next(&mut rx).await.data, "0");

    server.stop();
    let failed = tokio::time::timeout(Duration::from_secs(25), publisher.publish(message("orders", 1))).await;
    assert!(matches!(failed, Ok(Err(_))), "a publish while the broker is away fails: {failed:?}");

    let _server = mosquitto(port, dir.path());
    publishing_and_delivery_resume(&publisher, "orders", &mut rx).await;
    subscription.stop(Duration::from_secs(1)).await;
    subscriber.close().await;
    publisher.close().await;
}

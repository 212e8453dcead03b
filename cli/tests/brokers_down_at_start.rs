//! `pubsub.rabbitmq` and `pubsub.mqtt3` when their broker is not there at start: the sidecar
//! refuses to run with an error naming the component, the broker and its address (never a
//! password), unless the component says `ignoreErrors`.

mod common;

use common::{SidecarBuilder, free_port};
use std::path::Path;
use std::time::Duration;

const PUBSUB: &str = "orders_pubsub";

fn component(dir: &Path, component_type: &str, key: &str, address: &str, extra: &str) {
    let yaml = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {PUBSUB}\nspec:\n  type: {component_type}\n  version: v1\n{extra}  metadata:\n  - name: {key}\n    value: \"{address}\"\n"
    );
    std::fs::write(dir.join("pubsub.yaml"), yaml).unwrap();
}

fn refuses_to_start(component_type: &str, key: &str, address: &str, shown: &str, broker: &str) {
    let dir = tempfile::tempdir().unwrap();
    component(dir.path(), component_type, key, address, "");
    let (code, output) = SidecarBuilder::new("down-at-start", dir.path()).run_to_exit(Duration::from_secs(30));
    assert_eq!(code, Some(1), "{output}");
    for needle in [PUBSUB, component_type, shown, broker] {
        assert!(output.contains(needle), "the error should name {needle:?}:\n{output}");
    }
    assert!(!output.contains("secret"), "the password is never shown:\n{output}");

    component(dir.path(), component_type, key, address, "  ignoreErrors: true\n");
    let (mut sc, logs) = SidecarBuilder::new("down-at-start", dir.path()).start_logged();
    sc.wait_http("/v1.0/healthz", 204, Duration::from_secs(10));
    logs.wait_for(&[PUBSUB, "ignoreErrors"], 1, Duration::from_secs(5));
}

#[test]
fn a_rabbitmq_that_is_down_at_start_stops_the_sidecar_with_component_broker_and_address() {
    let port = free_port(); // nothing listens there
    let address = format!("amqp://app:secret@127.0.0.1:{port}");
    refuses_to_start("pubsub.rabbitmq", "connectionString", &address, &format!("amqp://app:***@127.0.0.1:{port}"), "RabbitMQ");
}

#[test]
fn an_mqtt_broker_that_is_down_at_start_stops_the_sidecar_with_component_broker_and_address() {
    let port = free_port();
    let address = format!("tcp://app:secret@127.0.0.1:{port}");
    refuses_to_start("pubsub.mqtt3", "url", &address, &format!("tcp://app:***@127.0.0.1:{port}"), "MQTT broker");
}

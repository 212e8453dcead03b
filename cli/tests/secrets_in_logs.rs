//! No token, password or connection string is ever said in a log line or an error message: the
//! brokers' start-up failures, the API logging and refused calls, checked on the sidecar's whole
//! output.

mod common;

use common::{SidecarBuilder, component, free_port};
use std::time::Duration;

const SECRET: &str = "pa55-Wr0ng-s3cret";

/// A component whose broker is not there, configured with `SECRET` in its credentials: the sidecar
/// refuses to start, names the component, and never prints the secret.
fn refused_without_the_secret(ty: &str, metadata: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    component(dir.path(), "pubsub", ty, metadata);
    let (code, output) = SidecarBuilder::new("checkout", dir.path()).env("RUST_LOG", "trace").run_to_exit(Duration::from_secs(60));
    assert_ne!(code, Some(0), "{ty}: started with no broker:\n{output}");
    assert!(output.contains("pubsub"), "{ty}: the error does not name the component:\n{output}");
    assert!(!output.contains(SECRET), "{ty}: the secret is in the output:\n{output}");
}

#[test]
fn broker_credentials_stay_out_of_start_up_errors() {
    let closed = free_port().to_string();
    let url = |scheme: &str| format!("{scheme}://user:{SECRET}@127.0.0.1:{closed}");
    refused_without_the_secret(
        "pubsub.redis",
        &[("redisHost", &format!("127.0.0.1:{closed}")), ("redisPassword", SECRET), ("redisUsername", "user")],
    );
    refused_without_the_secret("pubsub.rabbitmq", &[("connectionString", &url("amqp"))]);
    let host = format!("127.0.0.1:{closed}");
    refused_without_the_secret("pubsub.rabbitmq", &[("hostname", &host), ("username", "u"), ("password", SECRET)]);
    refused_without_the_secret("pubsub.jetstream", &[("natsURL", &url("nats"))]);
    refused_without_the_secret("pubsub.mqtt3", &[("url", &url("tcp")), ("consumerID", "c")]);
}

#[test]
fn the_api_token_stays_out_of_api_logs_and_refusals() {
    let dir = common::memory_resources("pubsub");
    let (sc, logs) = SidecarBuilder::new("checkout", dir.path())
        .env("DAPR_API_TOKEN", SECRET)
        .env("RUST_LOG", "trace")
        .args(&["--enable-api-logging"])
        .start_logged();
    let wrong = format!("{SECRET}-not");
    let publish = |token: &str| {
        sc.http("POST", "/v1.0/publish/pubsub/orders", &[("dapr-api-token", token), ("content-type", "application/json")], b"{}")
    };
    let (status, body) = publish(&wrong);
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains(SECRET), "{body}");
    assert_eq!(publish(SECRET).0, 204);
    logs.wait_for(&["/v1.0/publish/pubsub/orders"], 2, Duration::from_secs(10));
    assert!(!logs.text().contains(SECRET), "the token is in the logs:\n{}", logs.text());
}

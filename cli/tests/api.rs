//! The sidecar's API surface: errors as the contract maps them, health, tokens, bad resources.

mod common;

use bytes::Bytes;
use common::{SidecarBuilder, free_port, memory_resources};
use dapr_rs_core::PublishRequest;
use std::time::Duration;

fn publish(pubsub: &str, topic: &str) -> PublishRequest {
    PublishRequest {
        pubsub_name: pubsub.into(),
        topic: topic.into(),
        data: Bytes::from_static(b"{}"),
        data_content_type: "application/json".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_errors_carry_status_and_error_code() {
    let dir = memory_resources("order_pub_sub");
    let sc = SidecarBuilder::new("orderprocessing", dir.path()).start();
    let (status, body) = sc.http("POST", "/v1.0/publish/nope/orders", &[("content-type", "application/json")], b"1");
    assert_eq!(status, 404);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["errorCode"], "ERR_PUBSUB_NOT_FOUND");
    assert!(body["message"].as_str().unwrap().contains("nope"));
    let (status, body) = sc.http("POST", "/v1.0/publish/order_pub_sub/orders?metadata.rawPayload=sometimes", &[], b"1");
    assert_eq!(status, 400);
    assert!(body.contains("ERR_PUBSUB_REQUEST_METADATA") && body.contains("rawPayload"), "{body}");
    let (status, body) = sc.http("POST", "/v1.0/publish/order_pub_sub/orders", &[("content-type", "application/cloudevents+json")], b"[1]");
    assert_eq!(status, 500);
    assert!(body.contains("ERR_PUBSUB_CLOUD_EVENTS_SER"), "{body}");
    let (status, _) = sc.http("PUT", "/v1.0/publish/order_pub_sub/a/topic/with/slashes", &[], b"x");
    assert_eq!(status, 204);

    let client = sc.client();
    let err = client.publish_event(publish("nope", "orders")).await.unwrap_err();
    assert_eq!(err.grpc_code(), tonic::Code::InvalidArgument);
    assert_eq!(err.error_code(), Some("ERR_PUBSUB_NOT_FOUND"));
    client.publish_event(publish("order_pub_sub", "orders")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_apis_serve_before_the_app_listens() {
    let dir = memory_resources("order_pub_sub");
    // The quickstart's publisher gives an app port it never listens on.
    let sc = SidecarBuilder::new("orderprocessing", dir.path()).app(free_port(), "grpc").start();
    assert_eq!(sc.http("GET", "/v1.0/healthz/outbound", &[], b"").0, 204);
    assert_eq!(sc.http("GET", "/v1.0/healthz", &[], b"").0, 500);
    sc.client().publish_event(publish("order_pub_sub", "orders")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn api_token_is_required_except_for_health() {
    let dir = memory_resources("order_pub_sub");
    let sc = SidecarBuilder::new("orderprocessing", dir.path()).env("DAPR_API_TOKEN", "s3cret").start();
    assert_eq!(sc.http("POST", "/v1.0/publish/order_pub_sub/orders", &[], b"x").0, 401);
    assert_eq!(sc.http("POST", "/v1.0/publish/order_pub_sub/orders", &[("dapr-api-token", "s3cret")], b"x").0, 204);
    let err = sc.client().publish_event(publish("order_pub_sub", "orders")).await.unwrap_err();
    assert_eq!(err.grpc_code(), tonic::Code::Unauthenticated);
    let opts = dapr_rs_core::ClientOptions::from_lookup(|_| None).with_address(&sc.grpc_endpoint()).with_api_token(Some("s3cret".into()));
    dapr_rs_core::DaprClient::new(opts).unwrap().publish_event(publish("order_pub_sub", "orders")).await.unwrap();
}

#[test]
fn a_malformed_component_stops_the_sidecar_naming_file_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.yaml"),
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: x\nspec:\n  version: v1\n",
    )
    .unwrap();
    let out = common::output_within(
        SidecarBuilder::new("a", dir.path()).command(free_port(), free_port()),
        std::time::Duration::from_secs(30),
        "the sidecar to refuse a broken component",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.yaml") && err.contains("spec.type"), "{err}");

    std::fs::write(dir.path().join("broken.yaml"), "kind: Component\nmetadata:\n  name: x\nspec:\n  type: pubsub.pulsar\n").unwrap();
    let out = common::output_within(
        SidecarBuilder::new("a", dir.path()).command(free_port(), free_port()),
        std::time::Duration::from_secs(30),
        "the sidecar to refuse a broken component",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("broken.yaml") && err.contains("pubsub.pulsar"), "{err}");
}

#[test]
fn run_starts_the_app_with_the_sidecar_environment_and_returns_its_exit_code() {
    let dir = memory_resources("order_pub_sub");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dapr-rs"));
    cmd.args(["run", "--app-id", "runner", "--app-port", "6123", "--resources-path"])
        .arg(dir.path())
        .args(["--", "sh", "-c", "echo id=$APP_ID app=$APP_PORT grpc=$DAPR_GRPC_PORT http=$DAPR_HTTP_PORT; curl -s -o /dev/null -w 'outbound=%{http_code}\\n' http://127.0.0.1:$DAPR_HTTP_PORT/v1.0/healthz/outbound; exit 3"]);
    let out = common::output_within(cmd, std::time::Duration::from_secs(60), "dapr-rs run to return the app's exit code");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    let line = stdout.lines().find(|l| l.starts_with("== APP == id=")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("id=runner") && line.contains("app=6123"), "{line}");
    let grpc: u16 = line.split("grpc=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(grpc > 0 && grpc != 50001, "a free port is picked when none is given");
    assert!(stdout.contains("== APP == outbound=204"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_api_stops_the_sidecar() {
    let dir = memory_resources("order_pub_sub");
    let mut sc = SidecarBuilder::new("a", dir.path()).start();
    sc.client().shutdown_sidecar().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = sc.child.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(std::time::Instant::now() < deadline, "sidecar still running after Shutdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

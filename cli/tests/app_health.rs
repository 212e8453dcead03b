//! App health checks through a real sidecar process: while the app is unhealthy nothing is
//! delivered (and nothing lost), `/v1.0/healthz` says so, and deliveries resume once it recovers.

mod common;

use common::memory_resources;
use common::test_apps::{AppKind, PUBSUB, TestApp, publish, start_sidecar};
use serde_json::Value as Json;
use std::sync::atomic::Ordering;
use std::time::Duration;

const FAST_PROBES: &[&str] = &[
    "--enable-app-health-check",
    "--app-health-probe-interval",
    "100ms",
    "--app-health-probe-timeout",
    "300",
    "--app-health-threshold",
    "2",
];

async fn recv_all(app: &mut TestApp, n: usize) -> Vec<String> {
    let mut data = Vec::new();
    for _ in 0..n {
        data.push(app.recv().await.data);
    }
    data.sort();
    data
}

/// Unhealthy → paused (healthz 500, nothing delivered) → healthy → everything published meanwhile arrives.
async fn pause_and_resume(app: &mut TestApp, sc: &mut common::Sidecar) {
    publish(sc, r#"{"n":1}"#);
    assert_eq!(app.recv().await.data, r#"{"n":1}"#);

    app.set_healthy(false);
    sc.wait_http("/v1.0/healthz", 500, Duration::from_secs(10));
    let delivered = app.probe.deliveries.load(Ordering::SeqCst);
    publish(sc, r#"{"n":2}"#);
    publish(sc, r#"{"n":3}"#);
    app.expect_nothing(Duration::from_millis(1500)).await;
    assert_eq!(app.probe.deliveries.load(Ordering::SeqCst), delivered, "the app was called while unhealthy");
    // Probing goes on while paused.
    let probes = app.probe.health_checks.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(app.probe.health_checks.load(Ordering::SeqCst) > probes);

    app.set_healthy(true);
    sc.wait_http("/v1.0/healthz", 204, Duration::from_secs(10));
    assert_eq!(recv_all(app, 2).await, [r#"{"n":2}"#, r#"{"n":3}"#]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unhealthy_http_app_gets_nothing_until_it_recovers() {
    let dir = memory_resources(PUBSUB);
    let mut app = TestApp::start(AppKind::Http, false, "127.0.0.1").await;
    let mut sc = start_sidecar("healthy-http", dir.path(), app.addr, "http", FAST_PROBES);
    sc.wait_http("/v1.0/healthz", 204, Duration::from_secs(15));

    let (status, body) = sc.http("GET", "/v1.0/metadata", &[], b"");
    assert_eq!(status, 200);
    let md: Json = serde_json::from_str(&body).unwrap();
    let health = &md["appConnectionProperties"]["health"];
    assert_eq!(health["healthCheckPath"], "/healthz");
    assert_eq!(health["healthProbeInterval"], "100ms");
    assert_eq!(health["healthProbeTimeout"], "300ms");
    assert_eq!(health["healthThreshold"], 2);

    pause_and_resume(&mut app, &mut sc).await;
    assert_eq!(sc.stop(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_grpc_app_is_probed_with_the_health_check_rpc_before_its_first_delivery() {
    let dir = memory_resources(PUBSUB);
    let mut app = TestApp::start(AppKind::Grpc, false, "127.0.0.1").await;
    app.set_healthy(false);
    let mut sc = start_sidecar("healthy-grpc", dir.path(), app.addr, "grpc", FAST_PROBES);
    // Never healthy yet: probed, not ready, not subscribed.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(app.probe.health_checks.load(Ordering::SeqCst) >= 2);
    assert_eq!(sc.http("GET", "/v1.0/healthz", &[], b"").0, 500);
    let md: Json = serde_json::from_str(&sc.http("GET", "/v1.0/metadata", &[], b"").1).unwrap();
    // Like daprd (omitempty), no subscriptions means no `subscriptions` key.
    assert!(md["subscriptions"].as_array().is_none_or(|s| s.is_empty()), "{md}");
    assert!(md["appConnectionProperties"]["health"].get("healthCheckPath").is_none(), "{md}");

    app.set_healthy(true);
    sc.wait_http("/v1.0/healthz", 204, Duration::from_secs(10));
    pause_and_resume(&mut app, &mut sc).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custom_health_path_is_probed() {
    let dir = memory_resources(PUBSUB);
    let app = TestApp::start(AppKind::Http, false, "127.0.0.1").await;
    // The app answers 404 on /ready: a failed probe, so the app never becomes healthy.
    let mut args = FAST_PROBES.to_vec();
    args.extend(["--app-health-check-path", "ready"]);
    let sc = start_sidecar("custom-path", dir.path(), app.addr, "http", &args);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sc.http("GET", "/v1.0/healthz", &[], b"").0, 500);
    assert_eq!(app.probe.health_checks.load(Ordering::SeqCst), 0);
    let md: Json = serde_json::from_str(&sc.http("GET", "/v1.0/metadata", &[], b"").1).unwrap();
    assert_eq!(md["appConnectionProperties"]["health"]["healthCheckPath"], "/ready");
}

#[test]
fn bad_health_flags_are_refused_by_name() {
    for (flag, value) in [("--app-health-probe-interval", "0"), ("--app-health-probe-timeout", "soon"), ("--app-health-threshold", "0")] {
        let out = {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dapr-rs"));
            cmd.args(["sidecar", flag, value]);
            common::output_within(cmd, std::time::Duration::from_secs(30), "the sidecar to refuse a bad flag")
        };
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{flag}: {err}");
    }
}

//! The app channel options through a real sidecar process: TLS to the app (`--app-ssl`, `https`,
//! `grpcs`) accepting a self-signed certificate, h2c, and `--app-channel-address`.

mod common;

use common::memory_resources;
use common::test_apps::{AppKind, PUBSUB, Received, TestApp, publish, start_sidecar};
use serde_json::Value as Json;
use std::time::Duration;

fn metadata(sc: &common::Sidecar) -> Json {
    let (status, body) = sc.http("GET", "/v1.0/metadata", &[], b"");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Publishes two events and checks the app got both, in full.
async fn round_trip(sc: &common::Sidecar, app: &mut TestApp) -> Vec<Received> {
    let mut got = Vec::new();
    for n in [1, 2] {
        publish(sc, &format!(r#"{{"orderId":{n}}}"#));
        got.push(app.recv().await);
    }
    let mut data: Vec<String> = got.iter().map(|r| r.data.clone()).collect();
    data.sort();
    assert_eq!(data, [r#"{"orderId":1}"#, r#"{"orderId":2}"#]);
    got
}

/// Starts a `kind` app (TLS when `tls`) on `host` and a sidecar for it with `--app-protocol
/// protocol` and `extra` flags; checks two events arrive. Returns them and the sidecar's
/// `appConnectionProperties`.
async fn deliver_through(kind: AppKind, tls: bool, host: &str, protocol: &'static str, extra: &[&str]) -> (Vec<Received>, Json) {
    let dir = memory_resources(PUBSUB);
    let mut app = TestApp::start(kind, tls, host).await;
    let mut sc = start_sidecar("app", dir.path(), app.addr, protocol, extra);
    sc.wait_http("/v1.0/healthz", 204, Duration::from_secs(15));
    let got = round_trip(&sc, &mut app).await;
    let props = metadata(&sc)["appConnectionProperties"].clone();
    assert_eq!(sc.stop(), Some(0));
    (got, props)
}

#[tokio::test(flavor = "multi_thread")]
async fn app_ssl_reaches_an_https_app_with_a_self_signed_certificate() {
    let (_, props) = deliver_through(AppKind::Http, true, "127.0.0.1", "http", &["--app-ssl"]).await;
    assert_eq!(props["protocol"], "https");
}

#[tokio::test(flavor = "multi_thread")]
async fn https_protocol_reaches_an_https_app() {
    let (_, props) = deliver_through(AppKind::Http, true, "127.0.0.1", "https", &[]).await;
    assert_eq!(props["protocol"], "https");
}

#[tokio::test(flavor = "multi_thread")]
async fn grpcs_reaches_a_tls_grpc_app() {
    let (_, props) = deliver_through(AppKind::Grpc, true, "127.0.0.1", "grpcs", &[]).await;
    assert_eq!(props["protocol"], "grpcs");
}

#[tokio::test(flavor = "multi_thread")]
async fn app_ssl_upgrades_grpc_to_grpcs() {
    let (_, props) = deliver_through(AppKind::Grpc, true, "127.0.0.1", "grpc", &["--app-ssl"]).await;
    assert_eq!(props["protocol"], "grpcs");
}

#[tokio::test(flavor = "multi_thread")]
async fn h2c_delivers_over_cleartext_http2() {
    let (got, props) = deliver_through(AppKind::Http, false, "127.0.0.1", "h2c", &[]).await;
    assert!(got.iter().all(|r| r.http_version == http::Version::HTTP_2), "{got:?}");
    assert_eq!(props["protocol"], "h2c");
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_cannot_reach_a_tls_app() {
    // Without --app-ssl the sidecar speaks plain HTTP, which the TLS app cannot read: never ready.
    let dir = memory_resources(PUBSUB);
    let app = TestApp::start(AppKind::Http, true, "127.0.0.1").await;
    let mut sc = start_sidecar("no-tls", dir.path(), app.addr, "http", &[]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sc.http("GET", "/v1.0/healthz", &[], b"").0, 500);
    assert_eq!(app.probe.deliveries.load(std::sync::atomic::Ordering::SeqCst), 0);
    sc.wait_http("/v1.0/healthz/outbound", 204, Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn app_channel_address_reaches_an_app_on_another_address() {
    // Linux routes all of 127.0.0.0/8 to the loopback interface; elsewhere 127.0.0.2 may not exist.
    if std::net::TcpListener::bind("127.0.0.2:0").is_err() {
        eprintln!("skipped: this machine cannot listen on 127.0.0.2 (no loopback alias)");
        return;
    }
    let (_, props) = deliver_through(AppKind::Http, false, "127.0.0.2", "http", &["--app-channel-address", "127.0.0.2"]).await;
    assert_eq!(props["channelAddress"], "127.0.0.2");

    // The default address (127.0.0.1) has nothing on that port: the sidecar never reaches the app.
    let dir2 = memory_resources(PUBSUB);
    let app2 = TestApp::start(AppKind::Http, false, "127.0.0.2").await;
    let sc2 = start_sidecar("not-there", dir2.path(), app2.addr, "http", &[]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sc2.http("GET", "/v1.0/healthz", &[], b"").0, 500);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_app_protocol_is_refused_by_name() {
    let dir = memory_resources(PUBSUB);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dapr-rs"))
        .args(["sidecar", "--app-port", "1", "--app-protocol", "tcp", "--resources-path"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'tcp'") && err.contains("grpcs") && err.contains("h2c"), "{err}");
}

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
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dapr-rs"));
    cmd.args(["sidecar", "--app-port", "1", "--app-protocol", "tcp", "--resources-path"]).arg(dir.path());
    let out = common::output_within(cmd, Duration::from_secs(30), "the sidecar to refuse --app-protocol tcp");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'tcp'") && err.contains("grpcs") && err.contains("h2c"), "{err}");
}

/// Reads one HTTP/1.1 request (head and Content-Length body); its request line, or `None` for a
/// connection closed first (the sidecar's check that the app listens).
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length: usize = head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
        if buf.len() >= end + 4 + length {
            return Some(head.lines().next().unwrap_or_default().to_owned());
        }
    }
}

/// A 2xx reply whose body is cut short is no answer: the sidecar delivers the event again instead
/// of counting it as SUCCESS.
#[tokio::test(flavor = "multi_thread")]
async fn a_reply_cut_short_is_not_a_success() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let deliveries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let (tx, deliveries) = (tx.clone(), deliveries.clone());
            tokio::spawn(async move {
                while let Some(line) = read_request(&mut sock).await {
                    let reply: &[u8] = if line.starts_with("get /dapr/subscribe") {
                        br#"[{"pubsubname":"pubsub","topic":"orders","route":"/orders"}]"#
                    } else {
                        let n = deliveries.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        let _ = tx.send(n);
                        if n == 1 {
                            // Promises 64 bytes, sends a few, and hangs up.
                            let cut = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n{\"status\"";
                            let _ = sock.write_all(cut).await;
                            return;
                        }
                        br#"{"status":"SUCCESS"}"#
                    };
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", reply.len());
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(reply).await;
                }
            });
        }
    });
    let dir = memory_resources(PUBSUB);
    let mut sc = start_sidecar("cut-short", dir.path(), addr, "http", &[]);
    sc.wait_http("/v1.0/healthz", 204, Duration::from_secs(15));
    publish(&sc, r#"{"orderId":1}"#);
    let mut next = async || tokio::time::timeout(Duration::from_secs(15), rx.recv()).await.ok().flatten();
    assert_eq!(next().await, Some(1), "delivered once");
    assert_eq!(next().await, Some(2), "the cut-short reply was taken as an answer: no second delivery");
    assert_eq!(sc.stop(), Some(0));
}

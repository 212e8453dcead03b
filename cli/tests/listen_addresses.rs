//! `--dapr-listen-addresses` as daprd takes it: a comma-separated list, both APIs on every
//! address (IPv6 too), nothing on an address not listed; a bad entry or an address the host does
//! not have stops the sidecar, naming it.

mod common;

use bytes::Bytes;
use common::inbox::{Inbox, serve};
use common::{SidecarBuilder, free_port, memory_resources, output_within};
use dapr_rs_core::app::AppProtocol;
use dapr_rs_core::{ClientOptions, DaprClient, PublishRequest, Subscription, TopicEventStatus};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

const PUBSUB: &str = "order_pub_sub";

/// POSTs `body` to `path` at `addr`; the reply's status.
fn post(addr: SocketAddr, path: &str, body: &str) -> u16 {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    reply.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status line from {addr}: {reply:?}"))
}

fn event(id: &str) -> PublishRequest {
    PublishRequest {
        pubsub_name: PUBSUB.into(),
        topic: "orders".into(),
        data: Bytes::from(format!(r#"{{"via": "{id}"}}"#)),
        data_content_type: "application/json".into(),
        metadata: HashMap::from([("cloudevent.id".into(), id.into())]),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn both_apis_listen_on_every_listed_address() {
    let dir = memory_resources(PUBSUB);
    let mut inbox = Inbox::default();
    let app = serve(AppProtocol::Grpc, vec![Subscription::new(PUBSUB, "orders", inbox.handler("orders", TopicEventStatus::Success))]).await;
    let sc = SidecarBuilder::new("listener", dir.path())
        .app(app.local_addr().port(), "grpc")
        .args(&["--dapr-listen-addresses", "127.0.0.1,[::1]"])
        .start_subscribed();
    let ips: [IpAddr; 2] = ["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
    for ip in ips {
        let http = SocketAddr::new(ip, sc.http_port);
        assert_eq!(post(http, &format!("/v1.0/publish/{PUBSUB}/orders?metadata.cloudevent.id=http-{ip}"), "{}"), 204, "HTTP on {http}");
        let grpc = SocketAddr::new(ip, sc.grpc_port);
        let client = DaprClient::new(ClientOptions::from_lookup(|_| None).with_address(&format!("http://{grpc}"))).unwrap();
        client.publish_event(event(&format!("grpc-{ip}"))).await.unwrap_or_else(|e| panic!("gRPC on {grpc}: {e}"));
    }
    let mut ids: Vec<String> = inbox.take(4).await.into_iter().map(|(_, ev)| ev.id).collect();
    ids.sort();
    assert_eq!(ids, ["grpc-127.0.0.1", "grpc-::1", "http-127.0.0.1", "http-::1"], "one sidecar took all four");
    // An address not listed is not listened on (127.0.0.2 is loopback too, so a wildcard would answer).
    for port in [sc.http_port, sc.grpc_port] {
        let other = SocketAddr::from(([127, 0, 0, 2], port));
        assert!(TcpStream::connect_timeout(&other, Duration::from_secs(2)).is_err(), "something answers on {other}");
    }
    drop(sc);
    app.stop().await.unwrap();
}

/// Runs `dapr-rs sidecar --dapr-listen-addresses <list>`, which must refuse to start; its exit
/// code and what it printed.
fn refused(list: &str) -> (Option<i32>, String) {
    let dir = memory_resources(PUBSUB);
    let mut cmd = SidecarBuilder::new("listener", dir.path()).command(free_port(), free_port());
    cmd.args(["--dapr-listen-addresses", list]);
    let out = output_within(cmd, Duration::from_secs(15), &format!("the sidecar to refuse --dapr-listen-addresses {list}"));
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn a_bad_entry_is_refused_by_name() {
    let (code, text) = refused("127.0.0.1,nowhere");
    assert_eq!(code, Some(2), "a usage error: {text}");
    assert!(text.contains("--dapr-listen-addresses") && text.contains("\"nowhere\", not an IP address"), "{text}");
    let (code, text) = refused("127.0.0.1,");
    assert!(code == Some(2) && text.contains("an empty entry"), "{code:?}: {text}");
}

#[test]
fn an_address_the_host_does_not_have_stops_the_sidecar_naming_it() {
    // 203.0.113.0/24 is TEST-NET-3: no interface of a test machine has it.
    let (code, text) = refused("127.0.0.1,203.0.113.7");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("cannot listen on 203.0.113.7:") && text.contains("HTTP API"), "{text}");
}

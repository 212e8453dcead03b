//! `--max-body-size`: HTTP bodies over it get 413 `ERR_BODY_TOO_LARGE`, gRPC messages over it
//! ResourceExhausted; `--read-buffer-size` is accepted.

mod common;

use bytes::Bytes;
use common::{SidecarBuilder, free_port, memory_resources};
use dapr_rs_core::PublishRequest;
use std::io::{Read, Write};

fn publish(size: usize) -> PublishRequest {
    PublishRequest {
        pubsub_name: "order_pub_sub".into(),
        topic: "orders".into(),
        data: Bytes::from(vec![b'x'; size]),
        data_content_type: "text/plain".into(),
        ..Default::default()
    }
}

/// A chunked POST (no Content-Length), so the limit has to be found while reading.
fn chunked_post(port: u16, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let head = format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    for chunk in body.chunks(256) {
        let _ = s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes());
        let _ = s.write_all(chunk);
        let _ = s.write_all(b"\r\n");
    }
    let _ = s.write_all(b"0\r\n\r\n");
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split(' ').nth(1).unwrap().parse().unwrap();
    (status, resp.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

fn assert_too_large(status: u16, body: &str) {
    assert_eq!(status, 413, "{body}");
    let body: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(body["errorCode"], "ERR_BODY_TOO_LARGE");
}

#[tokio::test(flavor = "multi_thread")]
async fn http_bodies_over_max_body_size_get_413() {
    let dir = memory_resources("order_pub_sub");
    let sc = SidecarBuilder::new("a", dir.path()).args(&["--max-body-size", "1Ki", "--read-buffer-size", "4Ki"]).start();
    let path = "/v1.0/publish/order_pub_sub/orders";
    assert_eq!(sc.http("POST", path, &[], &[b'x'; 1024]).0, 204);
    let (status, body) = sc.http("POST", path, &[], &[b'x'; 1025]);
    assert_too_large(status, &body);
    let (status, body) = chunked_post(sc.http_port, path, &[b'x'; 5000]);
    assert_too_large(status, &body);
    assert_eq!(chunked_post(sc.http_port, path, &[b'x'; 1000]).0, 204);
    // Other endpoints are covered too.
    let (status, body) = sc.http("PUT", "/v1.0/metadata/k", &[], &[b'x'; 2048]);
    assert_too_large(status, &body);

    // The default is daprd's 4Mi.
    let sc = SidecarBuilder::new("a", dir.path()).start();
    assert_eq!(sc.http("POST", path, &[], &vec![b'x'; 4 * 1024 * 1024 - 1]).0, 204);
    let (status, body) = sc.http("POST", path, &[], &vec![b'x'; 4 * 1024 * 1024 + 1]);
    assert_too_large(status, &body);
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_messages_over_max_body_size_are_resource_exhausted() {
    let dir = memory_resources("order_pub_sub");
    let sc = SidecarBuilder::new("a", dir.path()).args(&["--max-body-size", "16Ki"]).start();
    let client = sc.client();
    client.publish_event(publish(15 * 1024)).await.unwrap();
    let err = client.publish_event(publish(17 * 1024)).await.unwrap_err();
    assert_eq!(err.grpc_code(), tonic::Code::ResourceExhausted, "{err}");
    assert_eq!(err.error_code(), Some("ERR_BODY_TOO_LARGE"));
    // The connection stays usable.
    client.publish_event(publish(10)).await.unwrap();
    // The default is daprd's 4Mi.
    let sc = SidecarBuilder::new("a", dir.path()).start();
    sc.client().publish_event(publish(4 * 1024 * 1024 - 1024)).await.unwrap();
    let err = sc.client().publish_event(publish(4 * 1024 * 1024 + 1)).await.unwrap_err();
    assert_eq!(err.grpc_code(), tonic::Code::ResourceExhausted, "{err}");
}

#[test]
fn a_bad_size_is_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::output_within(
        SidecarBuilder::new("a", dir.path()).args(&["--max-body-size", "lots"]).command(free_port(), free_port()),
        std::time::Duration::from_secs(30),
        "the sidecar to refuse --max-body-size",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--max-body-size") && err.contains("lots"), "{err}");
}

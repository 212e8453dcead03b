//! The HTTP API given bad requests: each answers as documented and the sidecar keeps serving.

use super::table::Table;
use super::{MIB, PUBSUB};
use crate::common::Sidecar;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends the whole request (head and body) before reading anything, as a naive client does; a
/// connection cut while sending is what is observed then.
fn send_whole_then_read(port: u16, head: &str, body: &[u8], chunked: bool) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    let sent = (|| -> std::io::Result<()> {
        s.write_all(head.as_bytes())?;
        if chunked {
            for chunk in body.chunks(64 * 1024) {
                s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
                s.write_all(chunk)?;
                s.write_all(b"\r\n")?;
            }
            s.write_all(b"0\r\n\r\n")?;
        } else {
            s.write_all(body)?;
        }
        s.flush()
    })();
    if let Err(e) = sent {
        return Err(format!("connection cut while sending ({})", e.kind()));
    }
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).map_err(|e| format!("no answer ({})", e.kind()))?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| format!("no status line in {text:?}"))?;
    Ok((status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()))
}

fn http_raw(port: u16, method: &str, path: &str, content_type: &str, body: &[u8]) -> Result<(u16, String), String> {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    send_whole_then_read(port, &head, body, false)
}

/// `204`, or `<status> <errorCode>` when the body is Dapr's JSON error with a message.
fn http_answer(result: Result<(u16, String), String>) -> String {
    match result {
        Err(e) => e,
        Ok((status, body)) if body.is_empty() => status.to_string(),
        Ok((status, body)) => match serde_json::from_str::<serde_json::Value>(&body) {
            Ok(json) if json["errorCode"].is_string() && json["message"].as_str().is_some_and(|m| !m.is_empty()) => {
                format!("{status} {}", json["errorCode"].as_str().unwrap_or_default())
            }
            _ => format!("{status} without Dapr's JSON error body: {:?}", body.chars().take(80).collect::<String>()),
        },
    }
}

pub fn still_serving(sc: &mut Sidecar) -> String {
    if let Ok(Some(exit)) = sc.child.try_wait() {
        return format!("SIDECAR EXITED ({exit})");
    }
    match http_raw(sc.http_port, "POST", &format!("/v1.0/publish/{PUBSUB}/orders"), "application/json", b"{\"ok\":1}") {
        Ok((204, _)) => "still serving".into(),
        other => format!("NOT SERVING: a good publish got {other:?}"),
    }
}

fn http_case(t: &mut Table, sc: &mut Sidecar, input: &str, expected: &str, request: impl FnOnce(u16) -> Result<(u16, String), String>) {
    let answer = http_answer(request(sc.http_port));
    let observed = format!("{answer}; {}", still_serving(sc));
    t.add("HTTP", input, format!("{expected}; still serving"), observed);
}

pub fn bad_requests(t: &mut Table, sc: &mut Sidecar) {
    let publish_path = format!("/v1.0/publish/{PUBSUB}/orders");
    let bulk_path = format!("/v1.0-alpha1/publish/bulk/{PUBSUB}/orders");

    let p = publish_path.clone();
    http_case(t, sc, "publish, cloudevents+json body `{\"id\":` (malformed JSON)", "500 ERR_PUBSUB_CLOUD_EVENTS_SER", |port| {
        http_raw(port, "POST", &p, "application/cloudevents+json", b"{\"id\":")
    });
    http_case(t, sc, "publish, cloudevents+json body `[1]` (not an object)", "500 ERR_PUBSUB_CLOUD_EVENTS_SER", |port| {
        http_raw(port, "POST", &p, "application/cloudevents+json", b"[1]")
    });
    http_case(t, sc, "publish, cloudevents+json body of invalid UTF-8", "500 ERR_PUBSUB_CLOUD_EVENTS_SER", |port| {
        http_raw(port, "POST", &p, "application/cloudevents+json", b"{\"id\":\"\xff\xfe\"}")
    });
    http_case(t, sc, "publish, application/json body `{\"a\":` (malformed JSON: sent as a string, as daprd)", "204", |port| {
        http_raw(port, "POST", &p, "application/json", b"{\"a\":")
    });
    http_case(t, sc, "publish, text/plain body of invalid UTF-8", "204", |port| http_raw(port, "POST", &p, "text/plain", b"\xff\xfe\xfd"));
    http_case(t, sc, "publish, topic `%FF` (invalid UTF-8 in the path)", "400 ERR_MALFORMED_REQUEST", |port| {
        http_raw(port, "POST", &format!("/v1.0/publish/{PUBSUB}/%FF"), "text/plain", b"x")
    });
    http_case(
        t,
        sc,
        "publish, 8 MiB body with Content-Length (limit 4 MiB), whole body sent before reading",
        "413 ERR_BODY_TOO_LARGE",
        |port| http_raw(port, "POST", &p, "text/plain", &vec![b'x'; 8 * MIB]),
    );
    http_case(t, sc, "publish, 8 MiB chunked body (limit 4 MiB), whole body sent before reading", "413 ERR_BODY_TOO_LARGE", |port| {
        let head = format!("POST {p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n");
        send_whole_then_read(port, &head, &vec![b'x'; 8 * MIB], true)
    });
    http_case(t, sc, "bulk publish, 8 MiB body with Content-Length", "413 ERR_BODY_TOO_LARGE", |port| {
        http_raw(port, "POST", &bulk_path, "application/json", &vec![b' '; 8 * MIB])
    });
    http_case(t, sc, "publish, empty topic", "404 ERR_TOPIC_NAME_EMPTY", |port| {
        http_raw(port, "POST", &format!("/v1.0/publish/{PUBSUB}/"), "text/plain", b"x")
    });
    http_case(t, sc, "publish, 60 KiB topic name", "204", |port| {
        http_raw(port, "POST", &format!("/v1.0/publish/{PUBSUB}/{}", "t".repeat(60 * 1024)), "text/plain", b"x")
    });
    // hyper answers 431 at its head limit and closes at once: a client still writing its 1 MiB head
    // may see the connection reset before it reads the answer (as with Go's net/http in daprd).
    http_case(t, sc, "publish, 1 MiB topic name (over hyper's request-head limit; no Dapr body)", "431 or reset", |port| {
        match http_raw(port, "POST", &format!("/v1.0/publish/{PUBSUB}/{}", "t".repeat(MIB)), "text/plain", b"x") {
            Ok((431, _)) => Err("431 or reset".into()),
            Err(e) if e.contains("connection cut while sending") => Err("431 or reset".into()),
            other => other,
        }
    });
    http_case(t, sc, "publish, unknown pubsub", "404 ERR_PUBSUB_NOT_FOUND", |port| {
        http_raw(port, "POST", "/v1.0/publish/nope/orders", "text/plain", b"x")
    });
    http_case(t, sc, "publish, topic outside publishingScopes", "403 ERR_PUBSUB_FORBIDDEN", |port| {
        http_raw(port, "POST", "/v1.0/publish/scoped/payments", "text/plain", b"x")
    });
    http_case(t, sc, "publish, metadata.rawPayload=sometimes", "400 ERR_PUBSUB_REQUEST_METADATA", |port| {
        http_raw(port, "POST", &format!("{p}?metadata.rawPayload=sometimes"), "text/plain", b"x")
    });
    http_case(t, sc, "publish, metadata.ttlInSeconds=1e30", "400 ERR_PUBSUB_REQUEST_METADATA", |port| {
        http_raw(port, "POST", &format!("{p}?metadata.ttlInSeconds=1e30"), "text/plain", b"x")
    });
    http_case(t, sc, "publish, metadata.ttlInSeconds=99999999999999999999", "400 ERR_PUBSUB_REQUEST_METADATA", |port| {
        http_raw(port, "POST", &format!("{p}?metadata.ttlInSeconds=99999999999999999999"), "text/plain", b"x")
    });
    http_case(
        t,
        sc,
        "publish, metadata.ttlInSeconds=9223372036854775807 (now + ttl overflows)",
        "400 ERR_PUBSUB_REQUEST_METADATA",
        |port| http_raw(port, "POST", &format!("{p}?metadata.ttlInSeconds=9223372036854775807"), "text/plain", b"x"),
    );
    http_case(t, sc, "bulk publish, two entries with entryId \"1\"", "400 ERR_PUBSUB_EVENTS_SER", |port| {
        let body = br#"[{"entryId":"1","event":"a","contentType":"text/plain"},{"entryId":"1","event":"b","contentType":"text/plain"}]"#;
        http_raw(port, "POST", &bulk_path, "application/json", body)
    });
    http_case(t, sc, "bulk publish, body `[{` (malformed JSON)", "400 ERR_PUBSUB_EVENTS_SER", |port| {
        http_raw(port, "POST", &bulk_path, "application/json", b"[{")
    });
    http_case(t, sc, "bulk publish, body of invalid UTF-8", "400 ERR_PUBSUB_EVENTS_SER", |port| {
        http_raw(port, "POST", &bulk_path, "application/json", b"[\"\xff\"]")
    });
    http_case(t, sc, "PUT metadata, 8 MiB body", "413 ERR_BODY_TOO_LARGE", |port| {
        http_raw(port, "PUT", "/v1.0/metadata/k", "text/plain", &vec![b'x'; 8 * MIB])
    });
}

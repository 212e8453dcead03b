//! Bulk publishing through a real sidecar: gRPC `BulkPublishEvent` / `BulkPublishEventAlpha1` and
//! HTTP `/v1.0/publish/bulk` / `/v1.0-alpha1/publish/bulk`, each entry delivered in its own
//! CloudEvent to an app served by core; validation errors; per-entry broker failures.

mod common;

use bytes::Bytes;
use common::{SidecarBuilder, component, memory_resources};
use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::{BulkPublishEntry, Subscription, SubscriptionOptions, TopicEvent, TopicEventStatus, handler_fn};
use dapr_rs_proto::runtime::dapr_client::DaprClient as DaprGrpc;
use dapr_rs_proto::runtime::{BulkPublishRequest, BulkPublishRequestEntry, BulkPublishResponse};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::mpsc;

const PUBSUB: &str = "order_pub_sub";

/// A gRPC app subscribed to `topics` (a topic starting with `raw` as a rawPayload subscription);
/// every event it gets goes to the receiver.
async fn app(topics: &[&str]) -> (AppServer, mpsc::UnboundedReceiver<TopicEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let subs = topics
        .iter()
        .map(|topic| {
            let tx = tx.clone();
            let handler = handler_fn(move |ev: TopicEvent| {
                let tx = tx.clone();
                async move {
                    tx.send(ev).unwrap();
                    Ok(TopicEventStatus::Success)
                }
            });
            let mut options = SubscriptionOptions::default();
            if topic.starts_with("raw") {
                options.metadata.insert("rawPayload".into(), "true".into());
            }
            Subscription::new(PUBSUB, *topic, handler).with_options(options)
        })
        .collect();
    let addr = "127.0.0.1:0".parse().unwrap(); // the OS picks the port; no race with other tests
    (AppServer::start_with_token(AppProtocol::Grpc, addr, subs, None).await.unwrap(), rx)
}

/// The next `n` events, keyed by their data as text.
async fn received(rx: &mut mpsc::UnboundedReceiver<TopicEvent>, n: usize) -> HashMap<String, TopicEvent> {
    let mut got = HashMap::new();
    for i in 0..n {
        let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("got {i} of {n} events: {:?}", got.keys().collect::<Vec<_>>()))
            .unwrap();
        got.insert(String::from_utf8_lossy(&ev.data).into_owned(), ev);
    }
    got
}

async fn assert_nothing_more(rx: &mut mpsc::UnboundedReceiver<TopicEvent>) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    if let Ok(ev) = rx.try_recv() {
        panic!("unexpected event {:?} on {}", String::from_utf8_lossy(&ev.data), ev.topic);
    }
}

fn entry(id: &str, event: &[u8], content_type: &str, metadata: &[(&str, &str)]) -> BulkPublishRequestEntry {
    BulkPublishRequestEntry {
        entry_id: id.into(),
        event: event.to_vec(),
        content_type: content_type.into(),
        metadata: metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

fn request(topic: &str, entries: Vec<BulkPublishRequestEntry>, metadata: &[(&str, &str)]) -> BulkPublishRequest {
    BulkPublishRequest {
        pubsub_name: PUBSUB.into(),
        topic: topic.into(),
        entries,
        metadata: metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

#[derive(Clone, Copy, Debug)]
enum Rpc {
    Stable,
    Alpha1,
}

async fn call(
    grpc: &mut DaprGrpc<tonic::transport::Channel>,
    rpc: Rpc,
    req: BulkPublishRequest,
) -> Result<BulkPublishResponse, tonic::Status> {
    #[allow(deprecated)]
    let resp = match rpc {
        Rpc::Stable => grpc.bulk_publish_event(req).await,
        Rpc::Alpha1 => grpc.bulk_publish_event_alpha1(req).await,
    };
    resp.map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_bulk_publish_wraps_each_entry_in_its_own_cloudevent() {
    let dir = memory_resources(PUBSUB);
    let (server, mut rx) = app(&["orders", "raw-orders"]).await;
    let sc = SidecarBuilder::new("checkout", dir.path()).app(server.local_addr().port(), "grpc").start_subscribed();
    let mut grpc = DaprGrpc::connect(sc.grpc_endpoint()).await.unwrap();

    for rpc in [Rpc::Stable, Rpc::Alpha1] {
        let ce = br#"{"id":"my-ce-id","source":"elsewhere","type":"my.type","specversion":"1.0","datacontenttype":"application/json","data":{"n":4}}"#;
        let entries = vec![
            entry("json", br#"{"n":1}"#, "application/json", &[("cloudevent.subject", "one")]),
            entry("text", b"hello", "text/plain", &[]),
            entry("bin", &[0, 255, 1], "application/octet-stream", &[]),
            entry("ce", ce, "application/cloudevents+json", &[]),
            // Entry metadata overrides the request's.
            entry("override", br#"{"n":5}"#, "application/json", &[("cloudevent.type", "entry.type")]),
        ];
        let resp = call(&mut grpc, rpc, request("orders", entries, &[("cloudevent.type", "request.type")])).await.unwrap();
        assert!(resp.failed_entries.is_empty(), "{rpc:?}: {:?}", resp.failed_entries);

        let got = received(&mut rx, 5).await;
        let json = &got[r#"{"n":1}"#];
        assert_eq!((json.data_content_type.as_str(), json.event_type.as_str()), ("application/json", "request.type"));
        assert_eq!(json.extensions["subject"], "one");
        let text = &got["hello"];
        assert_eq!((text.data_content_type.as_str(), text.event_type.as_str()), ("text/plain", "request.type"));
        assert!(!text.extensions.contains_key("subject"), "entry metadata stays with its entry");
        let bin = got.values().find(|e| e.data.as_ref() == [0, 255, 1]).expect("the binary entry");
        assert_eq!(bin.data_content_type, "application/octet-stream");
        let passthrough = &got[r#"{"n":4}"#];
        assert_eq!(
            (passthrough.id.as_str(), passthrough.source.as_str(), passthrough.event_type.as_str()),
            ("my-ce-id", "elsewhere", "my.type")
        );
        assert_eq!(got[r#"{"n":5}"#].event_type, "entry.type");
        // Every wrapped entry is its own CloudEvent from this app.
        let wrapped: Vec<&TopicEvent> = got.values().filter(|e| e.id != "my-ce-id").collect();
        assert_eq!(wrapped.len(), 4);
        assert_eq!(wrapped.iter().map(|e| e.id.as_str()).collect::<HashSet<_>>().len(), 4, "{rpc:?}: distinct ids");
        for ev in got.values() {
            assert_eq!((ev.topic.as_str(), ev.pubsub_name.as_str(), ev.spec_version.as_str()), ("orders", PUBSUB, "1.0"));
            assert!(ev.extensions["traceparent"].as_str().unwrap().starts_with("00-"));
        }
        for ev in wrapped {
            assert_eq!(ev.source, "checkout");
            assert_eq!(uuid::Uuid::parse_str(&ev.id).unwrap().get_version_num(), 4);
        }

        // rawPayload: the broker gets the bytes as they are (the raw subscription synthesises a CE).
        let raw = vec![entry("r1", b"raw-one", "", &[]), entry("r2", &[0, 1, 2], "application/octet-stream", &[])];
        let resp = call(&mut grpc, rpc, request("raw-orders", raw, &[("rawPayload", "true")])).await.unwrap();
        assert!(resp.failed_entries.is_empty());
        let got = received(&mut rx, 2).await;
        assert!(got.contains_key("raw-one"), "{:?}", got.keys());
        assert!(got.values().any(|e| e.data.as_ref() == [0, 1, 2]));
        for ev in got.values() {
            assert_eq!((ev.source.as_str(), ev.data_content_type.as_str()), ("Dapr", "application/octet-stream"));
        }
    }

    // Core's client (what the bindings call) goes through the stable RPC.
    let client = sc.client();
    let entries = (0..3)
        .map(|i| BulkPublishEntry {
            entry_id: format!("e{i}"),
            event: Bytes::from(format!("core-{i}")),
            content_type: "text/plain".into(),
            metadata: HashMap::new(),
        })
        .collect();
    assert!(client.bulk_publish(PUBSUB, "orders", entries, HashMap::new()).await.unwrap().is_empty());
    let got = received(&mut rx, 3).await;
    assert_eq!(got.keys().cloned().collect::<HashSet<_>>(), HashSet::from(["core-0".into(), "core-1".into(), "core-2".into()]));
    assert_nothing_more(&mut rx).await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn http_bulk_publish_on_both_paths() {
    let dir = memory_resources(PUBSUB);
    let (server, mut rx) = app(&["orders", "a/b", "raw-orders"]).await;
    let sc = SidecarBuilder::new("checkout", dir.path()).app(server.local_addr().port(), "grpc").start_subscribed();

    let body = serde_json::json!([
        {"entryId": "1", "event": {"orderId": 1}, "contentType": "application/json"},
        {"entryId": "2", "event": "plain text", "contentType": "text/plain", "metadata": {"cloudevent.id": "fixed-id"}},
        {"entryId": "3", "event": "AP8B", "contentType": "application/octet-stream"},
        {"entryId": "4", "event": {"id": "ce-4", "source": "elsewhere", "type": "t4", "specversion": "1.0",
            "datacontenttype": "text/plain", "data": "from a CloudEvent"}, "contentType": "application/cloudevents+json"},
        {"entryId": "5", "event": "<order/>", "contentType": "application/xml"}
    ]);
    let body = serde_json::to_vec(&body).unwrap();
    let json = [("content-type", "application/json")];
    for (method, path) in [("POST", "/v1.0/publish/bulk/order_pub_sub/orders"), ("PUT", "/v1.0-alpha1/publish/bulk/order_pub_sub/a/b")] {
        let (status, resp) = sc.http(method, &format!("{path}?metadata.cloudevent.subject=bulk"), &json, &body);
        assert_eq!(status, 204, "{method} {path}: {resp}");
        let got = received(&mut rx, 5).await;
        let topic = path.rsplit("order_pub_sub/").next().unwrap();
        assert_eq!(got[r#"{"orderId":1}"#].data_content_type, "application/json");
        assert_eq!(got["plain text"].id, "fixed-id");
        assert_eq!(got["plain text"].data_content_type, "text/plain");
        assert!(got.values().any(|e| e.data.as_ref() == [0, 255, 1] && e.data_content_type == "application/octet-stream"));
        let ce = &got["from a CloudEvent"];
        assert_eq!((ce.id.as_str(), ce.source.as_str(), ce.event_type.as_str()), ("ce-4", "elsewhere", "t4"));
        assert_eq!(got["<order/>"].data_content_type, "application/xml");
        for ev in got.values() {
            assert_eq!(ev.topic, topic);
            if ev.id != "ce-4" {
                assert_eq!((ev.source.as_str(), ev.extensions["subject"].as_str()), ("checkout", Some("bulk")), "{:?}", ev.data);
            }
        }
    }

    let raw = br#"[{"entryId": "r", "event": "raw body", "contentType": "text/plain"}]"#;
    assert_eq!(sc.http("POST", "/v1.0/publish/bulk/order_pub_sub/raw-orders?metadata.rawPayload=true", &json, raw).0, 204);
    let got = received(&mut rx, 1).await;
    assert_eq!(got["raw body"].source, "Dapr", "a raw payload reaches the broker unwrapped");
    assert_nothing_more(&mut rx).await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_publish_validation_errors_publish_nothing() {
    let dir = memory_resources(PUBSUB);
    let (server, mut rx) = app(&["orders"]).await;
    let sc = SidecarBuilder::new("checkout", dir.path()).app(server.local_addr().port(), "grpc").start_subscribed();

    let ok = r#"{"entryId": "ok", "event": "must not be published", "contentType": "text/plain"}"#;
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("/v1.0/publish/bulk/nope/orders", format!("[{ok}]"), 404, "ERR_PUBSUB_NOT_FOUND"),
        ("/v1.0/publish/bulk/order_pub_sub", format!("[{ok}]"), 404, "ERR_TOPIC_NAME_EMPTY"),
        (
            "/v1.0/publish/bulk/order_pub_sub/orders",
            format!(r#"[{ok}, {{"event": "no id", "contentType": "text/plain"}}]"#),
            400,
            "ERR_PUBSUB_EVENTS_SER",
        ),
        ("/v1.0/publish/bulk/order_pub_sub/orders", format!("[{ok}, {ok}]"), 400, "ERR_PUBSUB_EVENTS_SER"),
        ("/v1.0/publish/bulk/order_pub_sub/orders", format!(r#"{{"entries": [{ok}]}}"#), 400, "ERR_PUBSUB_EVENTS_SER"),
        (
            "/v1.0/publish/bulk/order_pub_sub/orders",
            format!(r#"[{ok}, {{"entryId": "n", "event": 7, "contentType": "text/plain"}}]"#),
            400,
            "ERR_PUBSUB_EVENTS_SER",
        ),
        (
            "/v1.0/publish/bulk/order_pub_sub/orders",
            format!(r#"[{ok}, {{"entryId": "b", "event": "%%%", "contentType": "application/octet-stream"}}]"#),
            400,
            "ERR_PUBSUB_EVENTS_SER",
        ),
        ("/v1.0/publish/bulk/order_pub_sub/orders?metadata.rawPayload=maybe", format!("[{ok}]"), 400, "ERR_PUBSUB_REQUEST_METADATA"),
        (
            "/v1.0/publish/bulk/order_pub_sub/orders",
            format!(r#"[{ok}, {{"entryId": "c", "event": [1], "contentType": "application/cloudevents+json"}}]"#),
            500,
            "ERR_PUBSUB_CLOUD_EVENTS_SER",
        ),
    ];
    for (path, body, status, code) in &cases {
        let (got_status, got_body) = sc.http("POST", path, &[("content-type", "application/json")], body.as_bytes());
        assert_eq!(got_status, *status, "{path} {body}: {got_body}");
        let err: serde_json::Value = serde_json::from_str(&got_body).unwrap_or_else(|_| panic!("{path}: {got_body}"));
        assert_eq!(err["errorCode"], *code, "{path} {body}: {got_body}");
        assert!(!err["message"].as_str().unwrap().is_empty());
    }

    let mut grpc = DaprGrpc::connect(sc.grpc_endpoint()).await.unwrap();
    let good = || entry("ok", b"must not be published", "text/plain", &[]);
    let mut unknown = request("orders", vec![good()], &[]);
    unknown.pubsub_name = "nope".into();
    let grpc_cases = vec![
        (unknown, tonic::Code::InvalidArgument, "ERR_PUBSUB_NOT_FOUND"),
        (request("", vec![good()], &[]), tonic::Code::InvalidArgument, "ERR_TOPIC_NAME_EMPTY"),
        (request("orders", vec![good(), entry("", b"x", "text/plain", &[])], &[]), tonic::Code::InvalidArgument, "ERR_PUBSUB_EVENTS_SER"),
        (request("orders", vec![good(), good()], &[]), tonic::Code::InvalidArgument, "ERR_PUBSUB_EVENTS_SER"),
        (request("orders", vec![good()], &[("rawPayload", "maybe")]), tonic::Code::InvalidArgument, "ERR_PUBSUB_REQUEST_METADATA"),
        (
            request("orders", vec![good(), entry("e", b"{}", "text/plain", &[("ttlInSeconds", "-1")])], &[]),
            tonic::Code::InvalidArgument,
            "ERR_PUBSUB_REQUEST_METADATA",
        ),
        (
            request("orders", vec![good(), entry("c", b"[1]", "application/cloudevents+json", &[])], &[]),
            tonic::Code::InvalidArgument,
            "ERR_PUBSUB_CLOUD_EVENTS_SER",
        ),
    ];
    for rpc in [Rpc::Stable, Rpc::Alpha1] {
        for (req, code, error_code) in &grpc_cases {
            let status = call(&mut grpc, rpc, req.clone()).await.expect_err("refused");
            assert_eq!(status.code(), *code, "{rpc:?} {req:?}: {status:?}");
            assert_eq!(dapr_rs_proto::error_code::from_grpc_status(&status).as_deref(), Some(*error_code), "{rpc:?} {req:?}");
        }
    }
    // An empty bulk is fine and publishes nothing.
    assert_eq!(sc.http("POST", "/v1.0/publish/bulk/order_pub_sub/orders", &[], b"[]").0, 204);
    assert_nothing_more(&mut rx).await;
    server.stop().await.unwrap();
}

/// A real broker that refuses some messages: a trigger on the sqlite component's table rejects
/// every payload containing "reject".
fn refuse_rejects(db: &std::path::Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN instr(CAST(NEW.data AS TEXT), 'reject') > 0
         BEGIN SELECT RAISE(ABORT, 'refused by the broker'); END;",
    )
    .unwrap();
}

fn stored(db: &std::path::Path, topic: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut select = conn.prepare("SELECT data FROM messages WHERE topic = ?1 ORDER BY seq").unwrap();
    select.query_map([topic], |row| row.get::<_, Vec<u8>>(0)).unwrap().map(|d| String::from_utf8(d.unwrap()).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn per_entry_broker_failures_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pubsub.db");
    component(dir.path(), PUBSUB, "pubsub.sqlite", &[("path", db.to_str().unwrap())]);
    let sc = SidecarBuilder::new("checkout", dir.path()).start();
    refuse_rejects(&db);

    let mut grpc = DaprGrpc::connect(sc.grpc_endpoint()).await.unwrap();
    for (rpc, topic) in [(Rpc::Stable, "grpc-stable"), (Rpc::Alpha1, "grpc-alpha1")] {
        let entries = vec![
            entry("a", b"accept a", "text/plain", &[]),
            entry("b", b"reject b", "text/plain", &[]),
            entry("c", b"accept c", "text/plain", &[]),
            entry("d", b"reject d", "text/plain", &[]),
        ];
        let resp = call(&mut grpc, rpc, request(topic, entries, &[("rawPayload", "true")])).await.unwrap();
        let mut failed: Vec<(String, String)> = resp.failed_entries.into_iter().map(|f| (f.entry_id, f.error)).collect();
        failed.sort();
        assert_eq!(failed.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), ["b", "d"], "{rpc:?}");
        assert!(failed.iter().all(|f| f.1.contains("refused by the broker") && f.1.contains(topic)), "{failed:?}");
        let mut kept = stored(&db, topic);
        kept.sort();
        assert_eq!(kept, ["accept a", "accept c"]);
    }

    let json = [("content-type", "application/json")];
    let body = br#"[{"entryId": "x", "event": "accept x", "contentType": "text/plain"},
                    {"entryId": "y", "event": "reject y", "contentType": "text/plain"}]"#;
    let (status, resp) = sc.http("POST", "/v1.0/publish/bulk/order_pub_sub/http?metadata.rawPayload=true", &json, body);
    assert_eq!(status, 500, "{resp}");
    let resp: serde_json::Value = serde_json::from_str(&resp).unwrap();
    assert_eq!(resp["errorCode"], "ERR_PUBSUB_PUBLISH_MESSAGE");
    let failed = resp["failedEntries"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{resp}");
    assert_eq!(failed[0]["entryId"], "y");
    assert!(failed[0]["error"].as_str().unwrap().contains("refused by the broker"));
    assert_eq!(stored(&db, "http"), ["accept x"]);

    // Every entry refused: all reported; none refused: 204.
    let body = br#"[{"entryId": "1", "event": "reject 1", "contentType": "text/plain"},
                    {"entryId": "2", "event": "reject 2", "contentType": "text/plain"}]"#;
    let (status, resp) = sc.http("PUT", "/v1.0-alpha1/publish/bulk/order_pub_sub/http", &json, body);
    assert_eq!(status, 500);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&resp).unwrap()["failedEntries"].as_array().unwrap().len(), 2);
    let body = br#"[{"entryId": "1", "event": "fine", "contentType": "text/plain"}]"#;
    assert_eq!(sc.http("POST", "/v1.0/publish/bulk/order_pub_sub/http", &json, body).0, 204);
    assert_eq!(stored(&db, "http").len(), 2);
}

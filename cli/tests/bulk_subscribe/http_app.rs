//! An HTTP app: the bulk envelope, per-entry outcomes, bad replies, 404 and rawPayload entries.

use super::{PUBSUB, bulk_publish, eventually, lock, start_sidecar};
use crate::common::memory_resources;
use bytes::Bytes;
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct HttpRecorded {
    /// Bulk bodies POSTed to /orders and /raw, with their Content-Type.
    envelopes: Vec<(String, Json)>,
    dead_letters: Vec<Json>,
    seen: HashMap<String, usize>,
}

type HttpState = Arc<Mutex<HttpRecorded>>;

async fn http_subscribe() -> axum::Json<Json> {
    let bulk = json!({"enabled": true, "maxMessagesCount": 4, "maxAwaitDurationMs": 300});
    axum::Json(json!([
        {"pubsubname": PUBSUB, "topic": "orders", "route": "/orders", "deadLetterTopic": "orders-dlq", "bulkSubscribe": bulk},
        {"pubsubname": PUBSUB, "topic": "raw", "route": "/raw", "metadata": {"rawPayload": "true"}, "bulkSubscribe": bulk},
        {"pubsubname": PUBSUB, "topic": "gone", "route": "/gone", "deadLetterTopic": "orders-dlq", "bulkSubscribe": {"enabled": true}},
        {"pubsubname": PUBSUB, "topic": "orders-dlq", "route": "/dlq"}
    ]))
}

/// Replies by each entry's data: `drop` → DROP, `retry-always` → RETRY, `empty-once` → empty
/// status first, `missing-once` → left out first, `bad-reply-once` → an unparsable reply first.
async fn http_bulk(
    axum::extract::State(state): axum::extract::State<HttpState>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let envelope: Json = serde_json::from_slice(&body).unwrap();
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let mut rec = lock(&state);
    rec.envelopes.push((content_type, envelope.clone()));
    let mut statuses = Vec::new();
    let mut bad_reply = false;
    for entry in envelope["entries"].as_array().unwrap() {
        let data = entry["event"]["data"].as_str().or(entry["event"].as_str()).unwrap_or("").to_owned();
        let n = {
            let n = rec.seen.entry(data.clone()).or_default();
            *n += 1;
            *n
        };
        let status = match (data.as_str(), n) {
            ("drop", _) => "DROP",
            ("retry-always", _) => "RETRY",
            ("empty-once", 1) => "",
            ("missing-once", 1) => continue,
            ("bad-reply-once", 1) => {
                bad_reply = true;
                "SUCCESS"
            }
            _ => "SUCCESS",
        };
        statuses.push(json!({"entryId": entry["entryId"], "status": status}));
    }
    if bad_reply {
        return "this is not JSON".into_response();
    }
    axum::Json(json!({ "statuses": statuses })).into_response()
}

async fn http_dead_letter(axum::extract::State(state): axum::extract::State<HttpState>, body: Bytes) -> axum::http::StatusCode {
    lock(&state).dead_letters.push(serde_json::from_slice(&body).unwrap());
    axum::http::StatusCode::OK
}

fn data_of(envelope: &Json) -> Vec<String> {
    let mut data: Vec<String> =
        envelope["entries"].as_array().unwrap().iter().map(|e| e["event"]["data"].as_str().unwrap_or("").to_owned()).collect();
    data.sort();
    data
}

#[tokio::test(flavor = "multi_thread")]
async fn http_app_gets_the_bulk_envelope_and_per_entry_outcomes() {
    use axum::routing::{get, post};
    let dir = memory_resources(PUBSUB);
    let state = HttpState::default();
    let app = axum::Router::new()
        .route("/dapr/subscribe", get(http_subscribe))
        .route("/orders", post(http_bulk))
        .route("/raw", post(http_bulk))
        .route("/gone", post(|| async { axum::http::StatusCode::NOT_FOUND }))
        .route("/dlq", post(http_dead_letter))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let sc = start_sidecar(&dir, port, "http").await;

    bulk_publish(&sc, "orders", &["a", "b", "c", "d"]);
    eventually("the first batch", || !lock(&state).envelopes.is_empty()).await;
    {
        let rec = lock(&state);
        let (content_type, envelope) = &rec.envelopes[0];
        assert_eq!(content_type, "application/json");
        assert_eq!(data_of(envelope), ["a", "b", "c", "d"], "four concurrent messages make one batch");
        assert_eq!(envelope["type"], "com.dapr.event.sent.bulk");
        assert_eq!((envelope["topic"].as_str(), envelope["pubsubname"].as_str()), (Some("orders"), Some(PUBSUB)));
        assert_eq!(envelope["metadata"]["pubsubName"], PUBSUB);
        assert!(uuid::Uuid::parse_str(envelope["id"].as_str().unwrap()).is_ok());
        for entry in envelope["entries"].as_array().unwrap() {
            assert!(!entry["entryId"].as_str().unwrap().is_empty());
            assert_eq!(entry["contentType"], "application/cloudevents+json");
            assert!(entry["metadata"].is_object());
            let ce = &entry["event"];
            assert_eq!(
                (ce["source"].as_str(), ce["topic"].as_str(), ce["datacontenttype"].as_str()),
                (Some("checkout"), Some("orders"), Some("text/plain"))
            );
            assert!(ce["id"].is_string() && ce["traceparent"].is_string());
        }
    }

    // Empty status and missing entries are retried; DROP and exhausted RETRY are dead-lettered.
    bulk_publish(&sc, "orders", &["empty-once", "missing-once", "drop", "retry-always"]);
    eventually("two dead letters", || lock(&state).dead_letters.len() == 2).await;
    // An unparsable reply retries the whole batch.
    bulk_publish(&sc, "orders", &["bad-reply-once", "e"]);
    eventually("the batch after a bad reply", || lock(&state).seen.get("e") == Some(&2)).await;
    // 404 drops the whole batch (to the dead-letter topic here).
    bulk_publish(&sc, "gone", &["gone-1", "gone-2"]);
    eventually("the 404 batch dead-lettered", || lock(&state).dead_letters.len() == 4).await;
    // rawPayload: entries carry the broker bytes as base64.
    let (status, body) = sc.http(
        "POST",
        "/v1.0/publish/bulk/order_pub_sub/raw?metadata.rawPayload=true",
        &[("content-type", "application/json")],
        br#"[{"entryId": "r1", "event": "raw one", "contentType": "text/plain"}, {"entryId": "r2", "event": "raw two", "contentType": "text/plain"}]"#,
    );
    assert_eq!(status, 204, "{body}");
    eventually("the raw entries", || lock(&state).seen.contains_key("cmF3IG9uZQ==") && lock(&state).seen.contains_key("cmF3IHR3bw=="))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let rec = lock(&state);
    for (data, times) in
        [("a", 1), ("empty-once", 2), ("missing-once", 2), ("drop", 1), ("retry-always", 4), ("bad-reply-once", 2), ("e", 2)]
    {
        assert_eq!(rec.seen.get(data), Some(&times), "{data}: {:?}", rec.seen);
    }
    let mut dead: Vec<&str> = rec.dead_letters.iter().map(|ce| ce["data"].as_str().unwrap()).collect();
    dead.sort();
    assert_eq!(dead, ["drop", "gone-1", "gone-2", "retry-always"]);
    let raw = rec.envelopes.iter().find(|(_, e)| e["topic"] == "raw").expect("a raw batch");
    for entry in raw.1["entries"].as_array().unwrap() {
        assert!(entry["event"].is_string());
        assert_eq!(entry["contentType"], "application/octet-stream");
    }
    assert!(rec.envelopes.iter().all(|(_, e)| e["entries"].as_array().unwrap().len() <= 4));
}

//! `DaprClient` over Dapr's HTTP API against an in-process server speaking daprd's HTTP wire
//! (contract §3): the requests it sends (paths, percent-encoding, headers, bodies), how it reads
//! the answers (bulk failures, metadata, error bodies), its connection reuse, and its waits.
//! The same client against a real `dapr-rs` sidecar: bindings-node/__test__/ (`http_client.test.js`;
//! bulk in `client.test.js`, its trace in `tracing.test.js`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use dapr_rs_core::{
    BulkPublishEntry, BulkPublishFailure, ClientOptions, ClientProtocol, DaprClient, Error, ErrorKind, PublishRequest, TraceContext,
};
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "s3cret";
const PUBSUB: &str = "pubsub";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// One request the fake sidecar took.
#[derive(Debug, Clone)]
struct Taken {
    method: Method,
    /// As sent: still percent-encoded.
    uri: String,
    headers: HeaderMap,
    body: Bytes,
    peer: SocketAddr,
}

impl Taken {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

#[derive(Clone, Default)]
struct Fake {
    taken: Arc<Mutex<Vec<Taken>>>,
}

fn dapr_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"errorCode": code, "message": message}))).into_response()
}

/// The pubsub name of a publish path (`/v1.0/publish/{pubsub}/…` or `/v1.0-alpha1/publish/bulk/{pubsub}/…`).
fn pubsub_of(uri: &Uri) -> String {
    let rest = uri.path().trim_start_matches("/v1.0-alpha1/publish/bulk/").trim_start_matches("/v1.0/publish/");
    rest.split('/').next().unwrap_or("").to_owned()
}

/// What daprd answers: the token first, then the pubsub name, then the call's own answer.
async fn answer(
    State(fake): State<Fake>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let taken = Taken { method, uri: uri.to_string(), headers: headers.clone(), body: body.clone(), peer };
    fake.taken.lock().unwrap().push(taken);
    if headers.get("dapr-api-token").map(|t| t.as_bytes()) != Some(TOKEN.as_bytes()) {
        return dapr_error(StatusCode::UNAUTHORIZED, "ERR_UNAUTHORIZED", "invalid api token");
    }
    let path = uri.path();
    if path == "/v1.0/metadata" {
        return axum::Json(metadata_document()).into_response();
    }
    if path == "/v1.0/shutdown" {
        return StatusCode::NO_CONTENT.into_response();
    }
    if pubsub_of(&uri) != PUBSUB {
        let message = format!("pubsub {} is not found", pubsub_of(&uri));
        return dapr_error(StatusCode::NOT_FOUND, "ERR_PUBSUB_NOT_FOUND", &message);
    }
    if !path.starts_with("/v1.0-alpha1/publish/bulk/") {
        return StatusCode::NO_CONTENT.into_response();
    }
    // A bulk publish: entries whose event says "reject" are refused, as a broker might.
    let entries: Vec<Json> = serde_json::from_slice(&body).expect("the bulk body is a JSON array");
    let failed: Vec<Json> = entries
        .iter()
        .filter(|e| e["event"].to_string().contains("reject"))
        .map(|e| json!({"entryId": e["entryId"], "error": "refused by the broker"}))
        .collect();
    if failed.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let body = json!({"failedEntries": failed, "errorCode": "ERR_PUBSUB_PUBLISH_MESSAGE"});
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}

/// What the sidecar's `GET /v1.0/metadata` answers (sidecar/src/api/metadata.rs `to_json`).
fn metadata_document() -> Json {
    json!({
        "id": "checkout",
        "runtimeVersion": "dapr-rs-0.1.0",
        "components": [{"name": "pubsub", "type": "pubsub.in-memory", "version": "v1"}],
        "extended": {"daprRuntimeVersion": "dapr-rs-0.1.0", "cluster": "eu"},
        "subscriptions": [{
            "pubsubname": "pubsub", "topic": "orders", "metadata": {"rawPayload": "true"},
            "rules": [{"match": "event.type == \"big\"", "path": "/big"}, {"path": "/orders"}],
            "deadLetterTopic": "orders-dlq", "type": "DECLARATIVE"
        }],
        "appConnectionProperties": {"port": 3000, "protocol": "http", "channelAddress": "127.0.0.1", "maxConcurrency": -1},
        "actorRuntime": {"runtimeStatus": "DISABLED", "hostReady": false}
    })
}

async fn serve_on(listener: tokio::net::TcpListener, fake: Fake) {
    let app = Router::new()
        .route("/v1.0/healthz/outbound", get(|| async { StatusCode::NO_CONTENT }))
        .route("/v1.0/shutdown", post(answer))
        .route("/{*path}", any(answer))
        .with_state(fake);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
}

/// A fake sidecar on a free port, and a client of its HTTP API sending `token`.
async fn sidecar(token: &str) -> (Fake, DaprClient) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let fake = Fake::default();
    tokio::spawn(serve_on(listener, fake.clone()));
    (fake, http_client(&address.to_string(), Some(token), None))
}

fn http_client(address: &str, token: Option<&str>, timeout: Option<Duration>) -> DaprClient {
    // The gRPC endpoint is one nothing listens on: no call may go there.
    let options = ClientOptions::from_lookup(|_| None)
        .with_address("127.0.0.1:1")
        .with_http_address(address)
        .with_protocol(ClientProtocol::Http)
        .with_api_token(token.map(str::to_owned))
        .with_timeout(timeout);
    DaprClient::new(options).unwrap()
}

fn taken(fake: &Fake) -> Vec<Taken> {
    fake.taken.lock().unwrap().clone()
}

#[tokio::test]
async fn a_publish_sends_its_body_content_type_metadata_token_and_trace() {
    let (fake, client) = sidecar(TOKEN).await;
    let metadata = HashMap::from([("ttlInSeconds".to_owned(), "60".to_owned()), ("cloudevent.id".to_owned(), "order 7/é".to_owned())]);
    let request = PublishRequest {
        pubsub_name: PUBSUB.into(),
        topic: "orders/eu".into(),
        data: Bytes::from_static(br#"{"orderId": 7}"#),
        data_content_type: "application/json".into(),
        metadata,
    };
    client.publish_event_traced(request, &TraceContext::new(TRACEPARENT, "vendor=v1")).await.unwrap();
    let [sent] = &taken(&fake)[..] else { panic!("one request: {:?}", taken(&fake)) };
    assert_eq!(sent.method, Method::POST);
    assert_eq!(sent.uri, "/v1.0/publish/pubsub/orders/eu?metadata.cloudevent.id=order%207%2F%C3%A9&metadata.ttlInSeconds=60");
    assert_eq!(sent.header("content-type"), "application/json");
    assert_eq!(sent.header("dapr-api-token"), TOKEN);
    assert_eq!((sent.header("traceparent"), sent.header("tracestate")), (TRACEPARENT, "vendor=v1"));
    assert_eq!(sent.body.as_ref(), br#"{"orderId": 7}"#);

    // Without a trace no trace headers go; without a content type none is claimed.
    let plain = PublishRequest { pubsub_name: PUBSUB.into(), topic: "t".into(), data: Bytes::from_static(b"x"), ..Default::default() };
    client.publish_event(plain).await.unwrap();
    let sent = taken(&fake).pop().unwrap();
    assert_eq!((sent.uri.as_str(), sent.header("traceparent"), sent.header("content-type")), ("/v1.0/publish/pubsub/t", "", ""));
}

#[tokio::test]
async fn a_bulk_publish_sends_daprds_entries_and_returns_the_failed_ones() {
    let (fake, client) = sidecar(TOKEN).await;
    let entry = |id: &str, event: &'static [u8], content_type: &str| BulkPublishEntry {
        entry_id: id.into(),
        event: Bytes::from_static(event),
        content_type: content_type.into(),
        metadata: HashMap::from([("partitionKey".to_owned(), id.to_owned())]),
    };
    let entries = vec![
        entry("a", br#"{"n":1}"#, "application/json"),
        entry("b", b"reject me", "text/plain"),
        entry("c", &[0, 255], "application/octet-stream"),
    ];
    let metadata = HashMap::from([("rawPayload".to_owned(), "false".to_owned())]);
    let trace = TraceContext::new(TRACEPARENT, "");
    let failed = client.bulk_publish_traced(PUBSUB, "orders", entries, metadata, &trace).await.unwrap();
    assert_eq!(failed, [BulkPublishFailure { entry_id: "b".into(), error: "refused by the broker".into() }]);

    let [sent] = &taken(&fake)[..] else { panic!("one request: {:?}", taken(&fake)) };
    assert_eq!((sent.method.as_str(), sent.uri.as_str()), ("POST", "/v1.0-alpha1/publish/bulk/pubsub/orders?metadata.rawPayload=false"));
    assert_eq!(
        (sent.header("content-type"), sent.header("traceparent"), sent.header("dapr-api-token")),
        ("application/json", TRACEPARENT, TOKEN)
    );
    let body: Json = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(
        body,
        json!([
            {"entryId": "a", "event": {"n": 1}, "contentType": "application/json", "metadata": {"partitionKey": "a"}},
            {"entryId": "b", "event": "reject me", "contentType": "text/plain", "metadata": {"partitionKey": "b"}},
            {"entryId": "c", "event": "AP8=", "contentType": "application/octet-stream", "metadata": {"partitionKey": "c"}},
        ])
    );

    let all_taken = client.bulk_publish(PUBSUB, "orders", vec![entry("d", b"fine", "text/plain")], HashMap::new()).await.unwrap();
    assert!(all_taken.is_empty(), "{all_taken:?}");
}

#[tokio::test]
async fn metadata_reads_the_http_document_into_the_grpc_shape() {
    let (fake, client) = sidecar(TOKEN).await;
    let m = client.metadata().await.unwrap();
    assert_eq!((m.id.as_str(), m.runtime_version.as_str()), ("checkout", "dapr-rs-0.1.0"));
    assert_eq!((m.registered_components[0].name.as_str(), m.registered_components[0].r#type.as_str()), ("pubsub", "pubsub.in-memory"));
    assert_eq!(m.extended_metadata["cluster"], "eu");
    let orders = &m.subscriptions[0];
    assert_eq!((orders.pubsub_name.as_str(), orders.topic.as_str(), orders.dead_letter_topic.as_str()), ("pubsub", "orders", "orders-dlq"));
    let rules = &orders.rules.as_ref().unwrap().rules;
    assert_eq!(
        rules.iter().map(|r| (r.r#match.as_str(), r.path.as_str())).collect::<Vec<_>>(),
        [("event.type == \"big\"", "/big"), ("", "/orders")]
    );
    assert_eq!(orders.r#type, dapr_rs_core::proto::runtime::PubsubSubscriptionType::Declarative as i32);
    assert_eq!(m.app_connection_properties.unwrap().port, 3000);
    let sent = taken(&fake).pop().unwrap();
    assert_eq!((sent.method.as_str(), sent.uri.as_str(), sent.header("dapr-api-token")), ("GET", "/v1.0/metadata", TOKEN));

    client.shutdown_sidecar().await.unwrap();
    let sent = taken(&fake).pop().unwrap();
    assert_eq!((sent.method.as_str(), sent.uri.as_str(), sent.header("dapr-api-token")), ("POST", "/v1.0/shutdown", TOKEN));
}

#[tokio::test]
async fn the_sidecars_errors_keep_their_code_and_message_and_get_the_kind_grpc_gives_them() {
    let (_fake, client) = sidecar(TOKEN).await;
    let publish =
        |pubsub: &str| PublishRequest { pubsub_name: pubsub.into(), topic: "orders".into(), data: "x".into(), ..Default::default() };
    let err = client.publish_event(publish("nope")).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.grpc_code(), err.error_code()),
        (ErrorKind::PubsubNotFound, tonic::Code::InvalidArgument, Some("ERR_PUBSUB_NOT_FOUND"))
    );
    assert_eq!(err.message(), "pubsub nope is not found");
    let err = client.bulk_publish("nope", "orders", vec![], HashMap::new()).await.unwrap_err();
    assert_eq!((err.kind(), err.error_code()), (ErrorKind::PubsubNotFound, Some("ERR_PUBSUB_NOT_FOUND")));

    let address = client.options().http_endpoint.clone();
    let wrong_token = http_client(&address, Some("wrong"), None);
    let err = wrong_token.publish_event(publish(PUBSUB)).await.unwrap_err();
    assert_eq!((err.kind(), err.grpc_code(), err.error_code()), (ErrorKind::Other, tonic::Code::Unauthenticated, Some("ERR_UNAUTHORIZED")));
    assert_eq!(err.message(), "invalid api token");
    let err = wrong_token.metadata().await.unwrap_err();
    assert_eq!(err.grpc_code(), tonic::Code::Unauthenticated);

    let err = client.publish_event(PublishRequest { topic: "".into(), ..publish(PUBSUB) }).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = client.bulk_publish(PUBSUB, "", vec![], HashMap::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[tokio::test]
async fn no_sidecar_is_unavailable_and_a_silent_one_times_out() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = free.local_addr().unwrap().to_string();
    drop(free);
    let publish = || PublishRequest { pubsub_name: PUBSUB.into(), topic: "orders".into(), data: "x".into(), ..Default::default() };
    let err = http_client(&nobody, None, None).publish_event(publish()).await.unwrap_err();
    assert!(matches!(&err, Error::Unavailable { endpoint, .. } if endpoint.ends_with(&nobody)), "{err}");
    assert_eq!((err.kind(), err.grpc_code()), (ErrorKind::SidecarUnavailable, tonic::Code::Unavailable));

    // Accepts connections, never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_address = silent.local_addr().unwrap().to_string();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            sockets.push(socket);
        }
    });
    let client = http_client(&silent_address, None, Some(Duration::from_millis(200)));
    let started = std::time::Instant::now();
    let err = client.publish_event(publish()).await.unwrap_err();
    assert_eq!((err.kind(), err.grpc_code()), (ErrorKind::Timeout, tonic::Code::DeadlineExceeded), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "the deadline held: {:?}", started.elapsed());
    assert!(!client.probe_sidecar(Duration::from_millis(100)).await.unwrap(), "a silent peer is not a sidecar that is up");
    held.abort();
}

#[tokio::test]
async fn wait_for_sidecar_waits_until_the_outbound_health_answers() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = free.local_addr().unwrap();
    drop(free);
    let client = http_client(&address.to_string(), Some(TOKEN), None);
    let err = client.wait_for_sidecar(Duration::from_millis(150)).await.unwrap_err();
    assert!(matches!(&err, Error::Timeout { endpoint, .. } if endpoint == &format!("http://{address}")), "{err}");

    let waiting = tokio::spawn({
        let client = client.clone();
        async move { client.wait_for_sidecar(Duration::from_secs(20)).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "nothing listens yet");
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    tokio::spawn(serve_on(listener, Fake::default()));
    tokio::time::timeout(Duration::from_secs(20), waiting).await.expect("the wait ends once the sidecar is up").unwrap().unwrap();
    assert!(client.probe_sidecar(Duration::from_secs(5)).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_share_pooled_connections_and_many_are_in_flight_at_once() {
    let (fake, client) = sidecar(TOKEN).await;
    let publish =
        |n: usize| PublishRequest { pubsub_name: PUBSUB.into(), topic: "orders".into(), data: n.to_string().into(), ..Default::default() };
    // A client per call, as bindings make them: the pool is the endpoint's, not the client's.
    let address = client.options().http_endpoint.clone();
    for n in 0..50 {
        http_client(&address, Some(TOKEN), None).publish_event(publish(n)).await.unwrap();
    }
    let peers: std::collections::HashSet<_> = taken(&fake).iter().map(|t| t.peer).collect();
    // A connection goes back to the pool a moment after its answer was read, so a call right
    // behind it may open another (then pooled too): a few connections, never one per call.
    assert!(peers.len() <= 12, "50 calls one after another reuse kept-alive connections, not {} of them", peers.len());

    let calls: Vec<_> = (0..200)
        .map(|n| {
            tokio::spawn({
                let client = client.clone();
                async move { client.publish_event(publish(n)).await }
            })
        })
        .collect();
    for call in calls {
        tokio::time::timeout(Duration::from_secs(20), call).await.expect("the burst is answered").unwrap().unwrap();
    }
    assert_eq!(taken(&fake).len(), 250);
}

//! Spans as exported (to memory): names, kinds, parents, attributes and status, and the trace
//! context the calls carry.

use super::trace_context::{from_grpc_trace_bin, from_w3c, traceparent};
use super::*;
use dapr_rs_proto::cloudevent::DeliveredEvent;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Sampler, SpanData, SpanExporter};
use serde_json::{Value as Json, json};
use std::sync::Mutex;

const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[derive(Debug, Clone, Default)]
struct Spans(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Spans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

impl Spans {
    fn take(&self) -> Vec<SpanData> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn traced(rate: f64) -> (Telemetry, Spans) {
    let spans = Spans::default();
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(rate))))
        .with_simple_exporter(spans.clone())
        .build();
    (Telemetry::with_provider(provider), spans)
}

fn ce(value: Json) -> DeliveredEvent {
    DeliveredEvent::parse(serde_json::to_vec(&value).unwrap()).unwrap()
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string())
}

#[tokio::test]
async fn a_delivery_runs_in_a_child_of_the_events_traceparent() {
    let (telemetry, spans) = traced(1e-4);
    let event = ce(json!({"traceparent": TP, "tracestate": "k=v"}));
    let (headers, metadata) = telemetry
        .delivery(&event, "orders", async {
            let headers = trace_headers(Some(&event));
            let mut metadata = tonic::metadata::MetadataMap::new();
            add_grpc_trace(&mut metadata);
            app_answered_http(500);
            (headers, metadata)
        })
        .await;
    let [span] = &spans.take()[..] else { panic!("one span") };
    assert_eq!(span.name, "pubsub/orders");
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(span.span_context.trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(span.parent_span_id.to_string(), "b7ad6b7169203331");
    assert!(span.span_context.is_sampled(), "a sampled parent samples the child whatever the rate");
    assert_eq!(attribute(span, "messaging.system").as_deref(), Some("pubsub"));
    assert_eq!(attribute(span, "messaging.destination.name").as_deref(), Some("orders"));
    assert_eq!(span.status, Status::error("Code(500): Internal Server Error"));

    let own = traceparent(&span.span_context);
    assert_eq!(headers, [("traceparent", own.clone()), ("tracestate", "k=v".to_owned())], "the call carries the span, not the event");
    assert_eq!(metadata.get("traceparent").unwrap(), own.as_str());
    assert_eq!(metadata.get("tracestate").unwrap(), "k=v");
    let bin = metadata.get_bin("grpc-trace-bin").unwrap().to_bytes().unwrap();
    assert_eq!(traceparent(&from_grpc_trace_bin(&bin).unwrap()), own);
}

#[tokio::test]
async fn the_last_answer_decides_the_status_and_events_without_context_get_no_span() {
    let (telemetry, spans) = traced(1.0);
    let event = ce(json!({"traceid": TP}));
    telemetry
        .delivery(&event, "t", async {
            app_call_failed("connection refused");
            app_answered_http(200);
        })
        .await;
    let [span] = &spans.take()[..] else { panic!("one span") };
    assert_eq!(span.parent_span_id.to_string(), "b7ad6b7169203331", "traceid is the parent when there is no traceparent");
    assert_eq!(span.status, Status::Unset);

    telemetry.delivery(&event, "t", async { app_call_failed("UNAVAILABLE") }).await;
    assert_eq!(spans.take()[0].status, Status::error("UNAVAILABLE"));

    let bare = ce(json!({"id": "1"}));
    let headers = telemetry.delivery(&bare, "t", async { trace_headers(Some(&bare)) }).await;
    assert!(headers.is_empty() && spans.take().is_empty(), "as daprd: no trace context, no span");
    // An invalid traceparent starts a new trace.
    let bad = ce(json!({"traceparent": "garbage"}));
    telemetry.delivery(&bad, "t", async {}).await;
    let [root] = &spans.take()[..] else { panic!("one span") };
    assert_eq!(root.parent_span_id, opentelemetry::trace::SpanId::INVALID);
}

#[tokio::test]
async fn a_bulk_delivery_makes_a_span_per_event_and_carries_the_last() {
    let (telemetry, spans) = traced(1.0);
    let other = "00-11111111111111111111111111111111-2222222222222222-01";
    let events = [ce(json!({"traceparent": TP})), ce(json!({"id": "no context"})), ce(json!({"traceparent": other}))];
    let headers = telemetry.deliveries(events.iter(), "t", async { trace_headers(None) }).await;
    let exported = spans.take();
    assert_eq!(exported.len(), 2);
    let last = exported.iter().find(|s| s.span_context.trace_id().to_string() == "11111111111111111111111111111111").unwrap();
    assert_eq!(headers, [("traceparent", traceparent(&last.span_context))]);
}

#[tokio::test]
async fn without_tracing_the_events_context_is_copied_through() {
    let event = ce(json!({"traceparent": TP, "tracestate": ""}));
    let headers = Telemetry::default().delivery(&event, "t", async { trace_headers(Some(&event)) }).await;
    assert_eq!(headers, [("traceparent", TP.to_owned())]);
    let mut metadata = tonic::metadata::MetadataMap::new();
    add_grpc_trace(&mut metadata);
    assert!(metadata.is_empty(), "gRPC deliveries carry no trace metadata when tracing is off, as before");
}

/// What `api::observe` does with an HTTP call's span.
async fn observed(
    axum::extract::State(telemetry): axum::extract::State<Telemetry>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (mut parts, body) = req.into_parts();
    let span = HttpSpan::start(&telemetry, &mut parts);
    let mut resp = next.run(axum::extract::Request::from_parts(parts, body)).await;
    if let Some(span) = span {
        span.end(resp.status(), resp.headers_mut());
    }
    resp
}

/// An HTTP API whose publish handler answers with the `traceparent` it was given.
fn http_api(telemetry: Telemetry) -> axum::Router {
    use axum::routing::post;
    let echo = |headers: http::HeaderMap| async move {
        let tp = headers.get("traceparent").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        (http::StatusCode::NOT_FOUND, tp)
    };
    axum::Router::new()
        .route("/v1.0/publish/{*rest}", post(echo))
        .route("/v1.0/healthz", axum::routing::get(|| async { "" }))
        .layer(axum::middleware::from_fn_with_state(telemetry, observed))
}

async fn call(api: axum::Router, req: http::Request<axum::body::Body>) -> (http::Response<axum::body::Body>, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let resp = api.oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let text = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (http::Response::from_parts(parts, axum::body::Body::empty()), text)
}

#[tokio::test]
async fn an_http_publish_is_a_client_span_whose_context_the_handler_and_the_caller_see() {
    let (telemetry, spans) = traced(1.0);
    let req = http::Request::post("/v1.0/publish/pubsub/a%2Fb?metadata.x=1")
        .header("traceparent", TP)
        .header("dapr-app-id", "caller")
        .header("dapr-api-token", "secret")
        .extension(axum::extract::ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 51234))))
        .body(axum::body::Body::empty())
        .unwrap();
    let (resp, seen_by_handler) = call(http_api(telemetry.clone()), req).await;
    let [span] = &spans.take()[..] else { panic!("one span") };
    assert_eq!(span.name, "/v1.0/publish/pubsub/a%2Fb");
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(span.parent_span_id.to_string(), "b7ad6b7169203331");
    let own = traceparent(&span.span_context);
    assert_eq!(seen_by_handler, own, "the handler (and so the CloudEvent) gets the API span's context");
    assert_eq!(resp.headers()["traceparent"], own.as_str());
    for (key, value) in [
        ("messaging.system", "pubsub"),
        ("messaging.destination.name", "a/b"),
        ("dapr.protocol", "http"),
        ("dapr.api", "POST /v1.0/publish/pubsub/a%2Fb"),
        ("dapr.status_code", "404"),
        ("http.request.method", "POST"),
        ("url.full", "/v1.0/publish/pubsub/a%2Fb?metadata.x=1"),
        ("server.address", "127.0.0.1"),
        ("server.port", "51234"),
        ("dapr-app-id", "caller"),
    ] {
        assert_eq!(attribute(span, key).as_deref(), Some(value), "{key}");
    }
    assert_eq!(attribute(span, "dapr-api-token"), None);
    assert_eq!(span.status, Status::error("Code(404): Not Found"));

    let health = http::Request::get("/v1.0/healthz").body(axum::body::Body::empty()).unwrap();
    let (resp, _) = call(http_api(telemetry.clone()), health).await;
    assert!(spans.take().is_empty() && !resp.headers().contains_key("traceparent"), "health checks get no span");

    let (resp, seen) = call(http_api(Telemetry::default()), {
        http::Request::post("/v1.0/publish/p/t").header("traceparent", TP).body(axum::body::Body::empty()).unwrap()
    })
    .await;
    assert_eq!(seen, TP, "tracing off: the caller's traceparent is copied through");
    assert!(!resp.headers().contains_key("traceparent"));
}

#[tokio::test]
async fn an_unsampled_call_still_gets_a_new_span_context_to_pass_on() {
    let (telemetry, spans) = traced(0.0000001);
    let req = http::Request::post("/v1.0/publish/p/t").body(axum::body::Body::empty()).unwrap();
    let (resp, seen) = call(http_api(telemetry), req).await;
    let sc = from_w3c(&seen, "").expect("a valid traceparent");
    assert!(!sc.is_sampled());
    assert_eq!(resp.headers()["traceparent"], seen.as_str());
    assert!(spans.take().is_empty(), "nothing exported");
}

#[tokio::test]
async fn server_address_is_the_callers_address_and_port() {
    let (telemetry, spans) = traced(1.0);
    let from = |peer: &str| {
        let peer: std::net::SocketAddr = peer.parse().unwrap();
        http::Request::get("/v1.0/metadata").extension(axum::extract::ConnectInfo(peer)).body(axum::body::Body::empty()).unwrap()
    };
    let mut seen = Vec::new();
    for peer in ["10.1.2.3:40000", "[::ffff:10.1.2.3]:40001", "[::1]:40002"] {
        call(http_api(telemetry.clone()), from(peer)).await;
        let [span] = &spans.take()[..] else { panic!("one span") };
        seen.push((attribute(span, "server.address").unwrap(), attribute(span, "server.port").unwrap()));
    }
    let expected = [("10.1.2.3", "40000"), ("10.1.2.3", "40001"), ("::1", "40002")];
    assert_eq!(seen, expected.map(|(a, p)| (a.to_owned(), p.to_owned())), "a mapped IPv4 caller is written as IPv4, as Go does");

    call(http_api(telemetry), http::Request::get("/v1.0/metadata").body(axum::body::Body::empty()).unwrap()).await;
    let [span] = &spans.take()[..] else { panic!("one span") };
    assert_eq!(attribute(span, "server.address"), None, "no connection, no address");
}

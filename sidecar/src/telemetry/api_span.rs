//! A span per call to the Dapr APIs, as daprd's tracing middleware and interceptor make them
//! (D pkg/diagnostics/{http,grpc}_tracing.go): kind CLIENT, child of the caller's context (gRPC:
//! `grpc-trace-bin`, else `traceparent`/`tracestate`; HTTP: `traceparent`/`tracestate`), named
//! for the URL path or the full gRPC method. The request's `traceparent`/`tracestate` are
//! replaced by the span's own, so a publish puts the API span's context in its CloudEvent (as
//! daprd: the event carries daprd's span); the response returns it (`traceparent` header /
//! `grpc-trace-bin`). Health checks and streams get no span. `api::observe` starts and ends them
//! with the call's log line and metrics.

use super::Telemetry;
use super::trace_context::{self, from_grpc_trace_bin, from_w3c, to_grpc_trace_bin};
use axum::extract::ConnectInfo;
use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD_NO_PAD};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use std::net::SocketAddr;

/// The API span of a request, in its extensions, for the handler to name the topic.
#[derive(Clone)]
struct ApiSpan(Context);

/// gRPC handlers of publish calls: the topic, which the middleware cannot see in the body.
pub fn record_topic(extensions: &http::Extensions, topic: &str) {
    if let Some(ApiSpan(cx)) = extensions.get::<ApiSpan>() {
        cx.span().set_attributes(pubsub_attributes(topic));
        cx.span().set_attribute(KeyValue::new("rpc.service", "Dapr"));
    }
}

fn pubsub_attributes(topic: &str) -> [KeyValue; 2] {
    [KeyValue::new("messaging.system", "pubsub"), KeyValue::new("messaging.destination.name", topic.to_owned())]
}

/// Starts the span of a call whose parent `incoming` is, and puts the span's context in the
/// request's `traceparent`/`tracestate`.
fn start(
    telemetry: &Telemetry,
    name: String,
    incoming: Option<opentelemetry::trace::SpanContext>,
    headers: &mut HeaderMap,
) -> Option<Context> {
    let tracer = telemetry.tracer()?;
    let parent = match incoming {
        Some(sc) => Context::new().with_remote_span_context(sc),
        None => Context::new(),
    };
    let span = tracer.span_builder(name).with_kind(SpanKind::Client).start_with_context(tracer, &parent);
    let cx = parent.with_span(span);
    let sc = cx.span().span_context().clone();
    if let Ok(v) = HeaderValue::from_str(&trace_context::traceparent(&sc)) {
        headers.insert("traceparent", v);
    }
    match HeaderValue::from_str(&trace_context::tracestate(&sc)) {
        Ok(v) if !v.is_empty() => headers.insert("tracestate", v),
        _ => headers.remove("tracestate"),
    };
    Some(cx)
}

fn w3c_parent(headers: &HeaderMap) -> Option<opentelemetry::trace::SpanContext> {
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
    from_w3c(header("traceparent"), header("tracestate"))
}

/// `dapr-*` request headers, as daprd adds them (users tag spans this way); never the API token.
fn dapr_headers(headers: &HeaderMap) -> Vec<KeyValue> {
    headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("dapr-") && !k.as_str().ends_with("-bin") && k.as_str() != dapr_rs_proto::API_TOKEN_HEADER)
        .filter_map(|(k, v)| Some(KeyValue::new(k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

/// The span of an HTTP API call, from its start to its answer.
pub struct HttpSpan {
    cx: Context,
    path: String,
    method: String,
    url: String,
    attributes: Vec<KeyValue>,
}

impl HttpSpan {
    /// Starts the span of `req` (none for health checks, or with tracing off) and gives the
    /// request its context.
    pub fn start(telemetry: &Telemetry, req: &mut Parts) -> Option<Self> {
        let path = req.uri.path().to_owned();
        if path.contains("/healthz") || !telemetry.is_on() {
            return None;
        }
        let incoming = w3c_parent(&req.headers);
        let cx = start(telemetry, path.clone(), incoming, &mut req.headers)?;
        let method = req.method.as_str().to_owned();
        let url = req.uri.path_and_query().map_or(path.clone(), |p| p.as_str().to_owned());
        let mut attributes = dapr_headers(&req.headers);
        if let Some(ConnectInfo(peer)) = req.extensions.get::<ConnectInfo<SocketAddr>>() {
            attributes.extend(server_address(*peer));
        }
        Some(Self { cx, path, method, url, attributes })
    }

    /// Ends the span with the call's answer, whose headers get the span's context unless the
    /// handler set one.
    pub fn end(self, status: StatusCode, response: &mut HeaderMap) {
        let Self { cx, path, method, url, mut attributes } = self;
        if let Some(topic) = publish_topic(&path) {
            attributes.extend(pubsub_attributes(&topic));
        }
        attributes.extend([
            KeyValue::new("dapr.protocol", "http"),
            KeyValue::new("dapr.api", format!("{method} {path}")),
            KeyValue::new("dapr.status_code", status.as_u16().to_string()),
            KeyValue::new("http.request.method", method),
            KeyValue::new("url.full", url),
        ]);
        let span = cx.span();
        span.set_attributes(attributes);
        if status.as_u16() >= 400 {
            span.set_status(Status::error(format!("Code({}): {}", status.as_u16(), status.canonical_reason().unwrap_or("Unknown"))));
        }
        if !response.contains_key("traceparent") {
            let sc = span.span_context();
            if let Ok(v) = HeaderValue::from_str(&trace_context::traceparent(sc)) {
                response.insert("traceparent", v);
            }
            if let Ok(v) = HeaderValue::from_str(&trace_context::tracestate(sc))
                && !v.is_empty()
            {
                response.insert("tracestate", v);
            }
        }
        span.end();
    }
}

/// `server.address` and `server.port` as daprd sets them: the caller's address (its `RemoteAddr`,
/// whatever the names say), an IPv4 caller on a dual-stack listener written as IPv4 as Go does.
/// daprd splits `host:port` at the first `:`, so an IPv6 caller reads `[`; we write it whole.
fn server_address(peer: SocketAddr) -> Vec<KeyValue> {
    vec![KeyValue::new("server.address", peer.ip().to_canonical().to_string()), KeyValue::new("server.port", peer.port().to_string())]
}

/// The topic of a publish path (`/v1.0/publish/{pubsub}/{topic…}` and the bulk ones), decoded.
fn publish_topic(path: &str) -> Option<String> {
    let rest = ["/v1.0/publish/bulk/", "/v1.0-alpha1/publish/bulk/", "/v1.0/publish/"].iter().find_map(|p| path.strip_prefix(p))?;
    let (_, topic) = rest.split_once('/')?;
    Some(percent_encoding::percent_decode_str(topic).decode_utf8_lossy().into_owned())
}

/// `-bin` metadata travels base64, padded or not.
const BIN_METADATA: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent));

fn grpc_parent(headers: &HeaderMap) -> Option<opentelemetry::trace::SpanContext> {
    match headers.get("grpc-trace-bin") {
        Some(bin) => BIN_METADATA.decode(bin.as_bytes()).ok().and_then(|b| from_grpc_trace_bin(&b)),
        None => w3c_parent(headers),
    }
}

/// The span of a unary gRPC call of `dapr.proto.runtime` (daprd's unary interceptor), from its
/// start to its answer.
pub struct GrpcSpan(Context);

impl GrpcSpan {
    /// Starts the span of `req` and gives the request its context (and its handler the span, for
    /// [`record_topic`]). Streams (SubscribeTopicEventsAlpha1) get none, as daprd's stream
    /// interceptor skips them.
    pub fn start(telemetry: &Telemetry, req: &mut Parts) -> Option<Self> {
        let method = req.uri.path().to_owned();
        if !telemetry.is_on() || !method.starts_with("/dapr.proto.runtime.") || method.ends_with("/SubscribeTopicEventsAlpha1") {
            return None;
        }
        let incoming = grpc_parent(&req.headers);
        let attributes = dapr_headers(&req.headers);
        let cx = start(telemetry, method.clone(), incoming, &mut req.headers)?;
        cx.span().set_attributes(attributes);
        cx.span().set_attributes([KeyValue::new("dapr.protocol", "grpc"), KeyValue::new("dapr.api", method)]);
        req.extensions.insert(ApiSpan(cx.clone()));
        Some(Self(cx))
    }

    /// Ends the span with the call's answer (`code`, and `grpc-message` from its headers), whose
    /// headers get the span's `grpc-trace-bin`.
    pub fn end(self, code: tonic::Code, response: &mut HeaderMap) {
        let span = self.0.span();
        if code != tonic::Code::Ok {
            let message = response.get("grpc-message").and_then(|v| v.to_str().ok()).unwrap_or("");
            let message = percent_encoding::percent_decode_str(message).decode_utf8_lossy().into_owned();
            span.set_status(Status::error(message));
        }
        let bin = STANDARD_NO_PAD.encode(to_grpc_trace_bin(span.span_context()));
        if let Ok(v) = HeaderValue::from_str(&bin) {
            response.insert("grpc-trace-bin", v);
        }
        span.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_topics_from_paths() {
        assert_eq!(publish_topic("/v1.0/publish/pubsub/orders").as_deref(), Some("orders"));
        assert_eq!(publish_topic("/v1.0/publish/pubsub/a/b%20c").as_deref(), Some("a/b c"));
        assert_eq!(publish_topic("/v1.0/publish/bulk/pubsub/orders").as_deref(), Some("orders"));
        assert_eq!(publish_topic("/v1.0-alpha1/publish/bulk/pubsub/orders").as_deref(), Some("orders"));
        assert_eq!(publish_topic("/v1.0/publish/pubsub"), None);
        assert_eq!(publish_topic("/v1.0/metadata"), None);
    }

    #[test]
    fn grpc_parents_prefer_the_binary_context() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let other = "00-11111111111111111111111111111111-2222222222222222-01";
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static(other));
        assert_eq!(trace_context::traceparent(&grpc_parent(&headers).unwrap()), other);
        let bin = STANDARD_NO_PAD.encode(to_grpc_trace_bin(&from_w3c(tp, "").unwrap()));
        headers.insert("grpc-trace-bin", HeaderValue::from_str(&bin).unwrap());
        assert_eq!(trace_context::traceparent(&grpc_parent(&headers).unwrap()), tp);
        headers.insert("grpc-trace-bin", HeaderValue::from_str(&format!("{bin}=")).unwrap());
        assert_eq!(trace_context::traceparent(&grpc_parent(&headers).unwrap()), tp, "padded base64 is read too");
    }

    #[test]
    fn the_api_token_never_becomes_an_attribute() {
        let mut headers = HeaderMap::new();
        headers.insert("dapr-api-token", HeaderValue::from_static("secret"));
        headers.insert("dapr-app-id", HeaderValue::from_static("a"));
        headers.insert("other", HeaderValue::from_static("x"));
        let keys: Vec<String> = dapr_headers(&headers).into_iter().map(|kv| kv.key.to_string()).collect();
        assert_eq!(keys, ["dapr-app-id"]);
    }
}

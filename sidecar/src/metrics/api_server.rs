//! The Dapr APIs as daprd meters them: `dapr_http_server_*` for every HTTP call (D
//! pkg/diagnostics/http_monitoring.go, `http.increasedCardinality` at its default, true) and
//! `dapr_grpc_io_server_*` for every unary call of the Dapr service (D
//! pkg/diagnostics/grpc_monitoring.go, which meters no stream the app opens). `api::observe`
//! times the calls and reports them here.

use super::{Family, SIZE_BUCKETS_BYTES, whole_ms};
use prometheus::{HistogramVec, IntCounterVec};
use std::collections::HashSet;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

const HTTP_SERVER: [&str; 4] = ["app_id", "method", "path", "status"];
const GRPC_SERVER: [&str; 3] = ["app_id", "grpc_server_method", "grpc_server_status"];

pub struct ApiServerMetrics {
    on: bool,
    app_id: Arc<str>,
    http_request_count: IntCounterVec,
    http_latency: HistogramVec,
    http_response_count: IntCounterVec,
    http_request_bytes: HistogramVec,
    http_response_bytes: HistogramVec,
    grpc_completed_rpcs: IntCounterVec,
    grpc_latency: HistogramVec,
}

impl ApiServerMetrics {
    pub(super) fn new(f: &mut Family) -> Self {
        Self {
            on: f.on,
            app_id: f.app_id.clone(),
            http_request_count: f.counter(
                "dapr_http_server_request_count",
                "Count of HTTP requests processed by the server.",
                &HTTP_SERVER,
            ),
            http_latency: f.latency("dapr_http_server_latency", "HTTP request end-to-end latency in server.", &HTTP_SERVER),
            http_response_count: f.counter("dapr_http_server_response_count", "The number of HTTP responses", &HTTP_SERVER),
            http_request_bytes: f.histogram(
                "dapr_http_server_request_bytes",
                "HTTP request body size if set as ContentLength (uncompressed) in server.",
                &["app_id"],
                &SIZE_BUCKETS_BYTES,
            ),
            http_response_bytes: f.histogram(
                "dapr_http_server_response_bytes",
                "HTTP response body size (uncompressed) in server.",
                &["app_id"],
                &SIZE_BUCKETS_BYTES,
            ),
            grpc_completed_rpcs: f.counter("dapr_grpc_io_server_completed_rpcs", "Count of RPCs by method and status.", &GRPC_SERVER),
            grpc_latency: f.latency(
                "dapr_grpc_io_server_server_latency",
                "Time between first byte of request received to last byte of response sent, or terminal error.",
                &GRPC_SERVER,
            ),
        }
    }

    /// An HTTP call to meter, as it starts; `None` when metrics are off.
    pub fn http_call(&self, req: &http::request::Parts) -> Option<HttpCall> {
        self.on.then(|| HttpCall {
            method: http_method(&req.method),
            path: http_path(req.uri.path()),
            request_bytes: req.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0),
        })
    }

    pub fn http_completed(&self, call: HttpCall, status: u16, response_bytes: u64, elapsed: Duration) {
        let status = status.to_string();
        let labels = [&*self.app_id, call.method, &call.path, status.as_str()];
        self.http_request_count.with_label_values(&labels).inc();
        self.http_latency.with_label_values(&labels).observe(whole_ms(elapsed));
        self.http_response_count.with_label_values(&labels).inc();
        self.http_request_bytes.with_label_values(&[&*self.app_id]).observe(call.request_bytes as f64);
        self.http_response_bytes.with_label_values(&[&*self.app_id]).observe(response_bytes as f64);
    }

    /// Whether a gRPC call of `method` is metered: daprd's unary interceptor meters the Dapr
    /// service's unary methods; streams, reflection and unknown services it does not.
    pub fn meters_grpc(&self, method: &str) -> bool {
        self.on && UNARY_METHODS.contains(method)
    }

    pub fn grpc_completed(&self, method: &str, code: tonic::Code, elapsed: Duration) {
        let labels = [&*self.app_id, method, code_name(code)];
        self.grpc_completed_rpcs.with_label_values(&labels).inc();
        self.grpc_latency.with_label_values(&labels).observe(whole_ms(elapsed));
    }
}

/// An HTTP call's labels, read as it starts.
pub struct HttpCall {
    method: &'static str,
    path: String,
    request_bytes: u64,
}

/// The verb, or `UNKNOWN` for one HTTP does not define (as daprd).
fn http_method(method: &http::Method) -> &'static str {
    const VERBS: [&str; 9] = ["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE"];
    VERBS.into_iter().find(|v| *v == method.as_str()).unwrap_or("UNKNOWN")
}

/// daprd's `path` label with `increasedCardinality` (its default): the decoded path with `//`
/// collapsed, as it is, except that state and secret keys, actor ids and workflow instance ids
/// are replaced so they do not make a series each (D `convertPathToMetricLabel`).
fn http_path(raw: &str) -> String {
    let mut path = percent_decode(raw);
    while path.contains("//") {
        path = path.replace("//", "/");
    }
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let mut parts: Vec<&str> = path[1..].splitn(6, '/').collect();
    if parts.len() < 3 {
        return path;
    }
    if parts[0] == "actors" {
        parts[2] = "{id}";
        return parts.join("/");
    }
    let joined = |parts: &[&str]| format!("/{}", parts.join("/"));
    match parts[1] {
        "state" | "secrets" => joined(&parts[..3]),
        "actors" if parts.len() >= 5 => {
            parts[3] = "{id}";
            joined(&parts[..5])
        }
        "workflows" if parts.len() == 4 => {
            parts[3] = "{instanceId}";
            joined(&parts)
        }
        "workflows" if parts.len() == 5 && parts[4].starts_with("start") => format!("{}/start", joined(&parts[..4])),
        "workflows" if parts.len() >= 5 => {
            parts[3] = "{instanceId}";
            if parts.len() == 6 && parts[4] == "raiseEvent" && !parts[5].is_empty() {
                parts[5] = "{eventName}";
                return joined(&parts);
            }
            joined(&parts[..5])
        }
        _ => path,
    }
}

/// A URL path as Go's `URL.Path` holds it: `%XX` decoded (`+` stays); an invalid escape or a
/// result that is not UTF-8 leaves the path as it came.
fn percent_decode(raw: &str) -> String {
    if !raw.contains('%') {
        return raw.to_owned();
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(byte) = hex else { return raw.to_owned() };
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| raw.to_owned())
}

/// grpc-go's name of a status code (`codes.Code.String()`), which daprd's interceptor records.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "Canceled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

/// The Dapr service's unary methods (`/dapr.proto.runtime.v1.Dapr/PublishEvent`, …).
static UNARY_METHODS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    use prost::Message as _;
    let set = prost_types::FileDescriptorSet::decode(dapr_rs_proto::FILE_DESCRIPTOR_SET).expect("the embedded descriptor set decodes");
    let mut unary = HashSet::new();
    for file in &set.file {
        for service in &file.service {
            let full = format!("{}.{}", file.package(), service.name());
            if full != "dapr.proto.runtime.v1.Dapr" {
                continue;
            }
            for method in service.method.iter().filter(|m| !m.client_streaming() && !m.server_streaming()) {
                unary.insert(format!("/{full}/{}", method.name()));
            }
        }
    }
    unary
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_paths_are_labelled_as_daprd_labels_them() {
        assert_eq!(http_path("/v1.0/publish/pubsub/orders"), "/v1.0/publish/pubsub/orders");
        assert_eq!(http_path("/v1.0/publish/pubsub/a/b/c/d"), "/v1.0/publish/pubsub/a/b/c/d");
        assert_eq!(http_path("/v1.0//publish///pubsub/orders"), "/v1.0/publish/pubsub/orders");
        assert_eq!(http_path("/v1.0/publish/pubsub/my%20topic"), "/v1.0/publish/pubsub/my topic");
        assert_eq!(http_path("/v1.0/publish/pubsub/a+b"), "/v1.0/publish/pubsub/a+b");
        assert_eq!(http_path("/v1.0/publish/pubsub/bad%zz"), "/v1.0/publish/pubsub/bad%zz");
        assert_eq!(http_path("/v1.0/healthz"), "/v1.0/healthz");
        assert_eq!(http_path("/"), "/");
        assert_eq!(http_path("/v1.0/state/store/key1"), "/v1.0/state/store");
        assert_eq!(http_path("/v1.0/secrets/vault/name"), "/v1.0/secrets/vault");
        assert_eq!(http_path("/v1.0/actors/Demo/1/method/go"), "/v1.0/actors/Demo/{id}/method");
        assert_eq!(http_path("/actors/Demo/1/method/go"), "actors/Demo/{id}/method/go");
        assert_eq!(http_path("/v1.0-alpha1/workflows/dapr/abc"), "/v1.0-alpha1/workflows/dapr/{instanceId}");
        assert_eq!(http_path("/v1.0-alpha1/workflows/dapr/wf/start"), "/v1.0-alpha1/workflows/dapr/wf/start");
        assert_eq!(http_path("/v1.0-alpha1/workflows/dapr/abc/terminate"), "/v1.0-alpha1/workflows/dapr/{instanceId}/terminate");
        assert_eq!(
            http_path("/v1.0-alpha1/workflows/dapr/abc/raiseEvent/ev"),
            "/v1.0-alpha1/workflows/dapr/{instanceId}/raiseEvent/{eventName}"
        );
    }

    #[test]
    fn methods_outside_http_are_unknown() {
        assert_eq!(http_method(&http::Method::POST), "POST");
        assert_eq!(http_method(&http::Method::from_bytes(b"BREW").unwrap()), "UNKNOWN");
    }

    #[test]
    fn grpc_codes_have_grpc_gos_names() {
        assert_eq!(code_name(tonic::Code::Ok), "OK");
        assert_eq!(code_name(tonic::Code::Cancelled), "Canceled");
        assert_eq!(code_name(tonic::Code::InvalidArgument), "InvalidArgument");
        assert_eq!(code_name(tonic::Code::NotFound), "NotFound");
        assert_eq!(code_name(tonic::Code::Unauthenticated), "Unauthenticated");
    }

    #[test]
    fn only_the_dapr_services_unary_methods_are_metered() {
        assert!(UNARY_METHODS.contains("/dapr.proto.runtime.v1.Dapr/PublishEvent"));
        assert!(UNARY_METHODS.contains("/dapr.proto.runtime.v1.Dapr/BulkPublishEvent"));
        assert!(UNARY_METHODS.contains("/dapr.proto.runtime.v1.Dapr/GetMetadata"));
        assert!(!UNARY_METHODS.contains("/dapr.proto.runtime.v1.Dapr/SubscribeTopicEventsAlpha1"));
        assert!(!UNARY_METHODS.contains("/dapr.proto.runtime.v1.AppCallback/OnTopicEvent"));
        assert!(!UNARY_METHODS.contains("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"));
    }
}

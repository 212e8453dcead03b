//! Delivery spans, as daprd's postman makes them (D pkg/runtime/subscription/postman): each call
//! to the app runs inside a span `pubsub/<topic>` (kind CLIENT, `messaging.system=pubsub`,
//! `messaging.destination.name`) whose parent is the event's `traceparent` (else `traceid`); an
//! event with neither gets none. The call carries that span's context: HTTP `traceparent` /
//! `tracestate`, gRPC those and `grpc-trace-bin`. A bulk call makes a span per event and carries
//! the last one's context, as daprd. The span is an Error when the app answers HTTP ≥ 400, a gRPC
//! error, or not at all.
//!
//! The span reaches the app channel as the OpenTelemetry context of the call's future, so the
//! app channel only asks for [`trace_headers`] / [`add_grpc_trace`] and reports the answer.

use super::Telemetry;
use super::trace_context::{self, from_w3c, to_grpc_trace_bin};
use dapr_rs_proto::cloudevent::{Attribute, CloudEventAttributes, DeliveredEvent};
use opentelemetry::trace::{FutureExt as _, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use std::sync::{Arc, Mutex};

/// What the app channel reported about the call, for the spans around it.
#[derive(Clone, Default)]
struct AppAnswer(Arc<Mutex<Option<Status>>>);

impl Telemetry {
    /// Runs `call` (one delivery of `ce` to the app) inside its `pubsub/<topic>` span.
    pub async fn delivery<T>(&self, ce: &DeliveredEvent, topic: &str, call: impl Future<Output = T>) -> T {
        self.deliveries([ce], topic, call).await
    }

    /// Runs `call` (one bulk delivery of `ces`) inside a `pubsub/<topic>` span per event.
    pub async fn deliveries<'a, T>(
        &self,
        ces: impl IntoIterator<Item = &'a DeliveredEvent>,
        topic: &str,
        call: impl Future<Output = T>,
    ) -> T {
        let Some(tracer) = self.tracer() else { return call.await };
        let spans: Vec<Context> = ces
            .into_iter()
            .filter_map(|ce| {
                let traceparent = ce.attribute("traceparent").or_else(|| ce.attribute("traceid")).and_then(Attribute::as_str)?;
                let tracestate = ce.attribute("tracestate").and_then(Attribute::as_str).unwrap_or("");
                let parent = match from_w3c(traceparent, tracestate) {
                    Some(sc) => Context::new().with_remote_span_context(sc),
                    None => Context::new(),
                };
                let span = tracer
                    .span_builder(format!("pubsub/{topic}"))
                    .with_kind(SpanKind::Client)
                    .with_attributes([
                        KeyValue::new("messaging.system", "pubsub"),
                        KeyValue::new("messaging.destination.name", topic.to_owned()),
                    ])
                    .start_with_context(tracer, &parent);
                Some(parent.with_span(span))
            })
            .collect();
        let Some(last) = spans.last() else { return call.await };
        let answer = AppAnswer::default();
        let out = call.with_context(last.with_value(answer.clone())).await;
        let status = answer.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        for cx in &spans {
            if let Some(status) = &status {
                cx.span().set_status(status.clone());
            }
            cx.span().end();
        }
        out
    }
}

/// The span context of the delivery the current call belongs to, if one is traced.
fn current_delivery() -> Option<opentelemetry::trace::SpanContext> {
    Context::map_current(|cx| cx.get::<AppAnswer>().is_some().then(|| cx.span().span_context().clone()))
}

/// The trace headers of an HTTP call to the app: the delivery span's context, else (tracing off)
/// the event's own non-empty `traceparent`/`tracestate`, copied through.
pub fn trace_headers(ce: Option<&DeliveredEvent>) -> Vec<(&'static str, String)> {
    let mut headers = Vec::new();
    if let Some(sc) = current_delivery() {
        headers.push(("traceparent", trace_context::traceparent(&sc)));
        headers.push(("tracestate", trace_context::tracestate(&sc)));
    } else if let Some(ce) = ce {
        for key in ["traceparent", "tracestate"] {
            if let Some(v) = ce.attribute(key).and_then(Attribute::as_str) {
                headers.push((key, v.to_owned()));
            }
        }
    }
    headers.retain(|(_, v)| !v.is_empty());
    headers
}

/// Adds the delivery span's `traceparent`, `tracestate` and `grpc-trace-bin` to a gRPC call to
/// the app; nothing when the call is not traced.
pub fn add_grpc_trace(metadata: &mut tonic::metadata::MetadataMap) {
    let Some(sc) = current_delivery() else { return };
    if let Ok(v) = trace_context::traceparent(&sc).parse() {
        metadata.insert("traceparent", v);
    }
    if let Ok(v) = trace_context::tracestate(&sc).parse()
        && !trace_context::tracestate(&sc).is_empty()
    {
        metadata.insert("tracestate", v);
    }
    metadata.insert_bin("grpc-trace-bin", tonic::metadata::BinaryMetadataValue::from_bytes(&to_grpc_trace_bin(&sc)));
}

/// Records the last attempt's answer (an attempt the app never answered may be sent again).
fn report(status: Option<Status>) {
    Context::map_current(|cx| {
        if let Some(AppAnswer(slot)) = cx.get::<AppAnswer>() {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = status;
        }
    })
}

/// The app answered the HTTP call with `status`: 400 and above mark the delivery spans Error.
pub fn app_answered_http(status: u16) {
    let reason = || http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Unknown");
    report((status >= 400).then(|| Status::error(format!("Code({status}): {}", reason()))));
}

/// The call to the app failed: a gRPC error, or no HTTP answer at all.
pub fn app_call_failed(message: &str) {
    report(Some(Status::error(message.to_owned())));
}

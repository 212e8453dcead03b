//! A sidecar's tracer provider from `spec.tracing`, as daprd's `setupTracing` (D pkg/runtime):
//! ParentBased(TraceIdRatioBased(samplingRate)), `service.name` = the app id unless
//! `OTEL_SERVICE_NAME` (or `OTEL_RESOURCE_ATTRIBUTES`) names one, and a batch processor on tokio
//! per exporter: OTLP over gRPC (tonic) or HTTP/protobuf (hyper), and `stdout` (spans logged).

use super::TelemetryError;
use crate::config::configuration::{OtelProtocol, OtelSpec, TracingSpec, process_env};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::resource::{EnvResourceDetector, ResourceDetector};
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{BatchConfigBuilder, Sampler, SdkTracerProvider, SpanData, SpanExporter};
use std::time::Duration;

/// OTLP's default export timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) fn provider(spec: &TracingSpec, app_id: &str) -> Result<SdkTracerProvider, TelemetryError> {
    let rate = spec.sampling_rate();
    let mut builder = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(rate))))
        .with_resource(resource(app_id));
    let otel = &spec.otel;
    let mut exporting = Vec::new();
    if spec.stdout {
        builder = builder.with_span_processor(batch(LoggedSpans, DEFAULT_TIMEOUT));
        exporting.push("stdout".to_owned());
    }
    if !spec.zipkin_endpoint.is_empty() {
        tracing::warn!(endpoint = %spec.zipkin_endpoint, "spec.tracing.zipkin is not supported; use otel (OTLP) instead");
    }
    match (otel.endpoint_address.is_empty(), otel.protocol) {
        (true, _) => {}
        (false, None) => tracing::warn!(
            endpoint = %otel.endpoint_address,
            "spec.tracing.otel.protocol is not set: no spans are exported over OTLP (as daprd); set it to grpc or http"
        ),
        (false, Some(protocol)) => {
            let timeout = otel.timeout.unwrap_or(DEFAULT_TIMEOUT);
            let url = endpoint_url(otel, protocol);
            let exporter = match protocol {
                OtelProtocol::Grpc => grpc_exporter(otel, &url, timeout)?,
                OtelProtocol::Http => http_exporter(otel, &url, timeout)?,
            };
            builder = builder.with_span_processor(batch(exporter, timeout));
            exporting.push(url);
        }
    }
    tracing::info!(sampling_rate = rate, exporters = ?exporting, "tracing is on");
    Ok(builder.build())
}

/// Spans leave in batches from a tokio task; one export takes at most the exporter's timeout
/// (plus a margin), so a dead collector delays only that task, never a publish or a delivery.
fn batch(exporter: impl SpanExporter + 'static, timeout: Duration) -> BatchSpanProcessor<Tokio> {
    let config = BatchConfigBuilder::default().with_max_export_timeout(timeout + Duration::from_secs(1)).build();
    BatchSpanProcessor::builder(exporter, Tokio).with_batch_config(config).build()
}

fn resource(app_id: &str) -> Resource {
    let from_env = EnvResourceDetector::new().detect();
    let named = from_env.get(&opentelemetry::Key::from_static_str("service.name")).is_some();
    let name = process_env("OTEL_SERVICE_NAME").or_else(|| (!named && !app_id.is_empty()).then(|| app_id.to_owned()));
    let builder = Resource::builder_empty().with_attributes(from_env.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())));
    match name {
        Some(name) => builder.with_service_name(name).build(),
        None => builder.build(),
    }
}

/// `scheme://host:port`, the scheme from `isSecure` unless the address has one; HTTP adds
/// `/v1/traces` when the address has no path (otlptracehttp's default).
fn endpoint_url(otel: &OtelSpec, protocol: OtelProtocol) -> String {
    let address = otel.endpoint_address.trim_end_matches('/');
    let url =
        if address.contains("://") { address.to_owned() } else { format!("{}://{address}", if otel.is_secure { "https" } else { "http" }) };
    let has_path = url.split_once("://").is_some_and(|(_, rest)| rest.contains('/'));
    if protocol == OtelProtocol::Http && !has_path { format!("{url}/v1/traces") } else { url }
}

fn grpc_exporter(otel: &OtelSpec, url: &str, timeout: Duration) -> Result<opentelemetry_otlp::SpanExporter, TelemetryError> {
    let mut metadata = tonic::metadata::MetadataMap::new();
    for (name, value) in &otel.headers {
        let key = tonic::metadata::AsciiMetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|_| TelemetryError(format!("spec.tracing.otel.headers: {name:?} is not a gRPC metadata key")))?;
        let value = value.parse().map_err(|_| TelemetryError(format!("spec.tracing.otel.headers: the value of {name} is not valid")))?;
        metadata.insert(key, value);
    }
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
        .map_err(|e| TelemetryError(format!("spec.tracing.otel.endpointAddress: {url} is not a valid address: {e}")))?
        .timeout(timeout)
        .connect_timeout(timeout);
    let channel = if url.starts_with("https://") {
        endpoint.connect_with_connector_lazy(tls_connector()?.https_only().enable_http2().build())
    } else {
        endpoint.connect_lazy()
    };
    opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_channel(channel)
        .with_timeout(timeout)
        .with_metadata(metadata)
        .build()
        .map_err(|e| TelemetryError(format!("OTLP/gRPC exporter to {url}: {e}")))
}

/// rustls on ring with the system's roots, as the rest of the sidecar (only asked for when the
/// collector is reached over TLS: a machine without CA certificates still exports in plain).
fn tls_connector() -> Result<hyper_rustls::HttpsConnectorBuilder<hyper_rustls::builderstates::WantsSchemes>, TelemetryError> {
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .map_err(|e| TelemetryError(format!("cannot load the system's TLS roots: {e}")))
}

fn http_exporter(otel: &OtelSpec, url: &str, timeout: Duration) -> Result<opentelemetry_otlp::SpanExporter, TelemetryError> {
    let client: std::sync::Arc<dyn opentelemetry_http::HttpClient> = if url.starts_with("https://") {
        std::sync::Arc::new(opentelemetry_http::hyper::HyperClient::new(
            tls_connector()?.https_only().enable_http1().build(),
            timeout,
            None,
        ))
    } else {
        std::sync::Arc::new(opentelemetry_http::hyper::HyperClient::with_default_connector(timeout, None))
    };
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_shared_http_client(client)
        .with_endpoint(url)
        .with_timeout(timeout)
        .with_headers(otel.headers.iter().cloned().collect())
        .build()
        .map_err(|e| TelemetryError(format!("OTLP/HTTP exporter to {url}: {e}")))
}

/// `spec.tracing.stdout`: each span logged at info, as daprd's stdout exporter.
#[derive(Debug)]
struct LoggedSpans;

impl SpanExporter for LoggedSpans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        for span in batch {
            let elapsed = span.end_time.duration_since(span.start_time).unwrap_or_default();
            tracing::info!(
                name = %span.name,
                trace_id = %span.span_context.trace_id(),
                span_id = %span.span_context.span_id(),
                parent_span_id = %span.parent_span_id,
                kind = ?span.span_kind,
                status = ?span.status,
                duration_ms = elapsed.as_secs_f64() * 1e3,
                attributes = ?span.attributes.iter().map(|kv| format!("{}={}", kv.key, kv.value)).collect::<Vec<_>>(),
                "span"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls() {
        let otel = |address: &str, is_secure| OtelSpec { endpoint_address: address.into(), is_secure, ..Default::default() };
        assert_eq!(endpoint_url(&otel("c:4317", false), OtelProtocol::Grpc), "http://c:4317");
        assert_eq!(endpoint_url(&otel("c:4317", true), OtelProtocol::Grpc), "https://c:4317");
        assert_eq!(endpoint_url(&otel("c:4318", false), OtelProtocol::Http), "http://c:4318/v1/traces");
        assert_eq!(endpoint_url(&otel("https://c:4318/", false), OtelProtocol::Http), "https://c:4318/v1/traces");
        assert_eq!(endpoint_url(&otel("http://c/custom/path", true), OtelProtocol::Http), "http://c/custom/path");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn exporters_build_without_connecting_and_bad_headers_are_named() {
        for protocol in [OtelProtocol::Grpc, OtelProtocol::Http] {
            let otel = OtelSpec {
                endpoint_address: "127.0.0.1:1".into(),
                is_secure: false,
                protocol: Some(protocol),
                headers: vec![("X-Team".into(), "blue".into())],
                timeout: Some(Duration::from_millis(200)),
            };
            let spec = TracingSpec { sampling_rate: "1".into(), stdout: true, otel, ..Default::default() };
            let telemetry = super::super::Telemetry::with_provider(provider(&spec, "app").unwrap());
            // Nothing listens there: the flush gives up within its bound.
            let started = std::time::Instant::now();
            telemetry.shutdown(Duration::from_secs(2)).await;
            assert!(started.elapsed() < Duration::from_secs(3), "{protocol:?}");
        }
        let otel = OtelSpec {
            endpoint_address: "c:1".into(),
            protocol: Some(OtelProtocol::Grpc),
            headers: vec![("bad header".into(), "v".into())],
            ..Default::default()
        };
        let Err(e) = provider(&TracingSpec { otel, ..Default::default() }, "app") else { panic!("a bad header name is refused") };
        assert!(e.to_string().contains("spec.tracing.otel.headers") && e.to_string().contains("bad header"), "{e}");
    }
}

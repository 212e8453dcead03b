//! Tracing (`--config`'s `spec.tracing`): OpenTelemetry spans for calls to the Dapr APIs and for
//! deliveries to the app, with daprd's names and attributes, exported over OTLP. Off unless a
//! Configuration (or `OTEL_EXPORTER_OTLP_ENDPOINT`) turns it on and `samplingRate` is not 0; off,
//! the publisher's `traceparent` is copied through untouched. Named `telemetry`, not `tracing`:
//! that is the crate we log with.
//!
//! Each sidecar has its own tracer provider (several run in one `dapr-rs run` process, each with
//! its app id as `service.name`); the span of a delivery travels to the app channel as the
//! OpenTelemetry context of the call's future, so the hooks in the API and delivery code stay a
//! line each.

mod api_span;
mod delivery_span;
mod export;
pub mod trace_context;

pub use api_span::{GrpcSpan, HttpSpan, record_topic};
pub use delivery_span::{add_grpc_trace, app_answered_http, app_call_failed, trace_headers};

use crate::config::SidecarConfig;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("tracing: {0}")]
pub struct TelemetryError(pub String);

/// One sidecar's tracing: a cheap handle, off by default.
#[derive(Clone, Default)]
pub struct Telemetry(Option<Arc<Tracing>>);

struct Tracing {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl Telemetry {
    /// Tracing as `config.configuration` asks; starts the exporter's batch task on this runtime.
    pub fn start(config: &SidecarConfig) -> Result<Self, TelemetryError> {
        let Some(spec) = &config.configuration.tracing else { return Ok(Self::default()) };
        if spec.sampling_rate() == 0.0 {
            tracing::info!("tracing is off: samplingRate is 0");
            return Ok(Self::default());
        }
        let provider = export::provider(spec, &config.app_id)?;
        let tracer = provider.tracer("dapr-rs");
        Ok(Self(Some(Arc::new(Tracing { provider, tracer }))))
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Tracing through `provider` (tests export to memory).
    #[cfg(test)]
    fn with_provider(provider: SdkTracerProvider) -> Self {
        let tracer = provider.tracer("dapr-rs");
        Self(Some(Arc::new(Tracing { provider, tracer })))
    }

    fn tracer(&self) -> Option<&SdkTracer> {
        self.0.as_ref().map(|t| &t.tracer)
    }

    /// Exports what is still queued, for at most `within`: a collector that is down or slow
    /// costs the wait, never a hang (what is not out by then is dropped).
    pub async fn shutdown(&self, within: Duration) {
        let Some(t) = &self.0 else { return };
        let provider = t.provider.clone();
        let (done, finished) = tokio::sync::oneshot::channel();
        // The SDK's shutdown blocks until its batch task answers: off the runtime's threads.
        let spawned = std::thread::Builder::new().name("trace-flush".into()).spawn(move || {
            let _ = done.send(provider.shutdown_with_timeout(within));
        });
        if spawned.is_err() {
            tracing::warn!("cannot start a thread to flush the spans; those not exported yet are dropped");
            return;
        }
        match tokio::time::timeout(within, finished).await {
            Ok(Ok(Ok(()))) => tracing::debug!("spans flushed"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the last spans could not be exported"),
            Ok(Err(_)) | Err(_) => tracing::warn!(?within, "the trace exporter did not finish in time; spans not exported yet are dropped"),
        }
    }
}

#[cfg(test)]
mod tests;

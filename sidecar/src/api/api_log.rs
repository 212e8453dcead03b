//! `--enable-api-logging`: one log line per call to the Dapr APIs, as daprd writes them ("HTTP API
//! Called" / "gRPC API Called") with the method and path or RPC, the status and the duration.
//! `observe` times the calls and reports them here.

use crate::config::SidecarConfig;
use std::time::Duration;

/// The log target: enabled at info whatever `--log-level` says (see `main`'s filter).
pub const TARGET: &str = "dapr_rs::api_log";

/// An HTTP call to log, as it starts.
pub struct HttpCall {
    /// `<VERB> <path>`.
    method: String,
    user_agent: String,
}

impl HttpCall {
    /// `None` when logging is off.
    pub fn start(config: &SidecarConfig, req: &http::request::Parts) -> Option<Self> {
        config.enable_api_logging.then(|| Self {
            method: format!("{} {}", req.method, req.uri.path()),
            user_agent: req.headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned(),
        })
    }

    pub fn answered(self, app_id: &str, status: u16, elapsed: Duration) {
        tracing::info!(
            target: TARGET,
            app_id = %app_id,
            method = %self.method,
            useragent = %self.user_agent,
            code = status,
            duration_ms = elapsed_ms(elapsed),
            "HTTP API Called"
        );
    }
}

/// A gRPC call of `method` (the full RPC path) answered with `code`.
pub fn grpc_answered(app_id: &str, method: &str, code: tonic::Code, elapsed: Duration) {
    tracing::info!(target: TARGET, app_id = %app_id, method = %method, code = ?code, duration_ms = elapsed_ms(elapsed), "gRPC API Called");
}

/// Milliseconds to the microsecond.
fn elapsed_ms(elapsed: Duration) -> f64 {
    (elapsed.as_secs_f64() * 1e6).round() / 1e3
}

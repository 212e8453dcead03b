//! `--enable-api-logging`: one log line per call to the Dapr APIs, as daprd writes them ("HTTP API
//! Called" / "gRPC API Called") with the method and path or RPC, the status and the duration.

use crate::state::SidecarState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// The log target: enabled at info whatever `--log-level` says (see `main`'s filter).
pub const TARGET: &str = "dapr_rs::api_log";

/// HTTP middleware; outermost, so refused calls (401, 413, …) are logged too.
pub async fn http(State(state): State<Arc<SidecarState>>, req: Request, next: Next) -> Response {
    if !state.config.enable_api_logging {
        return next.run(req).await;
    }
    let method = format!("{} {}", req.method(), req.uri().path());
    let user_agent = req.headers().get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    tracing::info!(
        target: TARGET,
        app_id = %state.config.app_id,
        method = %method,
        useragent = %user_agent,
        code = resp.status().as_u16(),
        duration_ms = elapsed_ms(started),
        "HTTP API Called"
    );
    resp
}

fn elapsed_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

/// Wraps the gRPC server's services; a pass-through when logging is off.
#[derive(Clone)]
pub struct GrpcLogLayer {
    pub app_id: Option<Arc<str>>,
}

impl GrpcLogLayer {
    pub fn new(state: &SidecarState) -> Self {
        Self { app_id: state.config.enable_api_logging.then(|| Arc::from(state.config.app_id.as_str())) }
    }
}

impl<S> tower::Layer<S> for GrpcLogLayer {
    type Service = GrpcLog<S>;

    fn layer(&self, inner: S) -> GrpcLog<S> {
        GrpcLog { inner, app_id: self.app_id.clone() }
    }
}

#[derive(Clone)]
pub struct GrpcLog<S> {
    inner: S,
    app_id: Option<Arc<str>>,
}

impl<S, B, R> tower::Service<http::Request<B>> for GrpcLog<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let Some(app_id) = self.app_id.clone() else {
            return Box::pin(self.inner.call(req));
        };
        let method = req.uri().path().to_owned();
        let started = Instant::now();
        let call = self.inner.call(req);
        Box::pin(async move {
            let result = call.await;
            if let Ok(resp) = &result {
                // A failed call answers trailers-only, its status in the headers; a successful one
                // (or a stream, logged when it opens) has none there yet.
                let code = resp
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .map(tonic::Code::from)
                    .unwrap_or(tonic::Code::Ok);
                tracing::info!(
                    target: TARGET,
                    app_id = %app_id,
                    method = %method,
                    code = ?code,
                    duration_ms = elapsed_ms(started),
                    "gRPC API Called"
                );
            }
            result
        })
    }
}

//! Every call to the Dapr APIs is observed here, once: timed, its method and status learned, and
//! handed to the three recorders daprd has, each of which decides whether the call is its
//! business: the `--enable-api-logging` line (`api_log`), the server metrics
//! (`metrics::api_server`) and the API span (`telemetry::api_span`). HTTP: an axum middleware,
//! outermost, so calls refused before a handler (401, 413, 404) are observed too. gRPC: a tower
//! layer around every service of the server.

use super::api_log;
use crate::state::SidecarState;
use crate::telemetry::{GrpcSpan, HttpSpan};
use axum::body::HttpBody as _;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// The HTTP API's middleware.
pub async fn http(State(state): State<Arc<SidecarState>>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let logged = api_log::HttpCall::start(&state.config, &parts);
    let metered = state.metrics.api.http_call(&parts);
    let span = HttpSpan::start(&state.telemetry, &mut parts);
    let started = Instant::now();
    let mut resp = next.run(Request::from_parts(parts, body)).await;
    let elapsed = started.elapsed();
    let status = resp.status();
    if let Some(call) = metered {
        let hint = resp.body().size_hint();
        state.metrics.api.http_completed(call, status.as_u16(), hint.exact().unwrap_or(hint.lower()), elapsed);
    }
    if let Some(span) = span {
        span.end(status, resp.headers_mut());
    }
    if let Some(call) = logged {
        call.answered(&state.config.app_id, status.as_u16(), elapsed);
    }
    resp
}

/// The gRPC server's layer.
#[derive(Clone)]
pub struct GrpcLayer(Arc<SidecarState>);

impl GrpcLayer {
    pub fn new(state: Arc<SidecarState>) -> Self {
        Self(state)
    }
}

impl<S> tower::Layer<S> for GrpcLayer {
    type Service = GrpcObserved<S>;

    fn layer(&self, inner: S) -> GrpcObserved<S> {
        GrpcObserved { inner, state: self.0.clone() }
    }
}

#[derive(Clone)]
pub struct GrpcObserved<S> {
    inner: S,
    state: Arc<SidecarState>,
}

impl<S, B, R> tower::Service<http::Request<B>> for GrpcObserved<S>
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
        let (mut parts, body) = req.into_parts();
        let method = parts.uri.path().to_owned();
        let logged = self.state.config.enable_api_logging;
        let metered = self.state.metrics.api.meters_grpc(&method);
        let span = GrpcSpan::start(&self.state.telemetry, &mut parts);
        let started = Instant::now();
        let call = self.inner.call(http::Request::from_parts(parts, body));
        if !logged && !metered && span.is_none() {
            return Box::pin(call);
        }
        let state = self.state.clone();
        Box::pin(async move {
            let mut result = call.await;
            let elapsed = started.elapsed();
            // tonic's services answer every failure with a status, so an error here (and the span
            // then ends as it is dropped) is not expected.
            if let Ok(resp) = &mut result {
                // A unary call's handler has returned by now: a failure answers trailers-only, its
                // status in the headers; a success (or a stream, observed as it opens) sends
                // `grpc-status: 0` in the trailers later.
                let code = resp
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok()?.parse::<i32>().ok())
                    .map(tonic::Code::from)
                    .unwrap_or(tonic::Code::Ok);
                if metered {
                    state.metrics.api.grpc_completed(&method, code, elapsed);
                }
                if let Some(span) = span {
                    span.end(code, resp.headers_mut());
                }
                if logged {
                    api_log::grpc_answered(&state.config.app_id, &method, code, elapsed);
                }
            }
            result
        })
    }
}

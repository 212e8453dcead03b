//! The HTTP API: publish (single and bulk), health, metadata and shutdown (contract §3).

use super::http_bulk_publish::bulk_publish;
use super::metadata;
use crate::publisher::{self, ApiError, PublishInput};
use crate::state::SidecarState;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dapr_rs_proto::error_code::{self, ErrorCode};
use std::collections::HashMap;
use std::sync::Arc;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(error_code::http_body(self.code, &self.message))).into_response()
    }
}

pub fn router(state: Arc<SidecarState>) -> axum::Router {
    axum::Router::new()
        // Bulk first, as daprd routes it: a pubsub named `bulk` is shadowed there too.
        .route("/v1.0/publish/bulk/{*rest}", post(bulk_publish).put(bulk_publish))
        .route("/v1.0-alpha1/publish/bulk/{*rest}", post(bulk_publish).put(bulk_publish))
        .route("/v1.0/publish/{*rest}", post(publish).put(publish))
        .route("/v1.0/healthz", get(healthz))
        .route("/v1.0/healthz/outbound", get(|| async { StatusCode::NO_CONTENT }))
        .route("/v1.0/metadata", get(get_metadata))
        .route("/v1.0/shutdown", post(shutdown))
        .layer(middleware::from_fn_with_state(state.clone(), check_token))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// `DAPR_API_TOKEN`: every call but the two health endpoints needs `dapr-api-token`.
async fn check_token(State(state): State<Arc<SidecarState>>, req: Request, next: Next) -> Response {
    if let Some(expected) = &state.config.api_token {
        let exempt = matches!(req.uri().path(), "/v1.0/healthz" | "/v1.0/healthz/outbound");
        let presented = req.headers().get(dapr_rs_proto::API_TOKEN_HEADER).and_then(|v| v.to_str().ok());
        if !exempt && presented != Some(expected.as_str()) {
            return ApiError::new(ErrorCode::Unauthorized, "invalid api token").into_response();
        }
    }
    next.run(req).await
}

async fn healthz(State(state): State<Arc<SidecarState>>) -> StatusCode {
    // Ready once the app's subscriptions are in place, or at once for an app without a port.
    if state.config.app_port.is_none() || state.is_app_ready() { StatusCode::NO_CONTENT } else { StatusCode::INTERNAL_SERVER_ERROR }
}

async fn get_metadata(State(state): State<Arc<SidecarState>>) -> Response {
    axum::Json(metadata::to_json(&metadata::describe(&state))).into_response()
}

async fn shutdown(State(state): State<Arc<SidecarState>>) -> StatusCode {
    tracing::info!("shutdown requested over HTTP");
    state.shutdown.cancel();
    StatusCode::NO_CONTENT
}

/// `metadata.<key>=value` query parameters, prefix stripped, first value wins.
pub(super) fn publish_metadata(uri: &Uri) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in form_urlencoded_pairs(uri.query().unwrap_or("")) {
        if let Some(key) = k.strip_prefix("metadata.") {
            out.entry(key.to_owned()).or_insert(v);
        }
    }
    out
}

fn form_urlencoded_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k), percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() && hex(bytes[i + 1]).is_some() && hex(bytes[i + 2]).is_some() => {
                out.push(hex(bytes[i + 1]).unwrap_or(0) * 16 + hex(bytes[i + 2]).unwrap_or(0));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn publish(State(state): State<Arc<SidecarState>>, Path(rest): Path<String>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    // The topic is a wildcard and may contain `/`; the first segment is the pubsub name.
    let (pubsub_name, topic) = rest.split_once('/').unwrap_or((rest.as_str(), ""));
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let input = PublishInput {
        pubsub_name: pubsub_name.to_owned(),
        topic: topic.to_owned(),
        data: body,
        content_type: headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("text/plain").to_owned(),
        metadata: publish_metadata(&uri),
        traceparent: header("traceparent"),
        tracestate: header("tracestate"),
    };
    match publisher::publish(&state, input).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

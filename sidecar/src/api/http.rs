//! The HTTP API: publish (single and bulk), health, metadata and shutdown (contract §3).

use super::http_bulk_publish::bulk_publish;
use super::metadata;
use crate::error::ApiError;
use crate::publisher::{self, PublishInput};
use crate::state::SidecarState;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use dapr_rs_proto::error_code::{self, ErrorCode};
use http_body_util::BodyExt;
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
        .route("/v1.0/metadata/{key}", put(put_metadata))
        .route("/v1.0/shutdown", post(shutdown))
        .route("/v1.0-alpha1/dapr-rs/deadletters", get(dead_letters))
        .layer(middleware::from_fn_with_state(state.clone(), limit_body))
        .layer(middleware::from_fn_with_state(state.clone(), check_token))
        .layer(middleware::from_fn_with_state(state.clone(), super::observe::http))
        // `limit_body` enforces `--max-body-size` with Dapr's error body instead.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// `DAPR_API_TOKEN`: every call but the two health endpoints needs `dapr-api-token`.
async fn check_token(State(state): State<Arc<SidecarState>>, req: Request, next: Next) -> Response {
    if let Some(expected) = &state.config.api_token {
        let exempt = matches!(req.uri().path(), "/v1.0/healthz" | "/v1.0/healthz/outbound");
        let presented = req.headers().get(dapr_rs_proto::API_TOKEN_HEADER).map(|v| v.as_bytes());
        if !exempt && !dapr_rs_proto::api_token_matches(expected, presented) {
            return ApiError::new(ErrorCode::Unauthorized, "invalid api token").into_response();
        }
    }
    next.run(req).await
}

/// Bytes of a refused body still read (and discarded) before the 413 goes out: a client that sends
/// its whole body before reading then sees the answer instead of a reset connection.
const REFUSED_BODY_DRAIN: usize = 8 * 1024 * 1024;

/// `--max-body-size`: a larger body is refused with 413 `ERR_BODY_TOO_LARGE` before any handler
/// sees it, whether it announces its length or is chunked.
async fn limit_body(State(state): State<Arc<SidecarState>>, req: Request, next: Next) -> Response {
    let limit = state.config.max_body_size;
    let too_large = || {
        let message = format!("the request body is larger than the maximum of {limit} bytes (--max-body-size)");
        ApiError::new(ErrorCode::BodyTooLarge, message).into_response()
    };
    let (parts, mut body) = req.into_parts();
    let announced = parts.headers.get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|len| len > limit as u64) {
        drain(body).await;
        return too_large();
    }
    let mut bytes = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => return ApiError::new(ErrorCode::MalformedRequest, format!("cannot read the request body: {e}")).into_response(),
        };
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                drain(body).await;
                return too_large();
            }
            bytes.extend_from_slice(&data);
        }
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes.freeze()))).await
}

/// Reads and discards what is left of a refused body, up to [`REFUSED_BODY_DRAIN`] and 10 s.
async fn drain(mut body: axum::body::Body) {
    let discard = async {
        let mut read = 0;
        while read < REFUSED_BODY_DRAIN {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), discard).await;
}

async fn healthz(State(state): State<Arc<SidecarState>>) -> StatusCode {
    // Ready once the app's subscriptions are in place, or at once for an app without a port.
    if state.config.app_port.is_none() || state.is_app_ready() { StatusCode::NO_CONTENT } else { StatusCode::INTERNAL_SERVER_ERROR }
}

async fn get_metadata(State(state): State<Arc<SidecarState>>) -> Response {
    axum::Json(metadata::to_json(&metadata::describe(&state))).into_response()
}

/// `PUT /v1.0/metadata/{key}`: the body is the value, reported under `extended`.
async fn put_metadata(State(state): State<Arc<SidecarState>>, Path(key): Path<String>, body: Bytes) -> StatusCode {
    state.set_extended_metadata(key, String::from_utf8_lossy(&body).into_owned());
    StatusCode::NO_CONTENT
}

/// dapr-rs' own: the last messages forwarded to a dead-letter topic, newest first.
async fn dead_letters(State(state): State<Arc<SidecarState>>) -> Response {
    axum::Json(serde_json::json!({ "deadLetters": state.dead_letters.recent() })).into_response()
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

/// The pubsub name and topic of a publish path's `{*rest}` (the topic may contain `/`); a path
/// that is not UTF-8 once percent-decoded (`%FF`) is a 400 with Dapr's error body, not axum's
/// plain-text rejection.
pub(super) fn pubsub_and_topic(path: Result<Path<String>, PathRejection>) -> Result<(String, String), ApiError> {
    let Path(rest) = path.map_err(|e| ApiError::new(ErrorCode::MalformedRequest, format!("the request path is not valid: {e}")))?;
    let (pubsub_name, topic) = rest.split_once('/').unwrap_or((rest.as_str(), ""));
    Ok((pubsub_name.to_owned(), topic.to_owned()))
}

async fn publish(
    State(state): State<Arc<SidecarState>>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (pubsub_name, topic) = match pubsub_and_topic(path) {
        Ok(names) => names,
        Err(e) => return e.into_response(),
    };
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let input = PublishInput {
        pubsub_name,
        topic,
        data: body,
        content_type: headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("text/plain").to_owned(),
        metadata: publish_metadata(&uri),
        traceparent: header("traceparent"),
        tracestate: header("tracestate"),
        raw_payload_trace_in_metadata: false,
    };
    match publisher::publish(&state, input).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

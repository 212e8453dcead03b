//! The app channel: how the sidecar reaches the app, over gRPC (`AppCallback`) or HTTP (plain or
//! TLS, see `app_transport`).

use super::EventSink;
use super::app_transport::{self, HttpClient};
use super::sink::{AppAnswer, BulkBatch, BulkEventSink};
use crate::config::AppProtocol;
use crate::subscription::{BulkSubscribe, SubscriptionInfo};
use async_trait::async_trait;
use bytes::Bytes;
use dapr_rs_proto::cloudevent::{self, DeliveredEvent};
use dapr_rs_proto::delivery_metadata;
use dapr_rs_proto::outcome::{BulkOutcome, DeliveryOutcome};
use dapr_rs_proto::runtime::PubsubSubscriptionType;
use dapr_rs_proto::runtime::app_callback_alpha_client::AppCallbackAlphaClient;
use dapr_rs_proto::runtime::app_callback_client::AppCallbackClient;
use dapr_rs_proto::subscribe_document::HttpSubscription;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::{BodyExt, Full};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tonic::metadata::{AsciiMetadataKey, BinaryMetadataKey, BinaryMetadataValue, MetadataMap, MetadataValue};
use tonic::transport::Channel;

// One per app, kept behind an Arc: the size of the HTTP variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum AppChannel {
    Grpc {
        client: AppCallbackClient<Channel>,
        /// `AppCallbackAlpha`, for apps that take bulk deliveries only as `OnBulkTopicEventAlpha1`.
        alpha: AppCallbackAlphaClient<Channel>,
        /// Set once the app answered Unimplemented to `OnBulkTopicEvent`.
        bulk_alpha_only: AtomicBool,
        token: Option<String>,
    },
    Http {
        client: HttpClient,
        base: String,
        token: Option<String>,
        app_id: String,
    },
}

impl AppChannel {
    pub fn new(protocol: AppProtocol, address: &str, port: u16, token: Option<String>, app_id: &str) -> Result<Self, String> {
        if protocol.is_grpc() {
            let channel = app_transport::grpc_channel(protocol, address, port)?;
            let client =
                AppCallbackClient::new(channel.clone()).max_decoding_message_size(usize::MAX).max_encoding_message_size(usize::MAX);
            let alpha = AppCallbackAlphaClient::new(channel).max_decoding_message_size(usize::MAX).max_encoding_message_size(usize::MAX);
            Ok(Self::Grpc { client, alpha, bulk_alpha_only: AtomicBool::new(false), token })
        } else {
            let base = app_transport::base_url(protocol, address, port);
            Ok(Self::Http { client: app_transport::http_client(protocol), base, token, app_id: app_id.to_owned() })
        }
    }

    fn grpc_request<T>(msg: T, token: &Option<String>) -> tonic::Request<T> {
        Self::grpc_request_with(msg, MetadataMap::new(), token)
    }

    /// A request carrying `metadata` and the app token.
    fn grpc_request_with<T>(msg: T, metadata: MetadataMap, token: &Option<String>) -> tonic::Request<T> {
        let mut req = tonic::Request::from_parts(metadata, Default::default(), msg);
        if let Some(t) = token.as_deref().and_then(|t| t.parse().ok()) {
            req.metadata_mut().insert(dapr_rs_proto::API_TOKEN_HEADER, t);
        }
        crate::telemetry::add_grpc_trace(req.metadata_mut());
        req
    }

    /// The app's programmatic subscriptions: `ListTopicSubscriptions` or `GET /dapr/subscribe`.
    pub async fn list_subscriptions(&self) -> Result<Vec<SubscriptionInfo>, String> {
        match self {
            Self::Grpc { client, token, .. } => match client.clone().list_topic_subscriptions(Self::grpc_request((), token)).await {
                Ok(resp) => Ok(resp.into_inner().subscriptions.into_iter().map(from_topic_subscription).collect()),
                Err(s) if s.code() == tonic::Code::Unimplemented => Ok(Vec::new()),
                Err(s) => Err(format!("ListTopicSubscriptions failed: {s}")),
            },
            Self::Http { client, base, token, app_id } => {
                let mut req = http::Request::get(format!("{base}/dapr/subscribe")).header("dapr-app-id", app_id.as_str());
                if let Some(t) = token {
                    req = req.header(dapr_rs_proto::API_TOKEN_HEADER, t.as_str());
                }
                let req = req.body(Full::new(Bytes::new())).map_err(|e| e.to_string())?;
                let resp = client.request(req).await.map_err(|e| format!("GET /dapr/subscribe failed: {e}"))?;
                let status = resp.status().as_u16();
                let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
                match status {
                    200..=299 if body.iter().all(u8::is_ascii_whitespace) => Ok(Vec::new()),
                    200..=299 => {
                        let items: Vec<HttpSubscription> = serde_json::from_slice(&body)
                            .map_err(|e| format!("GET /dapr/subscribe returned an invalid subscription list: {e}"))?;
                        Ok(items.into_iter().filter_map(routed).map(from_topic_subscription).collect())
                    }
                    404 => Ok(Vec::new()),
                    other => Err(format!("GET /dapr/subscribe answered {other}")),
                }
            }
        }
    }
}

/// An item of `GET /dapr/subscribe` as gRPC states it; one that names no route is left out.
fn routed(item: HttpSubscription) -> Option<dapr_rs_proto::runtime::TopicSubscription> {
    let (pubsub, topic) = (item.pubsubname.clone(), item.topic.clone());
    let ts = item.into_topic_subscription();
    if ts.is_none() {
        tracing::warn!(%pubsub, %topic, "subscription without any route ignored");
    }
    ts
}

fn from_topic_subscription(ts: dapr_rs_proto::runtime::TopicSubscription) -> SubscriptionInfo {
    let routes = ts.routes.unwrap_or_default();
    let mut rules: Vec<(String, String)> = routes.rules.into_iter().map(|r| (r.r#match, r.path)).collect();
    if !routes.default.is_empty() {
        rules.push((String::new(), routes.default));
    }
    SubscriptionInfo {
        pubsub_name: ts.pubsub_name,
        topic: ts.topic,
        metadata: ts.metadata,
        rules,
        dead_letter_topic: ts.dead_letter_topic,
        kind: PubsubSubscriptionType::Programmatic,
        bulk_subscribe: ts
            .bulk_subscribe
            .and_then(|b| BulkSubscribe::from_wire(b.enabled, b.max_messages_count.into(), b.max_await_duration_ms.into())),
    }
}

#[async_trait]
impl EventSink for AppChannel {
    async fn deliver(
        &self,
        ce: &DeliveredEvent,
        metadata: &HashMap<String, String>,
        pubsub_name: &str,
        topic: &str,
        path: &str,
    ) -> AppAnswer {
        match self {
            Self::Grpc { client, token, .. } => {
                let metadata = grpc_metadata(metadata, pubsub_name);
                let call = || async {
                    let req = cloudevent::to_topic_event_request(ce, pubsub_name, topic, path);
                    client.clone().on_topic_event(Self::grpc_request_with(req, metadata.clone(), token)).await
                };
                match again_if_unanswered(call, unanswered_grpc).await {
                    Ok(resp) => AppAnswer::Status(DeliveryOutcome::from_status_value(resp.into_inner().status)),
                    Err(s) => {
                        crate::telemetry::app_call_failed(s.message());
                        tracing::warn!(%pubsub_name, %topic, error = %s, "OnTopicEvent failed");
                        match s.code() {
                            tonic::Code::Unimplemented => AppAnswer::Unimplemented,
                            code => AppAnswer::Status(DeliveryOutcome::from_grpc_error(code)),
                        }
                    }
                }
            }
            Self::Http { client, base, token, .. } => {
                let headers = match http_headers(Some(ce), metadata, pubsub_name) {
                    Ok(headers) => headers,
                    Err(e) => {
                        // daprd fails the call too; the key is named so a message retried forever is seen.
                        tracing::error!(%pubsub_name, %topic, %path, error = %e, "cannot deliver the event over HTTP (a Kafka component's escapeHeaders: \"true\" escapes such values); retrying");
                        return AppAnswer::Status(DeliveryOutcome::Retry);
                    }
                };
                let body = ce.json().clone();
                let call = || http_post(client, base, token, path, dapr_rs_proto::content_type::CLOUDEVENT_JSON, &headers, body.clone());
                match again_if_unanswered(call, unanswered_http).await {
                    Ok((status, body)) => {
                        let answer = match status {
                            404 => AppAnswer::NotFound,
                            _ => AppAnswer::Status(DeliveryOutcome::from_http_reply(status, &body)),
                        };
                        if status >= 300 {
                            tracing::warn!(%path, status, ?answer, "the app did not accept the event");
                        }
                        answer
                    }
                    Err(e) => {
                        tracing::warn!(%path, error = %e, "delivery to the app failed");
                        AppAnswer::Status(DeliveryOutcome::Retry)
                    }
                }
            }
        }
    }

    fn bulk(self: Arc<Self>) -> Option<Arc<dyn BulkEventSink>> {
        Some(self)
    }
}

#[async_trait]
impl BulkEventSink for AppChannel {
    /// gRPC: `OnBulkTopicEvent`, else (Unimplemented, remembered for this channel)
    /// `AppCallbackAlpha/OnBulkTopicEventAlpha1`; an app that has neither drops the batch, as
    /// daprd does. HTTP: the bulk envelope POSTed to the route.
    async fn deliver_bulk(&self, batch: &BulkBatch<'_>) -> BulkOutcome {
        let (pubsub_name, topic, path) = (batch.pubsub_name, batch.topic, batch.path);
        match self {
            Self::Grpc { client, alpha, bulk_alpha_only, token } => {
                let req = batch.to_grpc_request();
                // The call carries the batch's metadata (each entry its own, in the request), as daprd's.
                let metadata = grpc_metadata(&HashMap::new(), pubsub_name);
                #[allow(deprecated)] // the Alpha1 RPC is still what apps built for daprd < 1.17 serve
                let on_alpha = |req| {
                    let metadata = metadata.clone();
                    async move { alpha.clone().on_bulk_topic_event_alpha1(Self::grpc_request_with(req, metadata, token)).await }
                };
                let call = || async {
                    if bulk_alpha_only.load(Ordering::Relaxed) {
                        return on_alpha(req.clone()).await;
                    }
                    match client.clone().on_bulk_topic_event(Self::grpc_request_with(req.clone(), metadata.clone(), token)).await {
                        Err(s) if s.code() == tonic::Code::Unimplemented => {
                            tracing::info!("the app has no OnBulkTopicEvent; using AppCallbackAlpha/OnBulkTopicEventAlpha1");
                            bulk_alpha_only.store(true, Ordering::Relaxed);
                            on_alpha(req.clone()).await
                        }
                        other => other,
                    }
                };
                let answer = again_if_unanswered(call, unanswered_grpc).await;
                match answer {
                    Ok(resp) => BulkOutcome::from_grpc_statuses(&resp.into_inner().statuses),
                    Err(s) => {
                        crate::telemetry::app_call_failed(s.message());
                        tracing::warn!(%pubsub_name, %topic, entries = batch.entries.len(), error = %s, "bulk delivery failed");
                        BulkOutcome::All(DeliveryOutcome::from_grpc_error(s.code()))
                    }
                }
            }
            Self::Http { client, base, token, .. } => {
                let body = Bytes::from(serde_json::to_vec(&batch.to_http_envelope()).expect("the envelope serialises"));
                let headers = match http_headers(None, &HashMap::new(), pubsub_name) {
                    Ok(headers) => headers,
                    Err(e) => {
                        tracing::error!(%pubsub_name, %topic, %path, error = %e, "cannot deliver the batch over HTTP; retrying");
                        return BulkOutcome::All(DeliveryOutcome::Retry);
                    }
                };
                let call = || http_post(client, base, token, path, dapr_rs_proto::content_type::JSON, &headers, body.clone());
                match again_if_unanswered(call, unanswered_http).await {
                    Ok((status, body)) => {
                        if status >= 300 {
                            tracing::warn!(%path, status, entries = batch.entries.len(), "the app did not accept the batch");
                        }
                        BulkOutcome::from_http_reply(status, &body)
                    }
                    Err(e) => {
                        tracing::warn!(%path, error = %e, "bulk delivery to the app failed");
                        BulkOutcome::All(DeliveryOutcome::Retry)
                    }
                }
            }
        }
    }
}

/// The gRPC metadata of a delivery: the message's metadata and `pubsubName`, lowercased, by
/// daprd's rules; a key or value gRPC cannot carry is left out (logged at debug).
fn grpc_metadata(metadata: &HashMap<String, String>, pubsub_name: &str) -> MetadataMap {
    let mut map = MetadataMap::new();
    for (key, value) in delivery_metadata::with_pubsub_name(metadata, pubsub_name) {
        let Some(name) = delivery_metadata::grpc_metadata_key(key) else { continue };
        let added = if name.ends_with("-bin") {
            BinaryMetadataKey::from_bytes(name.as_bytes())
                .map(|k| map.append_bin(k, BinaryMetadataValue::from_bytes(value.as_bytes())))
                .is_ok()
        } else {
            match (AsciiMetadataKey::from_bytes(name.as_bytes()), MetadataValue::try_from(value)) {
                (Ok(k), Ok(v)) => {
                    map.append(k, v);
                    true
                }
                _ => false,
            }
        };
        if !added {
            tracing::debug!(key, "a metadata key or its value is not valid gRPC metadata; not sent to the app");
        }
    }
    map
}

/// The headers of an HTTP delivery: the message's metadata and `pubsubName` by daprd's rules, then
/// the event's trace context. A key or value HTTP cannot carry is an error naming the key.
fn http_headers(ce: Option<&DeliveredEvent>, metadata: &HashMap<String, String>, pubsub_name: &str) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for (name, value) in delivery_metadata::http_headers(delivery_metadata::with_pubsub_name(metadata, pubsub_name)) {
        let value = HeaderValue::from_bytes(value.as_bytes())
            .map_err(|_| format!("the value of metadata key {name:?} is not a valid HTTP header value"))?;
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("metadata key {name:?} is not a valid HTTP header name"))?;
        headers.append(name, value);
    }
    for (key, value) in crate::telemetry::trace_headers(ce) {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(key, v);
        }
    }
    Ok(headers)
}

/// Calls to the app per delivery while no answer comes back from the app at all (a failed
/// connect, a refused stream, a connection its server ended with GOAWAY or a reset): each goes
/// out on a fresh connection, and none of them spends the app's retries; only the last failure
/// counts as a RETRY. A call the app did answer (any status, even with its reply cut short) is
/// never sent again here.
const ATTEMPTS_IF_UNANSWERED: u32 = 4;
const FIRST_PAUSE_IF_UNANSWERED: Duration = Duration::from_millis(20);

async fn again_if_unanswered<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    mut call: impl FnMut() -> F,
    unanswered: impl Fn(&E) -> bool,
) -> Result<T, E> {
    let mut pause = FIRST_PAUSE_IF_UNANSWERED;
    for _ in 1..ATTEMPTS_IF_UNANSWERED {
        match call().await {
            Err(e) if unanswered(&e) => {
                tracing::debug!(error = %e, "no answer from the app; sending the call again");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            answered => return answered,
        }
    }
    call().await
}

/// A status that did not come from the app: tonic gives the transport's own failures a source,
/// while a status the app answered with (in its trailers) has none.
fn unanswered_grpc(status: &tonic::Status) -> bool {
    std::error::Error::source(status).is_some()
}

/// Why a POST to the app gave no reply to act on.
#[derive(Debug)]
struct PostFailed {
    message: String,
    /// No answer came back from the app: nothing of it was seen, so the call may go out again.
    /// Not so when a status came back before the reply broke off, or the request is malformed.
    unanswered: bool,
}

impl std::fmt::Display for PostFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn unanswered_http(failed: &PostFailed) -> bool {
    failed.unanswered
}

/// POSTs `body` to the app's `path` with the token and `headers`; (status, body) or why it failed.
async fn http_post(
    client: &HttpClient,
    base: &str,
    token: &Option<String>,
    path: &str,
    content_type: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(u16, Bytes), PostFailed> {
    let failed = |unanswered, message| PostFailed { message, unanswered };
    let path = dapr_rs_proto::route_path(path);
    let mut req = http::Request::post(format!("{base}{path}"))
        .body(Full::new(body))
        .map_err(|e| failed(false, format!("cannot build the request to {path}: {e}")))?;
    *req.headers_mut() = headers.clone();
    let set = req.headers_mut();
    set.insert(http::header::CONTENT_TYPE, HeaderValue::from_str(content_type).map_err(|e| failed(false, format!("content type: {e}")))?);
    if let Some(t) = token {
        let t = HeaderValue::from_str(t).map_err(|e| failed(false, format!("the app API token is not a valid header value: {e}")))?;
        set.insert(dapr_rs_proto::API_TOKEN_HEADER, t);
    }
    let resp = client.request(req).await.map_err(|e| failed(true, format!("POST {path} failed: {e}")));
    let resp = resp.inspect_err(|f| crate::telemetry::app_call_failed(&f.message))?;
    let status = resp.status().as_u16();
    crate::telemetry::app_answered_http(status);
    // A reply cut short is no answer to act on: read as empty, a 2xx would count as SUCCESS.
    let body =
        resp.into_body().collect().await.map_err(|e| failed(false, format!("reading the app's reply to POST {path} failed: {e}")))?;
    Ok((status, body.to_bytes()))
}

/// Waits until something listens on the app port, as daprd does before it talks to the app.
pub async fn wait_for_app(address: &str, port: u16, cancel: &tokio_util::sync::CancellationToken) -> bool {
    let mut logged = false;
    loop {
        if tokio::net::TcpStream::connect((address, port)).await.is_ok() {
            return true;
        }
        if !logged {
            tracing::info!(%address, port, "waiting for the app to listen");
            logged = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = cancel.cancelled() => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn failure(unanswered: bool) -> PostFailed {
        PostFailed { message: "no".into(), unanswered }
    }

    #[tokio::test]
    async fn an_unanswered_call_goes_out_again_and_an_answered_one_does_not() {
        let calls = AtomicU32::new(0);
        let flaky = || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(failure(true)),
                _ => Ok(200u16),
            }
        };
        assert_eq!(again_if_unanswered(flaky, unanswered_http).await.unwrap(), 200);
        assert_eq!(calls.swap(0, Ordering::SeqCst), 3);

        let answered = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<u16, _>(failure(false))
        };
        assert!(again_if_unanswered(answered, unanswered_http).await.is_err());
        assert_eq!(calls.swap(0, Ordering::SeqCst), 1, "a call the app answered is never sent again here");

        let never = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<u16, _>(failure(true))
        };
        assert!(again_if_unanswered(never, unanswered_http).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS_IF_UNANSWERED, "bounded");
    }

    #[test]
    fn only_statuses_tonic_raised_itself_are_unanswered() {
        assert!(!unanswered_grpc(&tonic::Status::unavailable("the app said so")));
        let transport = tonic::Status::from_error(Box::new(std::io::Error::other("connection reset")));
        assert!(unanswered_grpc(&transport));
    }
}

//! The app channel: how the sidecar reaches the app, over gRPC (`AppCallback`) or HTTP (plain or
//! TLS, see `app_transport`).

use super::EventSink;
use super::app_transport::{self, HttpClient};
use crate::config::AppProtocol;
use crate::state::SubscriptionInfo;
use async_trait::async_trait;
use bytes::Bytes;
use dapr_rs_proto::cloudevent;
use dapr_rs_proto::outcome::DeliveryOutcome;
use dapr_rs_proto::runtime::PubsubSubscriptionType;
use dapr_rs_proto::runtime::app_callback_client::AppCallbackClient;
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::time::Duration;
use tonic::transport::Channel;

// One per app, kept behind an Arc: the size of the HTTP variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum AppChannel {
    Grpc { client: AppCallbackClient<Channel>, token: Option<String> },
    Http { client: HttpClient, base: String, token: Option<String>, app_id: String },
}

impl AppChannel {
    pub fn new(protocol: AppProtocol, address: &str, port: u16, token: Option<String>, app_id: &str) -> Result<Self, String> {
        if protocol.is_grpc() {
            let channel = app_transport::grpc_channel(protocol, address, port)?;
            let client = AppCallbackClient::new(channel).max_decoding_message_size(usize::MAX).max_encoding_message_size(usize::MAX);
            Ok(Self::Grpc { client, token })
        } else {
            let base = app_transport::base_url(protocol, address, port);
            Ok(Self::Http { client: app_transport::http_client(protocol), base, token, app_id: app_id.to_owned() })
        }
    }

    fn grpc_request<T>(msg: T, token: &Option<String>) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        if let Some(t) = token.as_deref().and_then(|t| t.parse().ok()) {
            req.metadata_mut().insert(dapr_rs_proto::API_TOKEN_HEADER, t);
        }
        req
    }

    /// The app's programmatic subscriptions: `ListTopicSubscriptions` or `GET /dapr/subscribe`.
    pub async fn list_subscriptions(&self) -> Result<Vec<SubscriptionInfo>, String> {
        match self {
            Self::Grpc { client, token } => match client.clone().list_topic_subscriptions(Self::grpc_request((), token)).await {
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
                        Ok(items.into_iter().filter_map(HttpSubscription::into_info).collect())
                    }
                    404 => Ok(Vec::new()),
                    other => Err(format!("GET /dapr/subscribe answered {other}")),
                }
            }
        }
    }
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
    }
}

/// One item of `GET /dapr/subscribe` (keys matched case-insensitively would be lenient; these are
/// the spellings every SDK writes).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpSubscription {
    #[serde(alias = "pubsubName", alias = "pubsub_name")]
    pubsubname: String,
    topic: String,
    #[serde(default)]
    route: Option<String>,
    #[serde(default)]
    routes: Option<HttpRoutes>,
    #[serde(default)]
    metadata: HashMap<String, String>,
    #[serde(default)]
    dead_letter_topic: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct HttpRoutes {
    #[serde(default)]
    rules: Vec<HttpRule>,
    #[serde(default)]
    default: Option<String>,
}

#[derive(Debug, Deserialize)]
struct HttpRule {
    #[serde(default, rename = "match")]
    match_expr: String,
    path: String,
}

impl HttpSubscription {
    fn into_info(self) -> Option<SubscriptionInfo> {
        let routes = self.routes.unwrap_or_default();
        let mut rules: Vec<(String, String)> = routes.rules.into_iter().map(|r| (r.match_expr, r.path)).collect();
        match routes.default.filter(|d| !d.is_empty()).or(self.route.filter(|r| !r.is_empty())) {
            Some(d) => rules.push((String::new(), d)),
            None if rules.is_empty() => {
                tracing::warn!(pubsub = %self.pubsubname, topic = %self.topic, "subscription without any route ignored");
                return None;
            }
            None => {}
        }
        // HTTP routes are paths; daprd accepts them with or without the leading slash.
        for (_, path) in &mut rules {
            if !path.starts_with('/') {
                path.insert(0, '/');
            }
        }
        Some(SubscriptionInfo {
            pubsub_name: self.pubsubname,
            topic: self.topic,
            metadata: self.metadata,
            rules,
            dead_letter_topic: self.dead_letter_topic.unwrap_or_default(),
            kind: PubsubSubscriptionType::Programmatic,
        })
    }
}

#[async_trait]
impl EventSink for AppChannel {
    async fn deliver(&self, ce: &Map<String, Json>, body: &[u8], pubsub_name: &str, topic: &str, path: &str) -> DeliveryOutcome {
        match self {
            Self::Grpc { client, token } => {
                let req = cloudevent::to_topic_event_request(ce, pubsub_name, topic, path);
                match client.clone().on_topic_event(Self::grpc_request(req, token)).await {
                    Ok(resp) => DeliveryOutcome::from_status_value(resp.into_inner().status),
                    Err(s) => {
                        tracing::warn!(%pubsub_name, %topic, error = %s, "OnTopicEvent failed");
                        DeliveryOutcome::from_grpc_error(s.code())
                    }
                }
            }
            Self::Http { client, base, token, .. } => {
                let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
                let mut req = http::Request::post(format!("{base}{path}"))
                    .header(http::header::CONTENT_TYPE, dapr_rs_proto::content_type::CLOUDEVENT_JSON)
                    .header("pubsubname", pubsub_name);
                for key in ["traceparent", "tracestate"] {
                    if let Some(v) = ce.get(key).and_then(Json::as_str).filter(|v| !v.is_empty()) {
                        req = req.header(key, v);
                    }
                }
                if let Some(t) = token {
                    req = req.header(dapr_rs_proto::API_TOKEN_HEADER, t.as_str());
                }
                let req = match req.body(Full::new(Bytes::copy_from_slice(body))) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(%path, error = %e, "cannot build the delivery request");
                        return DeliveryOutcome::Retry;
                    }
                };
                match client.request(req).await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let body = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let outcome = DeliveryOutcome::from_http_reply(status, &body);
                        if status >= 300 {
                            tracing::warn!(%path, status, ?outcome, "the app did not accept the event");
                        }
                        outcome
                    }
                    Err(e) => {
                        tracing::warn!(%path, error = %e, "delivery to the app failed");
                        DeliveryOutcome::Retry
                    }
                }
            }
        }
    }
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

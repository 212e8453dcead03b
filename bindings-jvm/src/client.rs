//! `Client`: core's [`DaprClient`]. Each call is a Kotlin `suspend fun` running on the binding's
//! runtime ([`crate::runtime::on_runtime`]).

use crate::completions::completions;
use crate::errors::{DaprError, invalid_argument};
use crate::runtime::{in_runtime, runtime};
use crate::stream::SubscriptionStream;
use dapr_rs_core::{BulkPublishEntry, ClientOptions, ClientProtocol, DaprClient, PublishPayload, SubscriptionOptions};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Where and how the client calls its sidecar; every field may be left null. `host` / `port`
/// override `DAPR_RUNTIME_HOST` and `DAPR_GRPC_PORT` (`DAPR_HTTP_PORT` with `use_http`), else
/// `DAPR_GRPC_ENDPOINT` / `DAPR_HTTP_ENDPOINT`, else 127.0.0.1:50001 / :3500. `api_token`
/// overrides `DAPR_API_TOKEN`; `timeout_ms` bounds each call.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct ClientConfig {
    #[uniffi(default = None)]
    pub host: Option<String>,
    #[uniffi(default = None)]
    pub port: Option<i32>,
    #[uniffi(default = None)]
    pub api_token: Option<String>,
    #[uniffi(default = None)]
    pub timeout_ms: Option<i64>,
    /// Dapr's HTTP API instead of gRPC (streaming subscriptions always use gRPC).
    #[uniffi(default = false)]
    pub use_http: bool,
}

/// A value to publish, by what the app passed; core gives it its content type when none is named.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum Payload {
    /// A string: `text/plain`.
    Text { text: String },
    /// Bytes: `application/octet-stream`.
    Bytes { bytes: Vec<u8> },
    /// JSON text the app serialized: `application/json` (`application/cloudevents+json` for a CloudEvent).
    Json { json: String },
}

impl From<Payload> for PublishPayload {
    fn from(payload: Payload) -> Self {
        match payload {
            Payload::Text { text } => PublishPayload::Text(text),
            Payload::Bytes { bytes } => PublishPayload::Bytes(bytes.into()),
            Payload::Json { json } => PublishPayload::json(json),
        }
    }
}

/// One publish, as [`Client::start_publish`] takes it: one value crossing the FFI, not five.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PublishRequest {
    pub pubsub_name: String,
    pub topic: String,
    pub data: Payload,
    /// Overrides the content type core gives the payload.
    #[uniffi(default = None)]
    pub content_type: Option<String>,
    #[uniffi(default)]
    pub metadata: HashMap<String, String>,
}

impl From<PublishRequest> for dapr_rs_core::PublishRequest {
    fn from(r: PublishRequest) -> Self {
        let (data, data_content_type) = PublishPayload::from(r.data).into_data(r.content_type);
        Self { pubsub_name: r.pubsub_name, topic: r.topic, data, data_content_type, metadata: r.metadata }
    }
}

/// One entry of a bulk publish.
#[derive(Debug, Clone, uniffi::Record)]
pub struct BulkEntry {
    pub entry_id: String,
    pub data: Payload,
    #[uniffi(default = None)]
    pub content_type: Option<String>,
    #[uniffi(default)]
    pub metadata: HashMap<String, String>,
}

/// An entry the sidecar could not publish (the others were published).
#[derive(Debug, Clone, uniffi::Record)]
pub struct BulkFailure {
    pub entry_id: String,
    pub error: String,
}

/// What the sidecar says about itself.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SidecarMetadata {
    pub app_id: String,
    pub runtime_version: String,
    pub enabled_features: Vec<String>,
    pub components: Vec<SidecarComponent>,
    pub subscriptions: Vec<SidecarSubscription>,
    pub extended: HashMap<String, String>,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct SidecarComponent {
    pub name: String,
    pub component_type: String,
    pub version: String,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct SidecarSubscription {
    pub pubsub_name: String,
    pub topic: String,
    pub dead_letter_topic: String,
}

/// A duration in milliseconds (signed on the JVM, which has no unsigned types for Java callers), at
/// most the longest Go duration, as the other bindings take one: past it tonic's deadline panics.
fn millis(ms: i64) -> Result<Duration, DaprError> {
    u64::try_from(ms)
        .ok()
        .map(Duration::from_millis)
        .filter(|d| *d <= dapr_rs_core::proto::go_value::MAX_GO_DURATION)
        .ok_or_else(|| invalid_argument(format!("a duration must be 0 to 9223372036854 ms, not {ms} ms")))
}

#[derive(uniffi::Object)]
pub struct Client {
    client: DaprClient,
}

#[uniffi::export]
impl Client {
    #[uniffi::constructor]
    pub fn new(config: ClientConfig) -> Result<Arc<Self>, DaprError> {
        let protocol = if config.use_http { ClientProtocol::Http } else { ClientProtocol::Grpc };
        let port = config
            .port
            .map(|p| u16::try_from(p).ok().filter(|p| *p > 0).ok_or_else(|| invalid_argument(format!("port must be 1-65535, not {p}"))))
            .transpose()?;
        let host = config.host.as_deref().filter(|h| !h.is_empty());
        let mut options = ClientOptions::from_env_for(protocol, host, port);
        if config.api_token.is_some() {
            options = options.with_api_token(config.api_token.filter(|t| !t.is_empty()));
        }
        if let Some(ms) = config.timeout_ms {
            options = options.with_timeout(Some(millis(ms)?));
        }
        // The shared channel spawns its connection task on the runtime it is made in.
        let _entered = runtime().enter();
        Ok(Arc::new(Self { client: DaprClient::new(options)? }))
    }

    /// The sidecar endpoint the calls go to, e.g. `http://127.0.0.1:50001`.
    pub fn endpoint(&self) -> String {
        self.client.options().api_endpoint().to_owned()
    }

    /// Publishes `data` to `topic`; `content_type` overrides the one core gives the payload.
    pub async fn publish_event(
        &self,
        pubsub_name: String,
        topic: String,
        data: Payload,
        content_type: Option<String>,
        metadata: HashMap<String, String>,
    ) -> Result<(), DaprError> {
        let req: dapr_rs_core::PublishRequest = PublishRequest { pubsub_name, topic, data, content_type, metadata }.into();
        let client = self.client.clone();
        Ok(in_runtime(async move { client.publish_event(req).await }).await?)
    }

    /// Starts a publish and returns at once; how it ended is taken from [`completions`] under
    /// `token` (the caller's, unique among its calls in flight). For callers that wait on many
    /// publishes from one thread, as the Java layer does: cheaper on the JVM than
    /// [`Client::publish_event`].
    pub fn start_publish(&self, token: i64, request: PublishRequest) {
        let client = self.client.clone();
        let req: dapr_rs_core::PublishRequest = request.into();
        runtime().spawn(async move {
            let outcome = client.publish_event(req).await.map_err(DaprError::from);
            completions().finish(token, outcome);
        });
    }

    /// Publishes every entry in one call; returns those the sidecar could not publish.
    pub async fn publish_bulk(
        &self,
        pubsub_name: String,
        topic: String,
        entries: Vec<BulkEntry>,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<BulkFailure>, DaprError> {
        let entries = entries
            .into_iter()
            .map(|e| {
                let (event, content_type) = PublishPayload::from(e.data).into_data(e.content_type);
                BulkPublishEntry { entry_id: e.entry_id, event, content_type, metadata: e.metadata }
            })
            .collect();
        let client = self.client.clone();
        let failed = in_runtime(async move { client.bulk_publish(&pubsub_name, &topic, entries, metadata).await }).await?;
        Ok(failed.into_iter().map(|f| BulkFailure { entry_id: f.entry_id, error: f.error }).collect())
    }

    /// Returns once the sidecar answers; a `Timeout` after `timeout_ms`.
    pub async fn wait_for_sidecar(&self, timeout_ms: i64) -> Result<(), DaprError> {
        let timeout = millis(timeout_ms)?;
        let client = self.client.clone();
        Ok(in_runtime(async move { client.wait_for_sidecar(timeout).await }).await?)
    }

    /// The sidecar's metadata: app id, components, subscriptions.
    pub async fn metadata(&self) -> Result<SidecarMetadata, DaprError> {
        let client = self.client.clone();
        let m = in_runtime(async move { client.metadata().await }).await?;
        Ok(SidecarMetadata {
            app_id: m.id,
            runtime_version: m.runtime_version,
            enabled_features: m.enabled_features,
            components: m
                .registered_components
                .into_iter()
                .map(|c| SidecarComponent { name: c.name, component_type: c.r#type, version: c.version })
                .collect(),
            subscriptions: m
                .subscriptions
                .into_iter()
                .map(|s| SidecarSubscription { pubsub_name: s.pubsub_name, topic: s.topic, dead_letter_topic: s.dead_letter_topic })
                .collect(),
            extended: m.extended_metadata,
        })
    }

    /// Asks the sidecar to shut down.
    pub async fn shutdown(&self) -> Result<(), DaprError> {
        let client = self.client.clone();
        Ok(in_runtime(async move { client.shutdown_sidecar().await }).await?)
    }

    /// Opens a streaming subscription (no app port); it reconnects by itself after a sidecar restart.
    pub async fn subscribe(
        &self,
        pubsub_name: String,
        topic: String,
        dead_letter_topic: Option<String>,
        metadata: HashMap<String, String>,
    ) -> Result<Arc<SubscriptionStream>, DaprError> {
        let options =
            SubscriptionOptions { dead_letter_topic: dead_letter_topic.filter(|t| !t.is_empty()), metadata, ..Default::default() };
        let client = self.client.clone();
        let label = format!("{pubsub_name}/{topic}");
        let stream = in_runtime(async move { client.subscribe(&pubsub_name, &topic, options).await }).await?;
        Ok(SubscriptionStream::new(stream, label))
    }
}

//! What a running sidecar shares between its APIs and its delivery code.

use crate::config::SidecarConfig;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::retry::InboundPolicy;
use crate::scopes::TopicScopes;
use crate::subscription::{ActiveSubscription, SubscriptionInfo};
use dapr_rs_components::PubSub;
use dapr_rs_proto::error_code::ErrorCode;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub struct LoadedPubSub {
    pub name: String,
    pub component_type: String,
    pub version: String,
    /// `consumerID`: the consumer group this app's subscriptions join.
    pub consumer_group: String,
    pub pubsub: Arc<dyn PubSub>,
    /// The component's topic rules for this app.
    pub scopes: Arc<TopicScopes>,
    /// The Resiliency policy for deliveries from this component to the app.
    pub inbound: InboundPolicy,
}

pub struct SidecarState {
    pub config: SidecarConfig,
    pub components: BTreeMap<String, LoadedPubSub>,
    /// `kind: Subscription` resources for this app, registered with the app's own subscriptions.
    pub declarative: Vec<SubscriptionInfo>,
    subscriptions: Mutex<BTreeMap<u64, ActiveSubscription>>,
    next_subscription: AtomicU64,
    /// Set once the app channel is up and its subscriptions are registered.
    pub app_ready: AtomicBool,
    /// Cancelled to shut the sidecar down (Shutdown API, signal, or the launcher).
    pub shutdown: CancellationToken,
    /// `--app-max-concurrency` (or its default): one slot per delivery in flight to the app,
    /// shared by all its subscriptions.
    pub app_slots: Arc<Semaphore>,
    /// Set with `SetMetadata` / `PUT /v1.0/metadata/{key}`; reported under `extended`.
    extended_metadata: Mutex<BTreeMap<String, String>>,
    pub metrics: Arc<Metrics>,
    /// Spans of API calls and deliveries (`--config`'s `spec.tracing`); off by default.
    pub telemetry: crate::telemetry::Telemetry,
    /// The last messages forwarded to a dead-letter topic (`dapr-rs dashboard` shows them).
    pub dead_letters: Arc<crate::dead_letters::DeadLetterLog>,
}

impl SidecarState {
    pub fn new(
        config: SidecarConfig,
        components: BTreeMap<String, LoadedPubSub>,
        declarative: Vec<SubscriptionInfo>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            components,
            declarative,
            subscriptions: Mutex::default(),
            next_subscription: AtomicU64::new(1),
            app_ready: AtomicBool::new(false),
            shutdown: CancellationToken::new(),
            app_slots: Arc::new(Semaphore::new(config.max_concurrency.unwrap_or(crate::config::DEFAULT_MAX_CONCURRENCY))),
            extended_metadata: Mutex::default(),
            metrics,
            telemetry: Default::default(),
            dead_letters: Default::default(),
            config,
        }
    }

    pub fn with_telemetry(mut self, telemetry: crate::telemetry::Telemetry) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// The component a publish names, checked as daprd checks it, publishing scopes included.
    pub fn pubsub_for(&self, pubsub_name: &str, topic: &str) -> Result<Arc<dyn PubSub>, ApiError> {
        let c = self.loaded_pubsub(pubsub_name, topic)?;
        if !c.scopes.may_publish(topic) {
            return Err(forbidden("publishing to", topic, pubsub_name, &self.config.app_id));
        }
        Ok(c.pubsub.clone())
    }

    /// The component a subscription names, checked against its subscription scopes.
    pub fn pubsub_for_subscription(&self, pubsub_name: &str, topic: &str) -> Result<&LoadedPubSub, ApiError> {
        let c = self.loaded_pubsub(pubsub_name, topic)?;
        if !c.scopes.may_subscribe(topic) {
            return Err(forbidden("subscribing on", topic, pubsub_name, &self.config.app_id));
        }
        Ok(c)
    }

    fn loaded_pubsub(&self, pubsub_name: &str, topic: &str) -> Result<&LoadedPubSub, ApiError> {
        if self.components.is_empty() {
            return Err(ApiError::new(ErrorCode::PubsubNotConfigured, "no pubsub is configured"));
        }
        if pubsub_name.is_empty() {
            return Err(ApiError::new(ErrorCode::PubsubEmpty, "pubsub name is empty"));
        }
        let Some(c) = self.components.get(pubsub_name) else {
            return Err(ApiError::new(ErrorCode::PubsubNotFound, format!("pubsub {pubsub_name} is not found")));
        };
        if topic.is_empty() {
            return Err(ApiError::new(ErrorCode::TopicNameEmpty, format!("topic is empty in pubsub {pubsub_name}")));
        }
        Ok(c)
    }

    pub fn add_subscription(&self, sub: ActiveSubscription) -> u64 {
        let id = self.next_subscription.fetch_add(1, Ordering::Relaxed);
        self.subscriptions.lock().unwrap_or_else(|e| e.into_inner()).insert(id, sub);
        id
    }

    pub fn remove_subscription(&self, id: u64) -> Option<ActiveSubscription> {
        self.subscriptions.lock().unwrap_or_else(|e| e.into_inner()).remove(&id)
    }

    pub fn take_subscriptions(&self) -> Vec<ActiveSubscription> {
        std::mem::take(&mut *self.subscriptions.lock().unwrap_or_else(|e| e.into_inner())).into_values().collect()
    }

    pub fn subscription_infos(&self) -> Vec<SubscriptionInfo> {
        self.subscriptions.lock().unwrap_or_else(|e| e.into_inner()).values().map(|s| s.info.clone()).collect()
    }

    pub fn is_app_ready(&self) -> bool {
        self.app_ready.load(Ordering::Acquire)
    }

    /// An empty key is ignored, as daprd ignores it.
    pub fn set_extended_metadata(&self, key: String, value: String) {
        if key.is_empty() {
            return;
        }
        self.extended_metadata.lock().unwrap_or_else(|e| e.into_inner()).insert(key, value);
    }

    pub fn extended_metadata(&self) -> BTreeMap<String, String> {
        self.extended_metadata.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// daprd's wording: "topic X is not allowed for app id Y".
fn forbidden(operation: &str, topic: &str, pubsub_name: &str, app_id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::PubsubForbidden,
        format!("topic {topic} is not allowed for app id {app_id} ({operation} pubsub {pubsub_name})"),
    )
}

//! Subscribing on behalf of the app: once its channel is reachable, ask for its subscriptions, add
//! the declarative ones from the resources path, and subscribe each on its component, delivering
//! through the app channel.

use super::app_channel::{AppChannel, wait_for_app};
use super::bulk_delivery::DEFAULT_BATCHES_IN_FLIGHT;
use super::{BulkDelivery, EventDelivery, EventSink, Routes};
use crate::publisher::ApiError;
use crate::state::{ActiveSubscription, SidecarState, SubscriptionInfo};
use dapr_rs_components::{MessageHandler, SubscribeRequest};
use dapr_rs_proto::runtime::PubsubSubscriptionType;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Most deliveries in flight to the app, across all its subscriptions, when
/// `--app-max-concurrency` is not set (daprd has no limit then; a backlog over many topics would
/// then be read into memory at once). Also the most per streaming subscription.
pub const DEFAULT_MAX_CONCURRENCY: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// Unknown pubsub, empty topic, or a topic the subscription scopes forbid.
    #[error("{0}")]
    Refused(#[from] ApiError),
    /// A routing rule's match expression does not compile.
    #[error("{0}")]
    Routing(String),
    /// The component could not subscribe.
    #[error("{0}")]
    Component(String),
}

impl From<SubscribeError> for tonic::Status {
    fn from(e: SubscribeError) -> Self {
        match e {
            SubscribeError::Refused(e) => e.into(),
            SubscribeError::Routing(message) => tonic::Status::invalid_argument(message),
            SubscribeError::Component(message) => tonic::Status::internal(message),
        }
    }
}

/// Subscribes `info` on its component, sending its events to `sink`.
pub async fn subscribe(state: &Arc<SidecarState>, info: SubscriptionInfo, sink: Arc<dyn EventSink>) -> Result<u64, SubscribeError> {
    let loaded = state.pubsub_for_subscription(&info.pubsub_name, &info.topic)?;
    let component = loaded.pubsub.clone();
    let routes = Routes::compile(&info.rules).map_err(|e| SubscribeError::Routing(e.to_string()))?;
    let raw_payload = info
        .metadata
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("rawPayload") && dapr_rs_proto::cloudevent::parse_go_bool(v) == Some(true));
    let delivery = EventDelivery {
        pubsub_name: info.pubsub_name.clone(),
        topic: info.topic.clone(),
        routes,
        dead_letter_topic: Some(info.dead_letter_topic.clone()).filter(|d| !d.is_empty()),
        raw_payload,
        retry: loaded.inbound.retry,
        timeout: loaded.inbound.timeout,
        component: component.clone(),
        scopes: loaded.scopes.clone(),
        sink: sink.clone(),
        app_slots: None,
        stopping: state.shutdown.clone(),
    };
    // The app's cap counts calls to the app channel; streams are not part of it (as daprd).
    let app_slots = Some(state.app_slots.clone()).filter(|_| info.kind != PubsubSubscriptionType::Streaming);
    let mut max_concurrency = state.config.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY);
    // A single event holds its slot from the broker to its settling, taken by the component.
    let mut shared_slots = app_slots.clone();
    let handler: Arc<dyn MessageHandler> = match (info.bulk_subscribe, sink.bulk()) {
        (Some(bulk), Some(bulk_sink)) => {
            // A batch is one call, so it takes one slot when it is sent, and the component reads
            // only what this subscription's batches can hold.
            let batches = state.config.max_concurrency.unwrap_or(DEFAULT_BATCHES_IN_FLIGHT);
            max_concurrency = bulk.max_messages_count.saturating_mul(batches);
            shared_slots = None;
            let delivery = EventDelivery { app_slots, ..delivery };
            Arc::new(BulkDelivery::start(delivery, bulk_sink, bulk, batches, state.shutdown.clone()))
        }
        (Some(_), None) => {
            tracing::warn!(pubsub = %info.pubsub_name, topic = %info.topic, "bulkSubscribe is not supported here; events are delivered one by one");
            Arc::new(delivery)
        }
        (None, _) => Arc::new(delivery),
    };
    let req = SubscribeRequest { topic: info.topic.clone(), consumer_group: loaded.consumer_group.clone(), max_concurrency, shared_slots };
    let handle = component
        .subscribe(req, handler)
        .await
        .map_err(|e| SubscribeError::Component(format!("cannot subscribe to topic {} on pubsub {}: {e}", info.topic, info.pubsub_name)))?;
    tracing::info!(pubsub = %info.pubsub_name, topic = %info.topic, kind = ?info.kind, bulk = ?info.bulk_subscribe, "subscribed");
    Ok(state.add_subscription(ActiveSubscription { info, handle }))
}

/// The app's subscriptions as daprd's component store keeps them: declarative ones in file order,
/// the first per pubsub and topic; a programmatic one for the same pubsub and topic takes its place.
pub fn merge_app_subscriptions(declarative: Vec<SubscriptionInfo>, programmatic: Vec<SubscriptionInfo>) -> Vec<SubscriptionInfo> {
    let mut merged: Vec<SubscriptionInfo> = Vec::new();
    for info in declarative.into_iter().chain(programmatic) {
        let Some(existing) = merged.iter_mut().find(|s| s.pubsub_name == info.pubsub_name && s.topic == info.topic) else {
            merged.push(info);
            continue;
        };
        if info.kind == PubsubSubscriptionType::Declarative {
            tracing::warn!(pubsub = %info.pubsub_name, topic = %info.topic, "a second declarative subscription for this pubsub and topic is ignored; the first one loaded wins");
        } else {
            if existing.kind == PubsubSubscriptionType::Declarative {
                tracing::warn!(pubsub = %info.pubsub_name, topic = %info.topic, "the app's programmatic subscription replaces the declarative one for this pubsub and topic");
            }
            *existing = info;
        }
    }
    merged
}

/// A subscription that is registered but consumes nothing: there is no app channel to deliver to.
struct NotConsuming;

#[async_trait::async_trait]
impl dapr_rs_components::Subscription for NotConsuming {
    async fn stop(&self, _grace: std::time::Duration) {}
}

/// Runs until shutdown: waits for the app, registers its subscriptions, then marks the app ready;
/// with app health checks on, subscriptions follow the app's health instead.
pub async fn start_app_subscriptions(state: Arc<SidecarState>) {
    let cfg = &state.config;
    let Some(port) = cfg.app_port else {
        for info in merge_app_subscriptions(state.declarative.clone(), Vec::new()) {
            if let Err(e) = state.pubsub_for(&info.pubsub_name, &info.topic) {
                tracing::error!(pubsub = %info.pubsub_name, topic = %info.topic, error = %e.message, "declarative subscription not registered");
                continue;
            }
            tracing::warn!(pubsub = %info.pubsub_name, topic = %info.topic, "declarative subscription registered, but there is no --app-port to deliver to: its events are not consumed");
            state.add_subscription(ActiveSubscription { info, handle: Box::new(NotConsuming) });
        }
        return;
    };
    if !wait_for_app(&cfg.app_channel_address, port, &state.shutdown).await {
        return;
    }
    let channel = match AppChannel::new(cfg.app_protocol, &cfg.app_channel_address, port, cfg.app_api_token.clone(), &cfg.app_id) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            tracing::error!(error = %e, "cannot open the app channel");
            return;
        }
    };
    if let Some(health) = cfg.app_health.clone() {
        return super::app_health::supervise(state.clone(), channel, health).await;
    }
    let Some(infos) = read_app_subscriptions(&state, &channel).await else { return };
    subscribe_app(&state, &infos, &channel).await;
    state.app_ready.store(true, Ordering::Release);
    tracing::info!(app_id = %cfg.app_id, "app channel ready");
}

/// The app's subscriptions, asked until it answers, merged with the declarative ones; `None` when
/// the sidecar stops first.
pub async fn read_app_subscriptions(state: &SidecarState, channel: &AppChannel) -> Option<Vec<SubscriptionInfo>> {
    let mut delay = std::time::Duration::from_millis(100);
    loop {
        match channel.list_subscriptions().await {
            Ok(infos) => return Some(merge_app_subscriptions(state.declarative.clone(), infos)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the app's subscriptions; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = state.shutdown.cancelled() => return None,
                }
                delay = (delay * 2).min(std::time::Duration::from_secs(5));
            }
        }
    }
}

/// Subscribes each of the app's subscriptions, delivering through `channel`; returns their ids.
pub async fn subscribe_app(state: &Arc<SidecarState>, infos: &[SubscriptionInfo], channel: &Arc<AppChannel>) -> Vec<u64> {
    let mut ids = Vec::with_capacity(infos.len());
    for info in infos {
        match subscribe(state, info.clone(), channel.clone()).await {
            Ok(id) => ids.push(id),
            Err(e) => tracing::error!(pubsub = %info.pubsub_name, topic = %info.topic, error = %e, "subscription not registered"),
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(topic: &str, path: &str, kind: PubsubSubscriptionType) -> SubscriptionInfo {
        SubscriptionInfo {
            pubsub_name: "ps".into(),
            topic: topic.into(),
            metadata: Default::default(),
            rules: vec![(String::new(), path.into())],
            dead_letter_topic: String::new(),
            kind,
            ..Default::default()
        }
    }

    #[test]
    fn a_programmatic_subscription_replaces_the_declarative_one_in_its_place() {
        use PubsubSubscriptionType::{Declarative, Programmatic};
        let declarative = vec![info("a", "/decl-a", Declarative), info("b", "/decl-b", Declarative), info("a", "/decl-a2", Declarative)];
        let programmatic = vec![info("c", "/prog-c", Programmatic), info("a", "/prog-a", Programmatic)];
        let merged: Vec<(String, String)> =
            merge_app_subscriptions(declarative, programmatic).into_iter().map(|s| (s.topic, s.rules[0].1.clone())).collect();
        let expected = [("a", "/prog-a"), ("b", "/decl-b"), ("c", "/prog-c")].map(|(t, p)| (t.to_string(), p.to_string()));
        assert_eq!(merged, expected);
    }
}

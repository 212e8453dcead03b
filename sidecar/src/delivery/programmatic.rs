//! Subscribing on behalf of the app: once its channel is reachable, ask for its subscriptions, add
//! the declarative ones from the resources path, and subscribe each on its component, delivering
//! through the app channel.

use super::app_channel::{AppChannel, wait_for_app};
use super::{EventDelivery, EventSink, RetryPolicy, Routes};
use crate::pubsub::SubscribeRequest;
use crate::state::{ActiveSubscription, SidecarState, SubscriptionInfo};
use dapr_rs_proto::runtime::PubsubSubscriptionType;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Most deliveries in flight per subscription when `--app-max-concurrency` is not set.
pub const DEFAULT_MAX_CONCURRENCY: usize = 256;

/// Subscribes `info` on its component, sending its events to `sink`.
pub async fn subscribe(state: &Arc<SidecarState>, info: SubscriptionInfo, sink: Arc<dyn EventSink>) -> Result<u64, String> {
    let component = state.pubsub_for(&info.pubsub_name, &info.topic).map_err(|e| e.message)?;
    let loaded = &state.components[&info.pubsub_name];
    let routes = Routes::compile(&info.rules).map_err(|e| e.to_string())?;
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
        retry: RetryPolicy::default(),
        component: component.clone(),
        sink,
    };
    let req = SubscribeRequest {
        topic: info.topic.clone(),
        consumer_group: loaded.consumer_group.clone(),
        max_concurrency: state.config.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY),
    };
    let handle = component
        .subscribe(req, Arc::new(delivery))
        .await
        .map_err(|e| format!("cannot subscribe to topic {} on pubsub {}: {e}", info.topic, info.pubsub_name))?;
    tracing::info!(pubsub = %info.pubsub_name, topic = %info.topic, kind = ?info.kind, "subscribed");
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
impl crate::pubsub::Subscription for NotConsuming {
    async fn stop(&self, _grace: std::time::Duration) {}
}

/// Runs until shutdown: waits for the app, registers its subscriptions (and the `declarative`
/// ones), then marks the app ready.
pub async fn start_app_subscriptions(state: Arc<SidecarState>, declarative: Vec<SubscriptionInfo>) {
    let cfg = &state.config;
    let Some(port) = cfg.app_port else {
        for info in merge_app_subscriptions(declarative, Vec::new()) {
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
    let programmatic = {
        let mut delay = std::time::Duration::from_millis(100);
        loop {
            match channel.list_subscriptions().await {
                Ok(infos) => break infos,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the app's subscriptions; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = state.shutdown.cancelled() => return,
                    }
                    delay = (delay * 2).min(std::time::Duration::from_secs(5));
                }
            }
        }
    };
    for info in merge_app_subscriptions(declarative, programmatic) {
        let (pubsub, topic) = (info.pubsub_name.clone(), info.topic.clone());
        if let Err(e) = subscribe(&state, info, channel.clone()).await {
            tracing::error!(%pubsub, %topic, error = %e, "subscription not registered");
        }
    }
    state.app_ready.store(true, Ordering::Release);
    tracing::info!(app_id = %cfg.app_id, "app channel ready");
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

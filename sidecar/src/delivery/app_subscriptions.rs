//! The app's subscriptions, from start to stop: once its channel is reachable, ask for its
//! (programmatic) subscriptions, add the declarative ones from the resources path, and subscribe
//! each on its component, delivering through the app channel; with app health checks on, stop
//! them while the app is unhealthy and subscribe again when it is back.

use super::app_channel::{AppChannel, wait_for_app};
use super::app_health::AppProbe;
use super::subscribe::subscribe;
use crate::config::app_health::AppHealthConfig;
use crate::state::SidecarState;
use crate::subscription::{ActiveSubscription, SubscriptionInfo};
use dapr_rs_proto::runtime::PubsubSubscriptionType;
use std::sync::Arc;
use std::sync::atomic::Ordering;

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
        return follow_app_health(state.clone(), channel, health).await;
    }
    let Some(infos) = read_app_subscriptions(&state, &channel).await else { return };
    subscribe_app(&state, &infos, &channel).await;
    state.app_ready.store(true, Ordering::Release);
    tracing::info!(app_id = %cfg.app_id, "app channel ready");
}

/// With app health checks on: after `threshold` failed probes in a row the app is unhealthy and
/// its subscriptions are stopped, so nothing is delivered and nothing is taken from the broker; the
/// first successful probe subscribes again. Runs until shutdown: subscribes the app's subscriptions while it is healthy and stops them
/// while it is not. The sidecar's `/v1.0/healthz` follows (through `app_ready`).
async fn follow_app_health(state: Arc<SidecarState>, channel: Arc<AppChannel>, health: AppHealthConfig) {
    let cfg = &state.config;
    let Some(port) = cfg.app_port else { return };
    let probe = match AppProbe::new(cfg.app_protocol, &cfg.app_channel_address, port, &health.path, cfg.app_api_token.clone()) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot probe the app's health");
            return;
        }
    };
    let mut infos = None;
    let mut active: Option<Vec<u64>> = None;
    let mut failures = 0u32;
    loop {
        match probe.check(health.timeout).await {
            Ok(()) => {
                failures = 0;
                if active.is_none() {
                    if infos.is_none() {
                        infos = read_app_subscriptions(&state, &channel).await;
                    }
                    let Some(infos) = &infos else { return };
                    if state.shutdown.is_cancelled() {
                        return;
                    }
                    active = Some(subscribe_app(&state, infos, &channel).await);
                    state.app_ready.store(true, Ordering::Release);
                    tracing::info!(app_id = %cfg.app_id, "the app is healthy; deliveries run");
                }
            }
            Err(e) => {
                failures += 1;
                tracing::debug!(error = %e, failures, "app health probe failed");
                if failures >= health.threshold
                    && let Some(ids) = active.take()
                {
                    state.app_ready.store(false, Ordering::Release);
                    tracing::warn!(app_id = %cfg.app_id, error = %e, "the app is unhealthy; deliveries paused");
                    let stops = ids.into_iter().filter_map(|id| state.remove_subscription(id)).map(|s| {
                        let grace = cfg.grace;
                        async move { s.handle.stop(grace).await }
                    });
                    futures::future::join_all(stops).await;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(health.interval) => {}
            _ = state.shutdown.cancelled() => return,
        }
    }
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

//! Subscribing on behalf of the app: once its channel is reachable, ask for its subscriptions and
//! subscribe each on its component, delivering through the app channel.

use super::app_channel::{AppChannel, wait_for_app};
use super::{EventDelivery, EventSink, RetryPolicy, Routes};
use crate::pubsub::SubscribeRequest;
use crate::state::{ActiveSubscription, SidecarState, SubscriptionInfo};
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

/// Runs until shutdown: waits for the app, registers its subscriptions, then marks the app ready.
pub async fn start_app_subscriptions(state: Arc<SidecarState>) {
    let cfg = &state.config;
    let Some(port) = cfg.app_port else {
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
    let infos = {
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
    for info in infos {
        let (pubsub, topic) = (info.pubsub_name.clone(), info.topic.clone());
        if let Err(e) = subscribe(&state, info, channel.clone()).await {
            tracing::error!(%pubsub, %topic, error = %e, "subscription not registered");
        }
    }
    state.app_ready.store(true, Ordering::Release);
    tracing::info!(app_id = %cfg.app_id, "app channel ready");
}

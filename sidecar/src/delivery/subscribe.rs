//! Subscribing one subscription on its component, whoever asked for it (the app, a declarative
//! file, a streaming subscriber): its routes compiled, its delivery to the sink built (single
//! events or batches), its share of the app's delivery slots, and its registration in the state.

use super::bulk_delivery::DEFAULT_BATCHES_IN_FLIGHT;
use super::{BulkDelivery, EventDelivery, EventSink};
use crate::config::DEFAULT_MAX_CONCURRENCY;
use crate::error::ApiError;
use crate::metrics::pubsub::Ingress;
use crate::routing::Routes;
use crate::state::SidecarState;
use crate::subscription::{ActiveSubscription, SubscriptionInfo};
use dapr_rs_components::{MessageHandler, SubscribeRequest};
use dapr_rs_proto::runtime::PubsubSubscriptionType;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// Unknown pubsub, empty topic, or a topic the subscription scopes forbid.
    #[error("{0}")]
    Refused(#[from] ApiError),
    /// A routing rule's match expression does not compile.
    #[error("{0}")]
    Routing(String),
    /// A subscription metadata value the sidecar reads is invalid (`rawPayload: maybe`).
    #[error("{0}")]
    Metadata(String),
    /// The component could not subscribe.
    #[error("{0}")]
    Component(String),
}

impl From<SubscribeError> for tonic::Status {
    fn from(e: SubscribeError) -> Self {
        match e {
            SubscribeError::Refused(e) => e.into(),
            SubscribeError::Routing(message) | SubscribeError::Metadata(message) => tonic::Status::invalid_argument(message),
            SubscribeError::Component(message) => tonic::Status::internal(message),
        }
    }
}

/// Subscribes `info` on its component, sending its events to `sink`.
pub async fn subscribe(state: &Arc<SidecarState>, info: SubscriptionInfo, sink: Arc<dyn EventSink>) -> Result<u64, SubscribeError> {
    let loaded = state.pubsub_for_subscription(&info.pubsub_name, &info.topic)?;
    let component = loaded.pubsub.clone();
    let routes = Routes::compile(&info.rules).map_err(|e| SubscribeError::Routing(e.to_string()))?;
    let raw_payload = dapr_rs_proto::cloudevent::raw_payload(&info.metadata).map_err(|e| SubscribeError::Metadata(e.to_string()))?;
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
        ingress: Ingress::new(state.metrics.clone(), &info.pubsub_name, &info.topic, info.kind != PubsubSubscriptionType::Streaming),
        telemetry: state.telemetry.clone(),
        dead_letters: state.dead_letters.clone(),
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

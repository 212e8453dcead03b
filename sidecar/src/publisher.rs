//! The publish path shared by the gRPC and HTTP APIs, for single and bulk publishes: validation in
//! daprd's order, the CloudEvent envelope, then the component. Errors carry the Dapr error code
//! both APIs answer with.

use crate::error::ApiError;
use crate::state::SidecarState;
use bytes::Bytes;
use dapr_rs_components::{BrokerError, BrokerMessage, PubSub};
use dapr_rs_proto::cloudevent::{self, EnvelopeContext, PublishOptions};
use dapr_rs_proto::error_code::ErrorCode;
use dapr_rs_proto::runtime::{BulkPublishRequest, BulkPublishResponseFailedEntry};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

#[derive(Debug, Clone, Default)]
pub struct PublishInput {
    pub pubsub_name: String,
    pub topic: String,
    pub data: Bytes,
    pub content_type: String,
    pub metadata: HashMap<String, String>,
    pub traceparent: String,
    pub tracestate: String,
    /// A `rawPayload` message, which has no envelope for the trace, gets it in its metadata
    /// (`traceid`, `tracestate`: brokers that carry metadata keep it), as daprd's gRPC
    /// `PublishEvent` does; its HTTP API and bulk publishes do not.
    pub raw_payload_trace_in_metadata: bool,
}

/// A bulk publish as the gRPC API receives it (the HTTP API builds the same request); request-level
/// metadata applies to every entry unless the entry sets the key.
#[derive(Debug, Clone, Default)]
pub struct BulkPublishInput {
    pub request: BulkPublishRequest,
    pub traceparent: String,
    pub tracestate: String,
}

pub async fn publish(state: &SidecarState, input: PublishInput) -> Result<(), ApiError> {
    let component = state.pubsub_for(&input.pubsub_name, &input.topic)?;
    let target = Target { state, pubsub_name: &input.pubsub_name, topic: &input.topic, component };
    let trace =
        Trace { traceparent: &input.traceparent, tracestate: &input.tracestate, raw_in_metadata: input.raw_payload_trace_in_metadata };
    let msg = target.message(input.data, &input.content_type, input.metadata, &trace)?;
    target.send(msg).await
}

/// Hands every entry to the component as one bulk publish and returns those it refused. A request
/// that fails validation publishes nothing.
pub async fn bulk_publish(state: &SidecarState, input: BulkPublishInput) -> Result<Vec<BulkPublishResponseFailedEntry>, ApiError> {
    let BulkPublishInput { request: input, traceparent, tracestate } = input;
    let component = state.pubsub_for(&input.pubsub_name, &input.topic)?;
    PublishOptions::from_metadata(&input.metadata).map_err(|e| ApiError::new(ErrorCode::PubsubRequestMetadata, e.to_string()))?;
    let mut seen = HashSet::new();
    if let Some(bad) = input.entries.iter().find(|e| e.entry_id.is_empty() || !seen.insert(e.entry_id.as_str())) {
        let what = if bad.entry_id.is_empty() {
            "an entry has no entryId".to_owned()
        } else {
            format!("entryId {:?} is duplicated", bad.entry_id)
        };
        return Err(ApiError::new(
            ErrorCode::PubsubEventsSer,
            format!("error marshaling events to bytes for topic {} pubsub {}: {what}", input.topic, input.pubsub_name),
        ));
    }
    let target = Target { state, pubsub_name: &input.pubsub_name, topic: &input.topic, component };
    // Every envelope first: one bad entry fails the request before anything is published.
    let mut messages = Vec::with_capacity(input.entries.len());
    for entry in input.entries {
        let mut metadata = input.metadata.clone();
        metadata.extend(entry.metadata);
        let trace = Trace { traceparent: &traceparent, tracestate: &tracestate, raw_in_metadata: false };
        let msg = target.message(entry.event.into(), &entry.content_type, metadata, &trace)?;
        messages.push((entry.entry_id, msg));
    }
    let (entry_ids, messages): (Vec<String>, Vec<BrokerMessage>) = messages.into_iter().unzip();
    let outcomes = state.metrics.pubsub.bulk_egress(&input.pubsub_name, &input.topic, target.component.publish_bulk(messages)).await;
    let failed = entry_ids
        .into_iter()
        .zip(outcomes)
        .filter_map(|(entry_id, outcome)| {
            outcome.err().map(|e| BulkPublishResponseFailedEntry { entry_id, error: target.failure(e).message })
        })
        .collect();
    Ok(failed)
}

/// The trace a published message continues.
struct Trace<'a> {
    traceparent: &'a str,
    tracestate: &'a str,
    /// See [`PublishInput::raw_payload_trace_in_metadata`].
    raw_in_metadata: bool,
}

/// A validated pubsub and topic.
struct Target<'a> {
    state: &'a SidecarState,
    pubsub_name: &'a str,
    topic: &'a str,
    component: Arc<dyn PubSub>,
}

impl Target<'_> {
    /// What the broker stores for one payload: its CloudEvent, or the payload itself with `rawPayload`.
    fn message(
        &self,
        data: Bytes,
        content_type: &str,
        mut metadata: HashMap<String, String>,
        trace: &Trace,
    ) -> Result<BrokerMessage, ApiError> {
        let options =
            PublishOptions::from_metadata(&metadata).map_err(|e| ApiError::new(ErrorCode::PubsubRequestMetadata, e.to_string()))?;
        let data = if options.raw_payload {
            if trace.raw_in_metadata {
                // daprd sets both keys, empty without a trace, over any the caller gave.
                metadata.insert("traceid".into(), trace.traceparent.into());
                metadata.insert("tracestate".into(), trace.tracestate.into());
            }
            data
        } else {
            let ctx = EnvelopeContext {
                source: &self.state.config.app_id,
                pubsub_name: self.pubsub_name,
                topic: self.topic,
                traceparent: trace.traceparent,
                tracestate: trace.tracestate,
                now: SystemTime::now(),
            };
            let ce = cloudevent::envelope(&ctx, &data, content_type, &metadata, options.ttl)
                .map_err(|e| ApiError::new(ErrorCode::PubsubCloudEventsSer, format!("error when packing the CloudEvent: {e}")))?;
            Bytes::from(ce)
        };
        Ok(BrokerMessage { topic: self.topic.to_owned(), data, metadata })
    }

    async fn send(&self, msg: BrokerMessage) -> Result<(), ApiError> {
        self.state.metrics.pubsub.egress(self.pubsub_name, self.topic, self.component.publish(msg)).await.map_err(|e| self.failure(e))
    }

    /// What the API answers when the component refused a message.
    fn failure(&self, e: BrokerError) -> ApiError {
        ApiError::new(
            ErrorCode::PubsubPublishMessage,
            format!("error when publishing to topic {} in pubsub {}: {e}", self.topic, self.pubsub_name),
        )
    }
}

//! The publish path shared by the gRPC and HTTP APIs: validation in daprd's order, the CloudEvent
//! envelope, then the component. Errors carry the Dapr error code both APIs answer with.

use crate::pubsub::BrokerMessage;
use crate::state::SidecarState;
use bytes::Bytes;
use dapr_rs_proto::cloudevent::{self, EnvelopeContext, PublishOptions};
use dapr_rs_proto::error_code::ErrorCode;
use std::collections::HashMap;
use std::time::SystemTime;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        dapr_rs_proto::error_code::to_grpc_status(e.code, e.message)
    }
}

#[derive(Debug, Clone, Default)]
pub struct PublishInput {
    pub pubsub_name: String,
    pub topic: String,
    pub data: Bytes,
    pub content_type: String,
    pub metadata: HashMap<String, String>,
    pub traceparent: String,
    pub tracestate: String,
}

pub async fn publish(state: &SidecarState, input: PublishInput) -> Result<(), ApiError> {
    let component = state.pubsub_for(&input.pubsub_name, &input.topic)?;
    let options =
        PublishOptions::from_metadata(&input.metadata).map_err(|e| ApiError::new(ErrorCode::PubsubRequestMetadata, e.to_string()))?;
    let data = if options.raw_payload {
        input.data
    } else {
        let ctx = EnvelopeContext {
            source: &state.config.app_id,
            pubsub_name: &input.pubsub_name,
            topic: &input.topic,
            traceparent: &input.traceparent,
            tracestate: &input.tracestate,
            now: SystemTime::now(),
        };
        let ce = cloudevent::envelope(&ctx, &input.data, &input.content_type, &input.metadata, options.ttl)
            .map_err(|e| ApiError::new(ErrorCode::PubsubCloudEventsSer, format!("error when packing the CloudEvent: {e}")))?;
        Bytes::from(serde_json::to_vec(&ce).expect("a JSON map always serialises"))
    };
    let msg = BrokerMessage { topic: input.topic.clone(), data, metadata: input.metadata };
    component.publish(msg).await.map_err(|e| {
        ApiError::new(
            ErrorCode::PubsubPublishMessage,
            format!("error when publishing to topic {} in pubsub {}: {e}", input.topic, input.pubsub_name),
        )
    })
}

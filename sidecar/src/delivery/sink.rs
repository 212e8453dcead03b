//! Where a subscription's events go: the app channel or a streaming subscriber ([`EventSink`]),
//! and, for bulk subscriptions, the app channel taking whole batches ([`BulkEventSink`]) with the
//! batch's wire forms (gRPC `OnBulkTopicEvent`, the HTTP bulk envelope).

use crate::metrics::pubsub::{Attempted, IngressStatus};
use async_trait::async_trait;
use base64::Engine as _;
use dapr_rs_proto::bulk::{BulkEnvelope, BulkEnvelopeEntry};
use dapr_rs_proto::cloudevent::{self, DeliveredEvent};
use dapr_rs_proto::content_type;
use dapr_rs_proto::outcome::{BulkOutcome, DeliveryOutcome};
use dapr_rs_proto::runtime::topic_event_bulk_request_entry::Event as GrpcBulkEvent;
use dapr_rs_proto::runtime::{TopicEventBulkRequest, TopicEventBulkRequestEntry};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::Arc;

/// What one delivery to the app came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppAnswer {
    /// SUCCESS, RETRY or DROP as the app answered; a call that failed is a RETRY.
    Status(DeliveryOutcome),
    /// HTTP 404: the app serves no such route. daprd drops it as a non-retriable error, to the
    /// dead-letter topic when there is one.
    NotFound,
    /// gRPC Unimplemented: the app serves no `OnTopicEvent`. daprd drops it and acknowledges it,
    /// without the dead-letter topic.
    Unimplemented,
}

impl Attempted for AppAnswer {
    fn ingress_status(&self, app_channel: bool) -> IngressStatus {
        match self {
            Self::Status(outcome) => outcome.ingress_status(app_channel),
            Self::NotFound | Self::Unimplemented => IngressStatus::not_found(),
        }
    }
}

/// Where events of a subscription go: the app channel or a streaming subscriber.
#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    /// Delivers one CloudEvent to `path` (an HTTP app gets its JSON as the broker stored it);
    /// `metadata` is the broker message's (the app channel sends it on, a stream does not).
    async fn deliver(
        &self,
        ce: &DeliveredEvent,
        metadata: &HashMap<String, String>,
        pubsub_name: &str,
        topic: &str,
        path: &str,
    ) -> AppAnswer;

    /// The same destination taking whole batches (`bulkSubscribe`), when it can; streams cannot.
    fn bulk(self: Arc<Self>) -> Option<Arc<dyn BulkEventSink>> {
        None
    }
}

/// Where a bulk subscription's batches go: the app channel (streams take no batches).
#[async_trait]
pub trait BulkEventSink: Send + Sync + 'static {
    async fn deliver_bulk(&self, batch: &BulkBatch<'_>) -> BulkOutcome;
}

/// One bulk call: entries of one subscription that share a route.
pub struct BulkBatch<'a> {
    pub pubsub_name: &'a str,
    pub topic: &'a str,
    pub path: &'a str,
    pub entries: Vec<BulkEntry<'a>>,
}

/// One broker message of a batch.
pub struct BulkEntry<'a> {
    pub entry_id: &'a str,
    pub ce: &'a DeliveredEvent,
    /// `rawPayload` subscriptions: the broker bytes, sent as they are rather than as a CloudEvent.
    pub raw: Option<&'a [u8]>,
    /// The broker message's metadata.
    pub metadata: &'a HashMap<String, String>,
}

impl BulkEntry<'_> {
    fn content_type(&self) -> &'static str {
        if self.raw.is_some() { content_type::OCTET_STREAM } else { content_type::CLOUDEVENT_JSON }
    }
}

impl BulkBatch<'_> {
    /// The metadata of the whole call, as daprd sends it.
    fn metadata(&self) -> HashMap<String, String> {
        HashMap::from([("pubsubName".to_owned(), self.pubsub_name.to_owned())])
    }

    /// `OnBulkTopicEvent`'s request.
    pub fn to_grpc_request(&self) -> TopicEventBulkRequest {
        let entries = self
            .entries
            .iter()
            .map(|e| TopicEventBulkRequestEntry {
                entry_id: e.entry_id.to_owned(),
                event: Some(match e.raw {
                    Some(raw) => GrpcBulkEvent::Bytes(raw.to_vec()),
                    None => GrpcBulkEvent::CloudEvent(cloudevent::to_topic_event_ce_request(e.ce)),
                }),
                content_type: e.content_type().to_owned(),
                metadata: e.metadata.clone(),
            })
            .collect();
        TopicEventBulkRequest {
            id: uuid::Uuid::new_v4().to_string(),
            entries,
            metadata: self.metadata(),
            topic: self.topic.to_owned(),
            pubsub_name: self.pubsub_name.to_owned(),
            r#type: cloudevent::BULK_EVENT_TYPE.to_owned(),
            path: self.path.to_owned(),
        }
    }

    /// The JSON body of an HTTP bulk delivery.
    pub fn to_http_envelope(&self) -> BulkEnvelope {
        let entries = self
            .entries
            .iter()
            .map(|e| BulkEnvelopeEntry {
                entry_id: e.entry_id.to_owned(),
                event: match e.raw {
                    Some(raw) => Json::String(base64::engine::general_purpose::STANDARD.encode(raw)),
                    None => Json::Object(e.ce.to_map()),
                },
                metadata: e.metadata.clone(),
                content_type: e.content_type().to_owned(),
            })
            .collect();
        BulkEnvelope {
            id: uuid::Uuid::new_v4().to_string(),
            event_type: cloudevent::BULK_EVENT_TYPE.to_owned(),
            topic: self.topic.to_owned(),
            pubsubname: self.pubsub_name.to_owned(),
            metadata: self.metadata(),
            entries,
        }
    }
}

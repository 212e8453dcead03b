//! A delivered [`TopicEvent`] as the `Event` a JVM handler gets, with its payload decoded by
//! core's rule ([`TopicEvent::decoded_data`]); and the handler's answer, [`EventStatus`].

use dapr_rs_core::{EventData, TopicEvent, TopicEventStatus};
use std::collections::HashMap;

/// How `Event.data` reads: JSON text, text, or bytes (core decided by the content type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DataKind {
    Json,
    Text,
    Bytes,
}

/// What a handler answers: ack, redeliver later, or drop (dead-letter if configured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum EventStatus {
    Success,
    Retry,
    Drop,
}

impl From<EventStatus> for TopicEventStatus {
    fn from(status: EventStatus) -> Self {
        match status {
            EventStatus::Success => Self::Success,
            EventStatus::Retry => Self::Retry,
            EventStatus::Drop => Self::Drop,
        }
    }
}

/// One delivered event: its CloudEvent attributes and payload.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Event {
    pub id: String,
    pub source: String,
    /// The CloudEvent `type`.
    pub event_type: String,
    pub specversion: String,
    pub datacontenttype: String,
    pub topic: String,
    pub pubsubname: String,
    /// The route the sidecar delivered to (empty for streaming subscriptions).
    pub path: String,
    pub data_kind: DataKind,
    /// The payload's bytes as delivered.
    pub data: Vec<u8>,
    /// The payload as text: JSON text (`data_kind` JSON) or the text (TEXT); null for BYTES.
    pub text: Option<String>,
    /// Every other CloudEvent attribute (`traceparent`, `time`, custom ones), as a JSON object's text.
    pub extensions: String,
    /// The broker message's metadata as the sidecar delivered it (empty for streaming subscriptions).
    pub metadata: HashMap<String, String>,
}

impl From<TopicEvent> for Event {
    fn from(event: TopicEvent) -> Self {
        let (data_kind, text) = match event.decoded_data() {
            // The bytes parsed as JSON, so they are UTF-8.
            EventData::Json(_) => (DataKind::Json, Some(String::from_utf8_lossy(&event.data).into_owned())),
            EventData::Text(text) => (DataKind::Text, Some(text)),
            EventData::Bytes(_) => (DataKind::Bytes, None),
        };
        Self {
            extensions: serde_json::Value::Object(event.extensions).to_string(),
            metadata: event.metadata,
            id: event.id,
            source: event.source,
            event_type: event.event_type,
            specversion: event.spec_version,
            datacontenttype: event.data_content_type,
            topic: event.topic,
            pubsubname: event.pubsub_name,
            path: event.path,
            data_kind,
            data: event.data.to_vec(),
            text,
        }
    }
}

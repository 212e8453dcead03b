//! A delivered [`TopicEvent`] as the plain object JS handlers get. The payload is decoded by
//! core's rule ([`TopicEvent::decoded_data`]); JSON crosses as text for the facade to
//! `JSON.parse`, which keeps JavaScript's own number semantics.

use dapr_rs_core::{EventData, TopicEvent};
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use std::collections::HashMap;

#[napi(string_enum = "lowercase")]
pub enum DataKind {
    Json,
    Text,
    Bytes,
}

#[napi(object)]
pub struct DeliveredEvent {
    pub id: String,
    pub source: String,
    #[napi(js_name = "type")]
    pub event_type: String,
    pub specversion: String,
    pub datacontenttype: String,
    pub topic: String,
    pub pubsubname: String,
    /// The route the sidecar delivered to (empty for streaming subscriptions).
    pub path: String,
    pub data_kind: DataKind,
    /// JSON text (`dataKind` "json") or the text (`dataKind` "text").
    pub text: Option<String>,
    /// The bytes (`dataKind` "bytes").
    pub bytes: Option<Buffer>,
    /// Every other CloudEvent attribute, as JSON text of an object.
    pub extensions: String,
    /// The broker message's metadata as the sidecar delivered it (empty for streaming subscriptions).
    pub metadata: HashMap<String, String>,
}

impl From<TopicEvent> for DeliveredEvent {
    fn from(event: TopicEvent) -> Self {
        let (data_kind, text, bytes) = match event.decoded_data() {
            // The bytes parsed as JSON, so they are UTF-8.
            EventData::Json(_) => (DataKind::Json, Some(String::from_utf8_lossy(&event.data).into_owned()), None),
            EventData::Text(text) => (DataKind::Text, Some(text), None),
            EventData::Bytes(b) => (DataKind::Bytes, None, Some(Buffer::from(b.to_vec()))),
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
            text,
            bytes,
        }
    }
}

use bytes::Bytes;
use dapr_rs_proto::content_type;
use dapr_rs_proto::runtime::TopicEventRequest;
use dapr_rs_proto::struct_json::struct_to_json_map;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;

/// One delivered event: the CloudEvent attributes and its payload, whichever way it arrived
/// (gRPC `OnTopicEvent`, HTTP POST, or a streaming subscription).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicEvent {
    pub id: String,
    pub source: String,
    pub event_type: String,
    pub spec_version: String,
    pub data_content_type: String,
    /// The payload bytes (JSON text for JSON events, decoded bytes for `data_base64`).
    pub data: Bytes,
    pub topic: String,
    pub pubsub_name: String,
    /// The matched route (empty when the subscription has no routes).
    pub path: String,
    /// Every other CloudEvent attribute: `traceparent`, `time`, `expiration`, custom extensions…
    pub extensions: Map<String, Json>,
    /// The broker message's metadata as the sidecar delivered it: the call's gRPC metadata or HTTP
    /// headers (lowercased keys, e.g. `pubsubname`, Kafka's `__key`, a publish's metadata), or a
    /// bulk entry's `metadata`; empty for streaming subscriptions, to which daprd sends none.
    pub metadata: HashMap<String, String>,
    /// The entry's id in a bulk delivery (its status is answered under it); empty otherwise.
    pub entry_id: String,
}

/// The payload decoded by its content type.
#[derive(Debug, Clone, PartialEq)]
pub enum EventData {
    Json(Json),
    Text(String),
    Bytes(Bytes),
}

impl TopicEvent {
    /// JSON content → a JSON value; `text/*` and other UTF-8 non-binary content → text; else bytes.
    pub fn decoded_data(&self) -> EventData {
        let ct = &self.data_content_type;
        if (content_type::is_json(ct) || content_type::is_cloudevent_json(ct))
            && let Ok(v) = serde_json::from_slice(&self.data)
        {
            return EventData::Json(v);
        }
        if (content_type::data_encoding(ct) == content_type::DataEncoding::Text || content_type::is_json(ct))
            && let Ok(s) = std::str::from_utf8(&self.data)
        {
            return EventData::Text(s.to_owned());
        }
        EventData::Bytes(self.data.clone())
    }

    /// The payload parsed as JSON, whatever the content type says.
    pub fn data_json(&self) -> serde_json::Result<Json> {
        serde_json::from_slice(&self.data)
    }
}

impl From<TopicEventRequest> for TopicEvent {
    fn from(req: TopicEventRequest) -> Self {
        Self {
            id: req.id,
            source: req.source,
            event_type: req.r#type,
            spec_version: req.spec_version,
            data_content_type: req.data_content_type,
            data: req.data,
            topic: req.topic,
            pubsub_name: req.pubsub_name,
            path: req.path,
            extensions: req.extensions.as_ref().map(struct_to_json_map).unwrap_or_default(),
            metadata: HashMap::new(),
            entry_id: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ct: &str, data: &[u8]) -> TopicEvent {
        TopicEvent { data_content_type: ct.into(), data: Bytes::copy_from_slice(data), ..Default::default() }
    }

    #[test]
    fn data_is_decoded_by_content_type() {
        assert_eq!(event("application/json", b"{\"a\":1}").decoded_data(), EventData::Json(serde_json::json!({"a": 1})));
        assert_eq!(event("text/plain", b"hi").decoded_data(), EventData::Text("hi".into()));
        assert_eq!(event("application/octet-stream", b"hi").decoded_data(), EventData::Bytes(Bytes::from_static(b"hi")));
        assert_eq!(event("application/json", b"{bad").decoded_data(), EventData::Text("{bad".into()));
    }
}

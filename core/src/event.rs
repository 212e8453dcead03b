//! [`TopicEvent`]: a delivered event, one shape whichever way it arrived, and its payload decoded
//! by content type once here, for every binding.

use bytes::Bytes;
use dapr_rs_proto::content_type;
use dapr_rs_proto::runtime::TopicEventRequest;
use dapr_rs_proto::struct_json::struct_to_json_map;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;

/// One delivered event: the CloudEvent attributes and its payload, whichever way it arrived
/// (gRPC `OnTopicEvent`, HTTP POST, or a streaming subscription).
///
/// A handler reads the payload as bytes ([`TopicEvent::data`]), as JSON
/// ([`TopicEvent::data_json`]) or by its content type ([`TopicEvent::decoded_data`]), and the
/// trace to continue with [`TopicEvent::trace_context`]:
///
/// ```
/// use dapr_rs_core::{EventData, TopicEvent};
///
/// let event = TopicEvent {
///     id: "5929aaac-a5e2-4ca1-859c-edfe73f11565".into(),
///     data_content_type: "application/json".into(),
///     data: r#"{"orderId":1}"#.into(),
///     topic: "orders".into(),
///     pubsub_name: "order_pub_sub".into(),
///     ..Default::default()
/// };
/// assert_eq!(event.data_json().unwrap()["orderId"], 1);
/// assert!(matches!(event.decoded_data(), EventData::Json(order) if order["orderId"] == 1));
/// assert_eq!(event.traceparent(), ""); // this one carries no trace
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicEvent {
    /// The CloudEvent `id`: what a streaming subscription answers the event under.
    pub id: String,
    /// The CloudEvent `source`: the publishing app's id, for events its sidecar wrapped.
    pub source: String,
    /// The CloudEvent `type` (`com.dapr.event.sent` for events the sidecar wrapped).
    pub event_type: String,
    /// The CloudEvent `specversion` (`1.0`).
    pub spec_version: String,
    /// The CloudEvent `datacontenttype`: the content type the payload was published with.
    pub data_content_type: String,
    /// The payload bytes (JSON text for JSON events, decoded bytes for `data_base64`).
    pub data: Bytes,
    /// The topic it was published to.
    pub topic: String,
    /// The pubsub component it came through.
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

/// The payload decoded by its content type ([`TopicEvent::decoded_data`]): what a binding hands
/// its language's handler (a dict, a string, bytes).
#[derive(Debug, Clone, PartialEq)]
pub enum EventData {
    /// `application/json` or `application/cloudevents+json` content that parses.
    Json(Json),
    /// UTF-8 content of any other type that is not binary (`text/*`, `application/xml`, none),
    /// or JSON that does not parse.
    Text(String),
    /// Binary content (`application/octet-stream`, protobuf), or text that is not UTF-8.
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

//! The delivery side: what a subscriber is handed for a stored CloudEvent (or a raw payload), as
//! a `TopicEventRequest` or its bulk form, and whether it has expired.

use super::{DEFAULT_SOURCE, DEFAULT_TYPE, SPEC_VERSION};
use crate::content_type;
use crate::runtime::{TopicEventCeRequest, TopicEventRequest};
use crate::struct_json::json_to_value;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::time::SystemTime;

/// Attributes that are not extensions when a CloudEvent becomes a `TopicEventRequest`.
const CORE_ATTRIBUTES: [&str; 7] = ["id", "source", "type", "specversion", "datacontenttype", "data", "data_base64"];

/// The CloudEvent daprd synthesises for a `rawPayload` subscription.
pub fn raw_envelope(pubsub_name: &str, topic: &str, raw: &[u8], broker_metadata: &HashMap<String, String>) -> Map<String, Json> {
    let mut ce = Map::new();
    ce.insert("id".into(), uuid::Uuid::new_v4().to_string().into());
    ce.insert("source".into(), DEFAULT_SOURCE.into());
    ce.insert("type".into(), DEFAULT_TYPE.into());
    ce.insert("specversion".into(), SPEC_VERSION.into());
    ce.insert("datacontenttype".into(), content_type::OCTET_STREAM.into());
    ce.insert("data_base64".into(), BASE64.encode(raw).into());
    ce.insert("topic".into(), topic.into());
    ce.insert("pubsubname".into(), pubsub_name.into());
    for key in ["traceid", "traceparent", "tracestate"] {
        if let Some(v) = broker_metadata.get(key) {
            ce.insert(key.into(), v.as_str().into());
        }
    }
    ce
}

/// True when the event carries an `expiration` that has passed.
pub fn is_expired(ce: &Map<String, Json>, now: SystemTime) -> bool {
    ce.get("expiration").and_then(Json::as_str).and_then(|s| humantime::parse_rfc3339_weak(s).ok()).is_some_and(|exp| exp <= now)
}

fn attr<'a>(ce: &'a Map<String, Json>, key: &str) -> &'a str {
    ce.get(key).and_then(Json::as_str).unwrap_or("")
}

/// The payload bytes of a CloudEvent: `data_base64` decoded, string data as its text, other JSON
/// re-serialised. (daprd leaves non-string data of a non-JSON type empty; we keep it, never losing data.)
pub fn data_bytes(ce: &Map<String, Json>) -> Vec<u8> {
    if let Some(b64) = ce.get("data_base64").and_then(Json::as_str) {
        return BASE64.decode(b64).unwrap_or_default();
    }
    let json_type = {
        let ct = attr(ce, "datacontenttype");
        content_type::is_json(ct) || content_type::is_cloudevent_json(ct)
    };
    match ce.get("data") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::String(s)) if !json_type => s.as_bytes().to_vec(),
        Some(other) => serde_json::to_vec(other).unwrap_or_default(),
    }
}

/// A stored CloudEvent as the gRPC `TopicEventRequest` an app receives.
pub fn to_topic_event_request(ce: &Map<String, Json>, pubsub_name: &str, topic: &str, path: &str) -> TopicEventRequest {
    let TopicEventCeRequest { id, source, r#type, spec_version, data_content_type, data, extensions } = to_topic_event_ce_request(ce);
    TopicEventRequest {
        id,
        source,
        r#type,
        spec_version,
        data_content_type,
        data: data.into(),
        topic: topic.into(),
        pubsub_name: pubsub_name.into(),
        path: path.into(),
        extensions,
    }
}

/// A stored CloudEvent as one entry of a gRPC bulk delivery (`TopicEventBulkRequestEntry.cloud_event`):
/// built as [`to_topic_event_request`] builds its event, without the topic, pubsub and path.
pub fn to_topic_event_ce_request(ce: &Map<String, Json>) -> TopicEventCeRequest {
    // Straight into the Struct: a Map of clones first cost a second deep copy per delivery.
    let extensions = prost_types::Struct {
        fields: ce.iter().filter(|(k, _)| !CORE_ATTRIBUTES.contains(&k.as_str())).map(|(k, v)| (k.clone(), json_to_value(v))).collect(),
    };
    TopicEventCeRequest {
        id: attr(ce, "id").into(),
        source: attr(ce, "source").into(),
        r#type: attr(ce, "type").into(),
        spec_version: attr(ce, "specversion").into(),
        data_content_type: attr(ce, "datacontenttype").into(),
        data: data_bytes(ce),
        extensions: Some(extensions),
    }
}

//! Bulk delivery over HTTP (contract §3.4): the JSON envelope the sidecar POSTs with a batch of
//! events, and the `statuses` reply the app answers with. The reply's meaning is in
//! [`crate::outcome::BulkOutcome`].

use crate::cloudevent;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;

/// The body of an HTTP bulk delivery (`Content-Type: application/json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkEnvelope {
    pub id: String,
    /// Always [`crate::cloudevent::BULK_EVENT_TYPE`].
    #[serde(rename = "type")]
    pub event_type: String,
    pub topic: String,
    pub pubsubname: String,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
    pub entries: Vec<BulkEnvelopeEntry>,
}

/// One event of a bulk delivery; one broker message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkEnvelopeEntry {
    #[serde(rename = "entryId")]
    pub entry_id: String,
    /// The CloudEvent as a JSON object; for `rawPayload` subscriptions the payload as standard base64.
    pub event: Json,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
    #[serde(rename = "contentType", default)]
    pub content_type: String,
}

impl BulkEnvelopeEntry {
    /// The entry's CloudEvent: the object itself, or for a `rawPayload` entry the envelope a single
    /// delivery would synthesise around the decoded bytes. `None` when the event is neither.
    pub fn cloud_event(&self, pubsub_name: &str, topic: &str) -> Option<Map<String, Json>> {
        match &self.event {
            Json::Object(ce) => Some(ce.clone()),
            Json::String(b64) => {
                let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
                Some(cloudevent::raw_envelope(pubsub_name, topic, &raw, &self.metadata))
            }
            _ => None,
        }
    }
}

/// The app's reply to a bulk delivery: `{"statuses": [{"entryId": "...", "status": "SUCCESS"}]}`.
/// (Dapr's docs show `statuses` as an object; daprd requires an array.)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkReply {
    #[serde(default)]
    pub statuses: Vec<BulkReplyEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkReplyEntry {
    #[serde(rename = "entryId", default)]
    pub entry_id: String,
    /// `SUCCESS`, `RETRY` or `DROP`; empty means RETRY.
    #[serde(default)]
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_round_trips_with_dapr_key_names() {
        let body = json!({
            "id": "b1", "type": cloudevent::BULK_EVENT_TYPE, "topic": "orders", "pubsubname": "ps",
            "metadata": {"pubsubName": "ps"},
            "entries": [
                {"entryId": "1", "event": {"id": "e1", "data": {"a": 1}}, "metadata": {"k": "v"}, "contentType": "application/cloudevents+json"},
                {"entryId": "2", "event": "AP8=", "contentType": "application/octet-stream"}
            ]
        });
        let envelope: BulkEnvelope = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(serde_json::to_value(&envelope).unwrap()["entries"][0]["entryId"], "1");
        assert_eq!(envelope.entries[0].cloud_event("ps", "orders").unwrap()["id"], "e1");
        let raw = envelope.entries[1].cloud_event("ps", "orders").unwrap();
        assert_eq!((raw["data_base64"].as_str(), raw["topic"].as_str()), (Some("AP8="), Some("orders")));
        let reply: BulkReply = serde_json::from_str(r#"{"statuses":[{"entryId":"1","status":"DROP"},{"entryId":"2"}]}"#).unwrap();
        assert_eq!(reply.statuses[1], BulkReplyEntry { entry_id: "2".into(), status: String::new() });
    }
}

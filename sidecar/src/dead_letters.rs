//! The last messages this sidecar forwarded to a dead-letter topic, kept for `dapr-rs dashboard`:
//! a bounded ring, served at `GET /v1.0-alpha1/dapr-rs/deadletters` (an endpoint of dapr-rs' own,
//! so nothing an official SDK parses changes).

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// How many dead-lettered messages are kept; older ones are forgotten.
pub const KEPT: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLettered {
    pub time_unix_ms: u64,
    pub pubsub_name: String,
    pub topic: String,
    pub dead_letter_topic: String,
    /// The CloudEvent's `id`; empty when the message is not a CloudEvent (rawPayload, unparsable).
    pub event_id: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct DeadLetterLog {
    ring: Mutex<VecDeque<DeadLettered>>,
}

impl DeadLetterLog {
    /// Notes a message `data` forwarded from `topic` to `dead_letter_topic`, and why.
    pub fn record(&self, pubsub_name: &str, topic: &str, dead_letter_topic: &str, data: &[u8], reason: &str) {
        let entry = DeadLettered {
            time_unix_ms: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
            pubsub_name: pubsub_name.into(),
            topic: topic.into(),
            dead_letter_topic: dead_letter_topic.into(),
            event_id: event_id(data),
            reason: reason.into(),
        };
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() == KEPT {
            ring.pop_front();
        }
        ring.push_back(entry);
    }

    /// What is kept, newest first.
    pub fn recent(&self) -> Vec<DeadLettered> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner()).iter().rev().cloned().collect()
    }
}

/// The `id` of a CloudEvent's JSON, read without parsing the rest into values.
fn event_id(data: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Id {
        id: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Id>(data).ok().and_then(|e| e.id) {
        Some(serde_json::Value::String(id)) => id,
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_ones_newest_first_with_their_event_ids() {
        let log = DeadLetterLog::default();
        for n in 0..KEPT + 5 {
            let data = format!(r#"{{"specversion":"1.0","id":"e{n}","data":{{"deep":[1,2]}}}}"#);
            log.record("ps", "orders", "orders-dead", data.as_bytes(), "the app answered DROP");
        }
        let recent = log.recent();
        assert_eq!(recent.len(), KEPT);
        assert_eq!(recent[0].event_id, format!("e{}", KEPT + 4));
        assert_eq!(recent[KEPT - 1].event_id, "e5");
        assert_eq!((recent[0].topic.as_str(), recent[0].dead_letter_topic.as_str()), ("orders", "orders-dead"));

        log.record("ps", "raw", "raw-dead", b"not json", "the message is not a CloudEvent");
        log.record("ps", "num", "num-dead", br#"{"id":42}"#, "expired");
        let recent = log.recent();
        assert_eq!((recent[0].event_id.as_str(), recent[1].event_id.as_str()), ("42", ""));
        let json = serde_json::to_value(&recent[0]).unwrap();
        assert!(json["timeUnixMs"].as_u64().unwrap() > 0 && json["deadLetterTopic"] == "num-dead" && json["pubsubName"] == "ps", "{json}");
    }
}

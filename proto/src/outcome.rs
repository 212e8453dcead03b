//! What an app's reply to a delivery means (contract §1.3 and §3.4): the one mapping from gRPC and
//! HTTP replies, and from a handler's result, to ack / retry / drop.

use crate::bulk::BulkReply;
use crate::runtime::TopicEventBulkResponseEntry;
use crate::runtime::topic_event_response::TopicEventResponseStatus;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryOutcome {
    Success,
    Retry,
    Drop,
}

impl DeliveryOutcome {
    /// The gRPC enum value sent in `TopicEventResponse.status`.
    pub fn to_status(self) -> TopicEventResponseStatus {
        match self {
            Self::Success => TopicEventResponseStatus::Success,
            Self::Retry => TopicEventResponseStatus::Retry,
            Self::Drop => TopicEventResponseStatus::Drop,
        }
    }

    /// An unknown enum value is a retry.
    pub fn from_status_value(value: i32) -> Self {
        Self::try_from_status_value(value).unwrap_or(Self::Retry)
    }

    /// The outcome a `TopicEventResponse.status` value names; `None` for a value the enum lacks.
    pub fn try_from_status_value(value: i32) -> Option<Self> {
        match TopicEventResponseStatus::try_from(value).ok()? {
            TopicEventResponseStatus::Success => Some(Self::Success),
            TopicEventResponseStatus::Retry => Some(Self::Retry),
            TopicEventResponseStatus::Drop => Some(Self::Drop),
        }
    }

    /// A gRPC error from OnTopicEvent: Unimplemented drops, anything else retries.
    pub fn from_grpc_error(code: tonic::Code) -> Self {
        if code == tonic::Code::Unimplemented { Self::Drop } else { Self::Retry }
    }

    /// An HTTP reply to a single-event delivery.
    pub fn from_http_reply(status: u16, body: &[u8]) -> Self {
        match status {
            200..=299 => match serde_json::from_slice::<serde_json::Value>(body) {
                Ok(serde_json::Value::Object(map)) => match map.get("status") {
                    None | Some(serde_json::Value::Null) => Self::Success,
                    Some(serde_json::Value::String(s)) => Self::from_http_status_word(s),
                    Some(_) => Self::Retry,
                },
                _ => Self::Success,
            },
            404 => Self::Drop,
            _ => Self::Retry,
        }
    }

    /// `SUCCESS` / `RETRY` / `DROP` as an HTTP app writes them; anything else (including empty) is a retry.
    pub fn from_http_status_word(word: &str) -> Self {
        match word.to_ascii_uppercase().as_str() {
            "SUCCESS" => Self::Success,
            "DROP" => Self::Drop,
            _ => Self::Retry,
        }
    }

    /// `SUCCESS` / `RETRY` / `DROP` (any case) as an app's own code names them; unlike a reply
    /// the sidecar reads, anything else is the app's mistake and gives `None`.
    pub fn parse_status_word(word: &str) -> Option<Self> {
        let outcome = Self::from_http_status_word(word);
        outcome.as_http_status_word().eq_ignore_ascii_case(word).then_some(outcome)
    }

    pub fn as_http_status_word(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::Retry => "RETRY",
            Self::Drop => "DROP",
        }
    }
}

/// What an app answered to a bulk delivery: an outcome per entry, or one for the whole batch.
/// Unlike a single delivery, an entry the app left out (or answered with an empty status) is a RETRY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkOutcome {
    PerEntry(HashMap<String, DeliveryOutcome>),
    All(DeliveryOutcome),
}

impl BulkOutcome {
    /// The outcome of one entry of the batch.
    pub fn of(&self, entry_id: &str) -> DeliveryOutcome {
        match self {
            Self::PerEntry(map) => map.get(entry_id).copied().unwrap_or(DeliveryOutcome::Retry),
            Self::All(outcome) => *outcome,
        }
    }

    /// `TopicEventBulkResponse.statuses`; an unknown enum value is a retry.
    pub fn from_grpc_statuses(statuses: &[TopicEventBulkResponseEntry]) -> Self {
        Self::PerEntry(statuses.iter().map(|s| (s.entry_id.clone(), DeliveryOutcome::from_status_value(s.status))).collect())
    }

    /// An HTTP reply to a bulk delivery: 2xx with `statuses` per entry (an unparsable body retries
    /// them all), 404 drops them all, any other status retries them all.
    pub fn from_http_reply(status: u16, body: &[u8]) -> Self {
        match status {
            200..=299 => match serde_json::from_slice::<BulkReply>(body) {
                Ok(reply) => Self::PerEntry(
                    reply.statuses.into_iter().map(|s| (s.entry_id, DeliveryOutcome::from_http_status_word(&s.status))).collect(),
                ),
                Err(_) => Self::All(DeliveryOutcome::Retry),
            },
            404 => Self::All(DeliveryOutcome::Drop),
            _ => Self::All(DeliveryOutcome::Retry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{BulkOutcome, DeliveryOutcome as O};
    use crate::runtime::TopicEventBulkResponseEntry;

    #[test]
    fn http_replies_map_as_daprd_does() {
        assert_eq!(O::from_http_reply(200, b""), O::Success);
        assert_eq!(O::from_http_reply(204, b"not json"), O::Success);
        assert_eq!(O::from_http_reply(200, br#"{"other":1}"#), O::Success);
        assert_eq!(O::from_http_reply(200, br#"{"status":"SUCCESS"}"#), O::Success);
        assert_eq!(O::from_http_reply(200, br#"{"status":"RETRY"}"#), O::Retry);
        assert_eq!(O::from_http_reply(200, br#"{"status":"DROP"}"#), O::Drop);
        assert_eq!(O::from_http_reply(200, br#"{"status":"WHAT"}"#), O::Retry);
        assert_eq!(O::from_http_reply(404, b""), O::Drop);
        assert_eq!(O::from_http_reply(500, b""), O::Retry);
        assert_eq!(O::from_http_reply(400, b""), O::Retry);
    }

    #[test]
    fn an_apps_own_status_word_must_be_one_of_the_three() {
        assert_eq!(O::parse_status_word("success"), Some(O::Success));
        assert_eq!(O::parse_status_word("RETRY"), Some(O::Retry));
        assert_eq!(O::parse_status_word("Drop"), Some(O::Drop));
        assert_eq!(O::parse_status_word("DROPPED"), None);
        assert_eq!(O::parse_status_word(""), None);
    }

    #[test]
    fn grpc_replies_map_as_daprd_does() {
        assert_eq!(O::from_status_value(0), O::Success);
        assert_eq!(O::from_status_value(1), O::Retry);
        assert_eq!(O::from_status_value(2), O::Drop);
        assert_eq!(O::from_status_value(7), O::Retry);
        assert_eq!(O::try_from_status_value(7), None);
        assert_eq!(O::try_from_status_value(2), Some(O::Drop));
        assert_eq!(O::from_grpc_error(tonic::Code::Unimplemented), O::Drop);
        assert_eq!(O::from_grpc_error(tonic::Code::Internal), O::Retry);
    }

    #[test]
    fn bulk_replies_map_as_daprd_does() {
        let reply = BulkOutcome::from_http_reply(
            200,
            br#"{"statuses":[{"entryId":"a","status":"SUCCESS"},{"entryId":"b","status":"DROP"},{"entryId":"c","status":""},{"entryId":"d","status":"RETRY"}]}"#,
        );
        assert_eq!([reply.of("a"), reply.of("b"), reply.of("c"), reply.of("d")], [O::Success, O::Drop, O::Retry, O::Retry]);
        assert_eq!(reply.of("missing"), O::Retry);
        assert_eq!(BulkOutcome::from_http_reply(200, b"not json").of("a"), O::Retry);
        assert_eq!(BulkOutcome::from_http_reply(200, br#"{"statuses":{"a":"SUCCESS"}}"#).of("a"), O::Retry);
        assert_eq!(BulkOutcome::from_http_reply(404, b"").of("a"), O::Drop);
        assert_eq!(BulkOutcome::from_http_reply(500, br#"{"statuses":[{"entryId":"a","status":"SUCCESS"}]}"#).of("a"), O::Retry);
        let statuses = [
            TopicEventBulkResponseEntry { entry_id: "a".into(), status: 2 },
            TopicEventBulkResponseEntry { entry_id: "b".into(), status: 9 },
        ];
        let grpc = BulkOutcome::from_grpc_statuses(&statuses);
        assert_eq!([grpc.of("a"), grpc.of("b"), grpc.of("c")], [O::Drop, O::Retry, O::Retry]);
    }
}

//! The CloudEvent envelope as daprd writes and reads it (contract §4 and §8): the publish side
//! (`envelope`: wrapping a payload, or completing an app's own CloudEvent), the delivery side
//! (`delivered`: what a subscriber is handed), and the publish metadata both read.

mod delivered;
mod envelope;
mod json_writer;
#[cfg(test)]
mod tests;

pub use delivered::{
    Attribute, CloudEventAttributes, DeliveredEvent, data_bytes, is_expired, raw_envelope, to_topic_event_ce_request,
    to_topic_event_request,
};
pub use envelope::{EnvelopeContext, envelope, format_time};

use crate::go_value::{MAX_GO_DURATION, parse_go_bool, parse_go_duration};
use std::collections::HashMap;
use std::time::Duration;

pub const SPEC_VERSION: &str = "1.0";
pub const DEFAULT_TYPE: &str = "com.dapr.event.sent";
pub const DEFAULT_SOURCE: &str = "Dapr";
/// `type` of the envelope around a batch of events delivered in one bulk call.
pub const BULK_EVENT_TYPE: &str = "com.dapr.event.sent.bulk";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CloudEventError {
    #[error("the body of an application/cloudevents+json publish must be a JSON object: {0}")]
    NotAnObject(String),
    #[error("invalid publish metadata {key}={value:?}: {reason}")]
    Metadata { key: String, value: String, reason: String },
    #[error("a TTL of {} s expires after the year 9999, which an RFC 3339 expiration cannot say", .0.as_secs())]
    TtlTooLong(Duration),
}

/// The metadata key (publish or subscription) that sends and delivers payloads as they are,
/// without a CloudEvent.
pub const RAW_PAYLOAD: &str = "rawPayload";

/// Whether `metadata` (a publish's or a subscription's) asks for raw payloads: `rawPayload` as Go's
/// `strconv.ParseBool` reads it, matched case-insensitively as daprd does; a value that is no
/// boolean is an error naming it, on either side.
pub fn raw_payload(metadata: &HashMap<String, String>) -> Result<bool, CloudEventError> {
    match metadata.iter().find(|(k, _)| k.eq_ignore_ascii_case(RAW_PAYLOAD)) {
        None => Ok(false),
        Some((key, value)) => parse_go_bool(value).ok_or_else(|| CloudEventError::Metadata {
            key: key.clone(),
            value: value.clone(),
            reason: "expected a boolean".into(),
        }),
    }
}

/// Publish metadata keys that change the envelope, parsed once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishOptions {
    pub raw_payload: bool,
    pub ttl: Option<Duration>,
}

impl PublishOptions {
    pub fn from_metadata(metadata: &HashMap<String, String>) -> Result<Self, CloudEventError> {
        let mut opts = Self::default();
        for (key, value) in metadata {
            let bad = |reason: &str| CloudEventError::Metadata { key: key.clone(), value: value.clone(), reason: reason.into() };
            if key.eq_ignore_ascii_case(RAW_PAYLOAD) {
                opts.raw_payload = parse_go_bool(value).ok_or_else(|| bad("expected a boolean"))?;
            } else if key.eq_ignore_ascii_case("ttlInSeconds") || key.eq_ignore_ascii_case("ttl") {
                let ttl = parse_ttl(value).ok_or_else(|| {
                    bad("expected whole seconds > 0 or a duration such as 90s or 1h30m, at most Go's longest (about 292 years)")
                })?;
                opts.ttl = Some(ttl);
            }
        }
        Ok(opts)
    }
}

/// Whole seconds (> 0) or a Go duration (`1h30m`, `90s`, `500ms`), at most [`MAX_GO_DURATION`].
pub fn parse_ttl(s: &str) -> Option<Duration> {
    if let Ok(secs) = s.trim().parse::<i64>() {
        return (secs > 0).then(|| Duration::from_secs(secs as u64)).filter(|d| *d <= MAX_GO_DURATION);
    }
    parse_go_duration(s).filter(|d| !d.is_zero())
}

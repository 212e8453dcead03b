//! The publish side: the CloudEvent daprd writes to the broker for a payload, written straight to
//! bytes in Go's key order, or an app's own CloudEvent completed with what daprd fills in.

use super::json_writer::JsonObjectWriter;
use super::{CloudEventError, DEFAULT_SOURCE, DEFAULT_TYPE, SPEC_VERSION};
use crate::content_type::{self, DataEncoding};
use crate::trace_context::new_traceparent;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// What the publishing sidecar knows when it wraps a payload.
#[derive(Debug, Clone)]
pub struct EnvelopeContext<'a> {
    /// The publisher's app id (`source`).
    pub source: &'a str,
    pub pubsub_name: &'a str,
    pub topic: &'a str,
    /// W3C `traceparent` of the publish; generated when empty.
    pub traceparent: &'a str,
    pub tracestate: &'a str,
    pub now: SystemTime,
}

/// An envelope's bytes besides the payload and the strings a publish gives: names, quotes and
/// separators, the id, the time and the other fixed values, with room for a few overrides.
const ENVELOPE_FIXED_BYTES: usize = 384;

/// The last second an RFC 3339 timestamp can say (the end of the year 9999).
const LAST_WRITABLE_SECOND: u64 = 253_402_300_799;

/// `expiration` of an event published at `now` with `ttl`: `now + ttl`, which must be a time
/// [`format_time`] can write (adding to a `SystemTime` past its range, or formatting a time after
/// the year 9999, would panic).
fn expiration(now: SystemTime, ttl: Duration) -> Result<String, CloudEventError> {
    now.checked_add(ttl)
        .filter(|t| t.duration_since(SystemTime::UNIX_EPOCH).is_ok_and(|d| d.as_secs() <= LAST_WRITABLE_SECOND))
        .map(format_time)
        .ok_or(CloudEventError::TtlTooLong(ttl))
}

/// `time` / `expiration` format: RFC 3339, UTC, second precision.
pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Wraps a published payload in the CloudEvent daprd would write to the broker, as JSON bytes.
/// `metadata` is the publish metadata (for `cloudevent.*` overrides and TTL).
///
/// The usual case is written straight to bytes, keys sorted as Go's encoding/json writes a map,
/// JSON data embedded as the publisher sent it once validated: building a map of values and
/// serialising it was most of a publish's CPU in the sidecar.
pub fn envelope(
    ctx: &EnvelopeContext<'_>,
    data: &[u8],
    data_content_type: &str,
    metadata: &HashMap<String, String>,
    ttl: Option<Duration>,
) -> Result<Vec<u8>, CloudEventError> {
    let generated_traceparent;
    let traceparent = if ctx.traceparent.is_empty() {
        generated_traceparent = new_traceparent();
        generated_traceparent.as_str()
    } else {
        ctx.traceparent
    };
    if content_type::is_cloudevent_json(data_content_type) {
        let ce = complete_cloudevent(ctx, data, traceparent, ttl)?;
        return Ok(serde_json::to_vec(&ce).expect("a JSON map always serialises"));
    }
    let content_type = if data_content_type.is_empty() { content_type::TEXT_PLAIN } else { data_content_type };
    let over = |name: &str| override_value(metadata, name);
    let source = if ctx.source.is_empty() { DEFAULT_SOURCE } else { ctx.source };
    let trace = over("traceparent").or_else(|| over("traceid")).unwrap_or(traceparent);
    let mut id_buf = uuid::Uuid::encode_buffer();
    let id = match over("id") {
        Some(id) => id,
        None => uuid::Uuid::new_v4().hyphenated().encode_lower(&mut id_buf),
    };

    // Room for the whole envelope, so it is written without growing: the payload (base64 at
    // worst), the strings given, and the names and fixed values.
    let given = [ctx.pubsub_name, ctx.topic, source, trace, trace, ctx.tracestate, content_type].map(str::len).iter().sum::<usize>();
    let mut ce = JsonObjectWriter::with_capacity(data.len() * 4 / 3 + given + ENVELOPE_FIXED_BYTES);
    match content_type::data_encoding(content_type) {
        DataEncoding::Json if CheckedJson::is_embeddable(data) => ce.raw("data", data.trim_ascii()),
        DataEncoding::Json => ce.str("data", &String::from_utf8_lossy(data)),
        // Text that is not UTF-8 travels as base64 so no byte is lost.
        DataEncoding::Text => match std::str::from_utf8(data) {
            Ok(text) => ce.str("data", text),
            Err(_) => ce.base64("data_base64", data),
        },
        DataEncoding::Base64 => ce.base64("data_base64", data),
    }
    ce.str("datacontenttype", content_type);
    if let Some(ttl) = ttl {
        ce.str("expiration", &expiration(ctx.now, ttl)?);
    }
    ce.str("id", id);
    // daprd always owns `topic` and `pubsubname`, so a subscriber can trust them.
    ce.str("pubsubname", ctx.pubsub_name);
    ce.str("source", over("source").unwrap_or(source));
    ce.str("specversion", SPEC_VERSION);
    if let Some(subject) = over("subject") {
        ce.str("subject", subject);
    }
    ce.str("time", &format_time(ctx.now));
    ce.str("topic", ctx.topic);
    ce.str("traceid", trace);
    ce.str("traceparent", trace);
    ce.str("tracestate", over("tracestate").unwrap_or(ctx.tracestate));
    ce.str("type", over("type").unwrap_or(DEFAULT_TYPE));
    Ok(ce.finish())
}

/// An `application/cloudevents+json` publish: the app's own CloudEvent, completed with what daprd
/// fills in.
fn complete_cloudevent(
    ctx: &EnvelopeContext<'_>,
    data: &[u8],
    traceparent: &str,
    ttl: Option<Duration>,
) -> Result<Map<String, Json>, CloudEventError> {
    let mut ce = match serde_json::from_slice::<Json>(data) {
        Ok(Json::Object(map)) => map,
        Ok(_) => return Err(CloudEventError::NotAnObject("got another JSON value".into())),
        Err(e) => return Err(CloudEventError::NotAnObject(e.to_string())),
    };
    let defaults = [("source", DEFAULT_SOURCE), ("type", DEFAULT_TYPE), ("specversion", SPEC_VERSION)];
    for (key, value) in defaults {
        ce.entry(key).or_insert_with(|| Json::String(value.into()));
    }
    ce.entry("id").or_insert_with(|| Json::String(uuid::Uuid::new_v4().to_string()));
    if !ce.contains_key("traceid") {
        ce.insert("traceid".into(), traceparent.into());
        ce.insert("traceparent".into(), traceparent.into());
    }
    ce.insert("tracestate".into(), ctx.tracestate.into());
    ce.insert("time".into(), format_time(ctx.now).into());
    ce.insert("topic".into(), ctx.topic.into());
    ce.insert("pubsubname".into(), ctx.pubsub_name.into());
    if let Some(ttl) = ttl {
        ce.insert("expiration".into(), expiration(ctx.now, ttl)?.into());
    }
    Ok(ce)
}

/// Any JSON value that can be embedded in the envelope as it came, checked without building it.
/// serde's `IgnoredAny` skipped strings unread (so invalid UTF-8 and lone surrogate escapes
/// passed), and nesting must leave room for the envelope's own level under serde_json's limit of
/// 128, or no subscriber could read the event.
#[derive(Clone, Copy)]
struct CheckedJson {
    /// How many more arrays or objects may open.
    depth_left: u8,
}

impl CheckedJson {
    fn is_embeddable(data: &[u8]) -> bool {
        let mut de = serde_json::Deserializer::from_slice(data);
        serde::de::DeserializeSeed::deserialize(CheckedJson { depth_left: 126 }, &mut de).is_ok() && de.end().is_ok()
    }

    fn nested<E: serde::de::Error>(self) -> Result<Self, E> {
        match self.depth_left {
            0 => Err(E::custom("nested too deep for the envelope")),
            n => Ok(Self { depth_left: n - 1 }),
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for CheckedJson {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for CheckedJson {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    /// Strings reach here only once read whole: valid UTF-8, escapes decoded.
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.nested()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.nested()?;
        while map.next_entry_seed(inner, inner)?.is_some() {}
        Ok(())
    }
}

/// `cloudevent.<name>` publish metadata, matched case-insensitively.
fn override_value<'m>(metadata: &'m HashMap<String, String>, name: &str) -> Option<&'m str> {
    const PREFIX: &str = "cloudevent.";
    metadata.iter().find_map(|(k, v)| {
        let attr = k.get(PREFIX.len()..).filter(|_| k[..PREFIX.len()].eq_ignore_ascii_case(PREFIX))?;
        attr.eq_ignore_ascii_case(name).then_some(v.as_str())
    })
}

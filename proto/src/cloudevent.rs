//! The CloudEvent envelope as daprd writes and reads it (contract §4 and §8).

use crate::content_type::{self, DataEncoding};
use crate::go_value::{MAX_GO_DURATION, parse_go_bool, parse_go_duration};
use crate::runtime::{TopicEventCeRequest, TopicEventRequest};
use crate::struct_json::json_to_value;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

pub const SPEC_VERSION: &str = "1.0";
pub const DEFAULT_TYPE: &str = "com.dapr.event.sent";
pub const DEFAULT_SOURCE: &str = "Dapr";
/// `type` of the envelope around a batch of events delivered in one bulk call.
pub const BULK_EVENT_TYPE: &str = "com.dapr.event.sent.bulk";

/// Attributes that are not extensions when a CloudEvent becomes a `TopicEventRequest`.
const CORE_ATTRIBUTES: [&str; 7] = ["id", "source", "type", "specversion", "datacontenttype", "data", "data_base64"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CloudEventError {
    #[error("the body of an application/cloudevents+json publish must be a JSON object: {0}")]
    NotAnObject(String),
    #[error("invalid publish metadata {key}={value:?}: {reason}")]
    Metadata { key: String, value: String, reason: String },
    #[error("a TTL of {} s expires after the year 9999, which an RFC 3339 expiration cannot say", .0.as_secs())]
    TtlTooLong(Duration),
}

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

/// Whole seconds (> 0) or a Go duration (`1h30m`, `90s`, `500ms`), at most [`MAX_GO_DURATION`].
pub fn parse_ttl(s: &str) -> Option<Duration> {
    if let Ok(secs) = s.trim().parse::<i64>() {
        return (secs > 0).then(|| Duration::from_secs(secs as u64)).filter(|d| *d <= MAX_GO_DURATION);
    }
    parse_go_duration(s).filter(|d| !d.is_zero())
}

/// `time` / `expiration` format: RFC 3339, UTC, second precision.
pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A fresh W3C traceparent for a publish that arrived without one.
pub fn new_traceparent() -> String {
    let (trace, span) = (uuid::Uuid::new_v4().as_u128(), uuid::Uuid::new_v4().as_u64_pair().0);
    let mut out = String::with_capacity(55);
    out.push_str("00-");
    push_hex(&mut out, trace, 32);
    out.push('-');
    push_hex(&mut out, span as u128, 16);
    out.push_str("-00");
    out
}

/// The low `digits` hex digits of `value`, lowercase, most significant first.
fn push_hex(out: &mut String, value: u128, digits: u32) {
    for i in (0..digits).rev() {
        out.push(char::from(b"0123456789abcdef"[((value >> (4 * i)) & 0xf) as usize]));
    }
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

    let mut ce = JsonObjectWriter::with_capacity(data.len() * 4 / 3 + 400);
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

/// Writes one JSON object; the caller gives the keys in order.
struct JsonObjectWriter(Vec<u8>);

impl JsonObjectWriter {
    fn with_capacity(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity);
        buf.push(b'{');
        Self(buf)
    }

    fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(b',');
        }
        write_json_string(&mut self.0, key);
        self.0.push(b':');
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        write_json_string(&mut self.0, value);
    }

    /// `json` must be one valid JSON value.
    fn raw(&mut self, key: &str, json: &[u8]) {
        self.key(key);
        self.0.extend_from_slice(json);
    }

    fn base64(&mut self, key: &str, bytes: &[u8]) {
        self.key(key);
        self.0.push(b'"');
        let start = self.0.len();
        self.0.resize(start + base64::encoded_len(bytes.len(), true).expect("a payload's base64 length fits in usize"), 0);
        BASE64.encode_slice(bytes, &mut self.0[start..]).expect("the buffer has the encoded length");
        self.0.push(b'"');
    }

    fn finish(mut self) -> Vec<u8> {
        self.0.push(b'}');
        self.0
    }
}

/// A JSON string literal; bytes that need no escape (nearly all) are copied in runs.
fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[run..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
        }
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// `cloudevent.<name>` publish metadata, matched case-insensitively.
fn override_value<'m>(metadata: &'m HashMap<String, String>, name: &str) -> Option<&'m str> {
    const PREFIX: &str = "cloudevent.";
    metadata.iter().find_map(|(k, v)| {
        let attr = k.get(PREFIX.len()..).filter(|_| k[..PREFIX.len()].eq_ignore_ascii_case(PREFIX))?;
        attr.eq_ignore_ascii_case(name).then_some(v.as_str())
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> EnvelopeContext<'static> {
        EnvelopeContext {
            source: "orderprocessing",
            pubsub_name: "order_pub_sub",
            topic: "orders",
            traceparent: "",
            tracestate: "",
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        }
    }

    fn envelope_map(
        data: &[u8],
        content_type: &str,
        metadata: &HashMap<String, String>,
        ttl: Option<Duration>,
    ) -> Result<Map<String, Json>, CloudEventError> {
        let bytes = envelope(&ctx(), data, content_type, metadata, ttl)?;
        Ok(serde_json::from_slice(&bytes).expect("the envelope is a JSON object"))
    }

    #[test]
    fn writes_daprd_key_order_and_escapes_strings() {
        let ctx = EnvelopeContext { topic: "a\"b", traceparent: "00-t-s-00", ..ctx() };
        let md = HashMap::from([("cloudevent.id".to_string(), "id-1".to_string())]);
        let bytes = envelope(&ctx, b" {\"b\":1,\"a\":[true]}\n", "application/json", &md, Some(Duration::from_secs(1))).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            concat!(
                r#"{"data":{"b":1,"a":[true]},"datacontenttype":"application/json","expiration":"2023-11-14T22:13:21Z","id":"id-1","#,
                r#""pubsubname":"order_pub_sub","source":"orderprocessing","specversion":"1.0","time":"2023-11-14T22:13:20Z","#,
                r#""topic":"a\"b","traceid":"00-t-s-00","traceparent":"00-t-s-00","tracestate":"","type":"com.dapr.event.sent"}"#
            )
        );
        let generated = envelope_map(b"x", "", &HashMap::new(), None).unwrap();
        let traceparent = generated["traceparent"].as_str().unwrap();
        assert!(traceparent.len() == 55 && traceparent.starts_with("00-") && traceparent.ends_with("-00"), "{traceparent}");
        assert_eq!(generated["id"].as_str().unwrap().len(), 36);
    }

    #[test]
    fn json_strings_round_trip() {
        for s in ["", "plain", "q\"uote", "back\\slash", "nl\ncr\rtab\t", "\u{0}\u{1f}\u{7f}", "émoji 🎉", "end\\"] {
            let mut out = Vec::new();
            write_json_string(&mut out, s);
            assert_eq!(serde_json::from_slice::<String>(&out).unwrap(), s, "{}", String::from_utf8_lossy(&out));
        }
    }

    #[test]
    fn wraps_json_as_a_value() {
        let ce = envelope_map(b"{\"orderId\": 12345678901234567890}", "application/json", &HashMap::new(), None).unwrap();
        assert_eq!(ce["source"], "orderprocessing");
        assert_eq!(ce["type"], DEFAULT_TYPE);
        assert_eq!(ce["specversion"], "1.0");
        assert_eq!(ce["topic"], "orders");
        assert_eq!(ce["pubsubname"], "order_pub_sub");
        assert_eq!(ce["time"], "2023-11-14T22:13:20Z");
        assert_eq!(ce["traceid"], ce["traceparent"]);
        assert_eq!(serde_json::to_string(&ce["data"]).unwrap(), "{\"orderId\":12345678901234567890}");
        assert_eq!(data_bytes(&ce), b"{\"orderId\":12345678901234567890}");
    }

    #[test]
    fn text_binary_and_invalid_json() {
        let ce = envelope_map(b"hello", "", &HashMap::new(), None).unwrap();
        assert_eq!(ce["datacontenttype"], "text/plain");
        assert_eq!(ce["data"], "hello");
        let ce = envelope_map(&[0, 159, 146, 150], "application/octet-stream", &HashMap::new(), None).unwrap();
        assert_eq!(ce["data_base64"], "AJ+Slg==");
        assert!(!ce.contains_key("data"));
        assert_eq!(data_bytes(&ce), vec![0, 159, 146, 150]);
        let ce = envelope_map(b"{oops", "application/json", &HashMap::new(), None).unwrap();
        assert_eq!(ce["data"], "{oops");
    }

    #[test]
    fn overrides_and_ttl() {
        let md: HashMap<String, String> = [("CloudEvent.Id", "my-id"), ("cloudevent.type", "my.type"), ("cloudevent.subject", "s")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let ce = envelope_map(b"x", "text/plain", &md, Some(Duration::from_secs(60))).unwrap();
        assert_eq!(ce["id"], "my-id");
        assert_eq!(ce["type"], "my.type");
        assert_eq!(ce["subject"], "s");
        assert_eq!(ce["expiration"], "2023-11-14T22:14:20Z");
        assert!(!is_expired(&ce, ctx().now));
        assert!(is_expired(&ce, ctx().now + Duration::from_secs(61)));
    }

    /// Found by the `cloudevent` fuzz target: JSON data with invalid UTF-8 (minimal input
    /// `{"oId\xaa": 1}`) or a lone surrogate in a string was embedded as it came, so the envelope was
    /// not JSON any more; and JSON nested 127 deep made an envelope no subscriber can read.
    #[test]
    fn json_data_with_bad_strings_is_carried_as_text() {
        for data in [&b"{\"oId\xaa\": 1}"[..], br#"["\ud800"]"#, b"\"\xff\""] {
            let bytes = envelope(&ctx(), data, "application/json", &HashMap::new(), None).unwrap();
            let ce: Map<String, Json> = serde_json::from_slice(&bytes).expect("the envelope is JSON");
            assert!(ce["data"].is_string(), "{ce:?}");
        }
        // JSON nested as deep as serde_json reads it alone (127 levels) is one level too deep for
        // the envelope, so it too travels as text; one level less is embedded.
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        for (depth, embedded) in [(126, true), (127, false)] {
            let bytes = envelope(&ctx(), nested(depth).as_bytes(), "application/json", &HashMap::new(), None).unwrap();
            let ce: Map<String, Json> = serde_json::from_slice(&bytes).expect("the envelope is JSON");
            assert_eq!(ce["data"].is_array(), embedded, "depth {depth}");
        }
    }

    /// Found while writing the `cloudevent` fuzz target (which now checks `expiration`):
    /// `ttlInSeconds=300000000000` (9500 years) panicked in the publishing sidecar, formatting an
    /// expiration after the year 9999 (and a larger one overflowed `SystemTime`).
    #[test]
    fn a_ttl_past_the_year_9999_is_refused_not_a_panic() {
        let md = |v: &str| HashMap::from([("ttlInSeconds".to_string(), v.to_string())]);
        for too_long in ["300000000000", "9223372036854775807"] {
            let err = PublishOptions::from_metadata(&md(too_long)).unwrap_err();
            assert!(err.to_string().contains("ttlInSeconds"), "{err}");
        }
        // The longest TTL the metadata takes still makes an envelope, and longer ones given directly are refused.
        let ttl = PublishOptions::from_metadata(&md("9223372036")).unwrap().ttl;
        assert_eq!(envelope_map(b"x", "", &HashMap::new(), ttl).unwrap()["expiration"], "2316-02-24T22:00:36Z");
        for ttl in [Duration::from_secs(300_000_000_000), Duration::MAX] {
            for content_type in ["text/plain", "application/cloudevents+json"] {
                let err = envelope_map(b"{}", content_type, &HashMap::new(), Some(ttl)).unwrap_err();
                assert_eq!(err, CloudEventError::TtlTooLong(ttl));
            }
        }
    }

    #[test]
    fn cloudevent_passthrough_fills_in_what_daprd_fills_in() {
        let body = br#"{"id":"abc","source":"me","data":{"a":1},"datacontenttype":"application/json","topic":"wrong"}"#;
        let ce = envelope_map(body, "application/cloudevents+json", &HashMap::new(), None).unwrap();
        assert_eq!(ce["id"], "abc");
        assert_eq!(ce["source"], "me");
        assert_eq!(ce["type"], DEFAULT_TYPE);
        assert_eq!(ce["topic"], "orders");
        assert!(ce.contains_key("traceparent"));
        assert!(matches!(
            envelope_map(b"[1]", "application/cloudevents+json", &HashMap::new(), None),
            Err(CloudEventError::NotAnObject(_))
        ));
    }

    #[test]
    fn publish_options_parse_or_name_the_bad_key() {
        let md = |k: &str, v: &str| HashMap::from([(k.to_string(), v.to_string())]);
        assert!(PublishOptions::from_metadata(&md("rawPayload", "true")).unwrap().raw_payload);
        assert_eq!(PublishOptions::from_metadata(&md("ttlInSeconds", "120")).unwrap().ttl, Some(Duration::from_secs(120)));
        assert_eq!(PublishOptions::from_metadata(&md("ttl", "1h30m")).unwrap().ttl, Some(Duration::from_secs(5400)));
        let err = PublishOptions::from_metadata(&md("rawPayload", "maybe")).unwrap_err();
        assert!(err.to_string().contains("rawPayload"));
        assert!(PublishOptions::from_metadata(&md("ttlInSeconds", "0")).is_err());
        // Past Go's duration range `now + ttl` would overflow (a panic): refused instead.
        for huge in ["9223372036854775807", "9223372037", "3000000h", "99999999999999999999"] {
            assert!(PublishOptions::from_metadata(&md("ttlInSeconds", huge)).is_err(), "{huge}");
        }
        assert!(PublishOptions::from_metadata(&md("ttlInSeconds", "9223372036")).is_ok());
    }

    #[test]
    fn topic_event_request_carries_extensions() {
        let ce = envelope_map(b"42", "application/json", &HashMap::new(), None).unwrap();
        let req = to_topic_event_request(&ce, "order_pub_sub", "orders", "/orders");
        assert_eq!(req.data.as_ref(), b"42");
        assert_eq!(req.source, "orderprocessing");
        assert_eq!(req.path, "/orders");
        let ext = req.extensions.unwrap();
        assert!(ext.fields.contains_key("traceparent"));
        assert!(ext.fields.contains_key("topic"));
        assert!(!ext.fields.contains_key("data"));
    }
}

//! The delivery side: what a subscriber is handed for a stored CloudEvent (or a raw payload), as
//! a `TopicEventRequest` or its bulk form, and whether it has expired. The rules read an event
//! through [`CloudEventAttributes`]: a parsed JSON object (an app server's delivery), or the
//! sidecar's [`DeliveredEvent`], the broker's bytes read once without copying them.

use super::{DEFAULT_SOURCE, DEFAULT_TYPE, SPEC_VERSION};
use crate::content_type;
use crate::runtime::{TopicEventCeRequest, TopicEventRequest};
use crate::struct_json::json_to_value;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::ops::Range;
use std::time::SystemTime;

/// Attributes that are not extensions when a CloudEvent becomes a `TopicEventRequest`.
const CORE_ATTRIBUTES: [&str; 7] = ["id", "source", "type", "specversion", "datacontenttype", "data", "data_base64"];

/// One attribute's value: a string's text, or any other JSON value.
#[derive(Debug, Clone, Copy)]
pub enum Attribute<'a> {
    Text(&'a str),
    Json(&'a Json),
}

impl<'a> Attribute<'a> {
    fn of(value: &'a Json) -> Self {
        match value {
            Json::String(s) => Self::Text(s),
            other => Self::Json(other),
        }
    }

    /// The text of a string attribute; `None` for any other value.
    pub fn as_str(self) -> Option<&'a str> {
        match self {
            Self::Text(s) => Some(s),
            Self::Json(_) => None,
        }
    }

    pub fn to_json(self) -> Json {
        match self {
            Self::Text(s) => Json::String(s.to_owned()),
            Self::Json(v) => v.clone(),
        }
    }
}

/// What the delivery rules read of a CloudEvent, however it was read.
pub trait CloudEventAttributes {
    /// The attribute `name`; of a name the object gives twice, the last (as a JSON map keeps it).
    fn attribute(&self, name: &str) -> Option<Attribute<'_>>;
    /// Every attribute; a name given twice comes twice, the one kept last.
    fn attributes(&self) -> impl Iterator<Item = (&str, Attribute<'_>)>;
}

impl CloudEventAttributes for Map<String, Json> {
    fn attribute(&self, name: &str) -> Option<Attribute<'_>> {
        self.get(name).map(Attribute::of)
    }
    fn attributes(&self) -> impl Iterator<Item = (&str, Attribute<'_>)> {
        self.iter().map(|(k, v)| (k.as_str(), Attribute::of(v)))
    }
}

/// A CloudEvent as the broker stored it, read once: names and string values stay spans of the
/// stored bytes, only other values (`data` objects, numbers) are parsed. Reading every event into
/// a `serde_json::Map` copied each name and value, and was about a fifth of a delivery's CPU.
/// It accepts exactly what a `Map` would (the same parser reads every value) and answers the same.
#[derive(Debug, Clone)]
pub struct DeliveredEvent {
    json: Bytes,
    attributes: Vec<(Text, Value)>,
}

#[derive(Debug, Clone)]
enum Text {
    /// Where in `json` the string is (it had no escapes).
    Span(Range<usize>),
    /// A string with escapes, decoded.
    Decoded(Box<str>),
}

#[derive(Debug, Clone)]
enum Value {
    Text(Text),
    Json(Json),
}

impl DeliveredEvent {
    /// Reads `json`, which must be one JSON object, as `serde_json` reads a `Map`.
    pub fn parse(json: impl Into<Bytes>) -> Result<Self, serde_json::Error> {
        let json = json.into();
        let base = json.as_ptr() as usize;
        let mut de = serde_json::Deserializer::from_slice(&json);
        let attributes = de.deserialize_map(ObjectVisitor { base })?;
        de.end()?;
        Ok(Self { json, attributes })
    }

    /// The bytes it was read from (an HTTP delivery's body).
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    /// The event as a JSON object (CEL routing, the HTTP bulk envelope).
    pub fn to_map(&self) -> Map<String, Json> {
        self.attributes().map(|(k, v)| (k.to_owned(), v.to_json())).collect()
    }

    fn text<'a>(&'a self, text: &'a Text) -> &'a str {
        match text {
            Text::Span(range) => std::str::from_utf8(&self.json[range.clone()]).expect("a span of a string serde_json read"),
            Text::Decoded(s) => s,
        }
    }

    fn is_name(&self, text: &Text, name: &str) -> bool {
        match text {
            Text::Span(range) => &self.json[range.clone()] == name.as_bytes(),
            Text::Decoded(s) => &**s == name,
        }
    }

    fn value<'a>(&'a self, value: &'a Value) -> Attribute<'a> {
        match value {
            Value::Text(t) => Attribute::Text(self.text(t)),
            Value::Json(v) => Attribute::Json(v),
        }
    }
}

impl CloudEventAttributes for DeliveredEvent {
    fn attribute(&self, name: &str) -> Option<Attribute<'_>> {
        self.attributes.iter().rev().find(|(k, _)| self.is_name(k, name)).map(|(_, v)| self.value(v))
    }
    fn attributes(&self) -> impl Iterator<Item = (&str, Attribute<'_>)> {
        self.attributes.iter().map(|(k, v)| (self.text(k), self.value(v)))
    }
}

/// Reads the top-level object: each name and value as it comes.
struct ObjectVisitor {
    base: usize,
}

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Vec<(Text, Value)>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a CloudEvent JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut attributes = Vec::with_capacity(16);
        while let Some(name) = map.next_key_seed(TextSeed { base: self.base })? {
            attributes.push((name, map.next_value_seed(ValueSeed { base: self.base })?));
        }
        Ok(attributes)
    }
}

fn span(base: usize, s: &str) -> Range<usize> {
    let start = s.as_ptr() as usize - base;
    start..start + s.len()
}

/// A name: a span when it borrows from the input, else decoded.
struct TextSeed {
    base: usize,
}

impl<'de> DeserializeSeed<'de> for TextSeed {
    type Value = Text;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Text, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for TextSeed {
    type Value = Text;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Text, E> {
        Ok(Text::Span(span(self.base, s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Text, E> {
        Ok(Text::Decoded(s.into()))
    }
}

/// A value: a string as [`TextSeed`] keeps it, anything else as `serde_json` parses it (on the
/// same deserializer, so nesting limits and validation are those of a whole-object read).
struct ValueSeed {
    base: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Value, E> {
        Ok(Value::Text(Text::Span(span(self.base, s))))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Text(Text::Decoded(s.into())))
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Json(Json::Bool(b)))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Json(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Json(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::Json(serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number)))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Json(Json::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        Json::deserialize(SeqAccessDeserializer::new(seq)).map(Value::Json)
    }
    /// Objects, and (arbitrary precision) numbers, which serde_json hands over as a map.
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        Json::deserialize(MapAccessDeserializer::new(map)).map(Value::Json)
    }
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
pub fn is_expired(ce: &impl CloudEventAttributes, now: SystemTime) -> bool {
    text(ce, "expiration").and_then(|s| humantime::parse_rfc3339_weak(s).ok()).is_some_and(|exp| exp <= now)
}

fn text<'a>(ce: &'a impl CloudEventAttributes, name: &str) -> Option<&'a str> {
    ce.attribute(name).and_then(Attribute::as_str)
}

fn attr<'a>(ce: &'a impl CloudEventAttributes, name: &str) -> &'a str {
    text(ce, name).unwrap_or("")
}

/// The payload bytes of a CloudEvent: `data_base64` decoded, string data as its text, other JSON
/// re-serialised. (daprd leaves non-string data of a non-JSON type empty; we keep it, never losing data.)
pub fn data_bytes(ce: &impl CloudEventAttributes) -> Vec<u8> {
    if let Some(b64) = text(ce, "data_base64") {
        return BASE64.decode(b64).unwrap_or_default();
    }
    let json_type = {
        let ct = attr(ce, "datacontenttype");
        content_type::is_json(ct) || content_type::is_cloudevent_json(ct)
    };
    match ce.attribute("data") {
        None | Some(Attribute::Json(Json::Null)) => Vec::new(),
        Some(Attribute::Text(s)) if !json_type => s.as_bytes().to_vec(),
        Some(Attribute::Text(s)) => serde_json::to_vec(s).unwrap_or_default(),
        Some(Attribute::Json(other)) => serde_json::to_vec(other).unwrap_or_default(),
    }
}

/// A stored CloudEvent as the gRPC `TopicEventRequest` an app receives.
pub fn to_topic_event_request(ce: &impl CloudEventAttributes, pubsub_name: &str, topic: &str, path: &str) -> TopicEventRequest {
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
pub fn to_topic_event_ce_request(ce: &impl CloudEventAttributes) -> TopicEventCeRequest {
    // Straight into the Struct (a name given twice: the last one stays, as in a JSON map).
    let extensions = prost_types::Struct {
        fields: ce
            .attributes()
            .filter(|(k, _)| !CORE_ATTRIBUTES.contains(k))
            .map(|(k, v)| {
                let value = match v {
                    Attribute::Text(s) => prost_types::Value { kind: Some(prost_types::value::Kind::StringValue(s.to_owned())) },
                    Attribute::Json(v) => json_to_value(v),
                };
                (k.to_owned(), value)
            })
            .collect(),
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

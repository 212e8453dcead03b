//! What an app hands to `publish`, and the content type it is sent with when the app names none.
//! Every binding classifies its language's values into a [`PublishPayload`]; the rule that maps
//! them to a content type lives here once.

use bytes::Bytes;
use dapr_rs_proto::content_type;
use serde::Deserialize;
use std::borrow::Cow;

/// A payload to publish, by what the app passed.
///
/// ```
/// use dapr_rs_core::PublishPayload;
///
/// let (data, content_type) = PublishPayload::json(r#"{"orderId":1}"#).into_data(None);
/// assert_eq!((&data[..], content_type.as_str()), (&br#"{"orderId":1}"#[..], "application/json"));
/// // The app's own content type wins.
/// let (_, content_type) = PublishPayload::Text("<order/>".into()).into_data(Some("application/xml".into()));
/// assert_eq!(content_type, "application/xml");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishPayload {
    /// Raw bytes (a Python `bytes`, a JS `Buffer`/`Uint8Array`): `application/octet-stream`.
    Bytes(Bytes),
    /// A string: `text/plain`.
    Text(String),
    /// Any other value, serialized as JSON text by the binding's language: `application/json`.
    Json(Bytes),
    /// JSON text of an object carrying CloudEvents' required attributes (`specversion`, `id`,
    /// `source`, `type`): `application/cloudevents+json`, which the sidecar passes through as the
    /// envelope instead of wrapping it.
    CloudEvent(Bytes),
}

/// CloudEvents 1.0's required context attributes, each a string; any other member is ignored.
#[derive(Deserialize)]
#[allow(dead_code)] // deserialized only to check that each is there, as a string
struct RequiredAttributes<'a> {
    #[serde(borrow)]
    specversion: Cow<'a, str>,
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    source: Cow<'a, str>,
    #[serde(borrow, rename = "type")]
    event_type: Cow<'a, str>,
}

impl PublishPayload {
    /// A value the binding serialized to JSON text: [`PublishPayload::CloudEvent`] when it is an
    /// object with the CloudEvents required attributes as strings, else [`PublishPayload::Json`].
    pub fn json(text: impl Into<Bytes>) -> Self {
        let text = text.into();
        // Only an object: serde would also read a struct from a JSON array.
        let is_object = text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if is_object && serde_json::from_slice::<RequiredAttributes<'_>>(&text).is_ok() { Self::CloudEvent(text) } else { Self::Json(text) }
    }

    /// The content type sent when the app names none.
    pub fn default_content_type(&self) -> &'static str {
        match self {
            Self::Bytes(_) => content_type::OCTET_STREAM,
            Self::Text(_) => content_type::TEXT_PLAIN,
            Self::Json(_) => content_type::JSON,
            Self::CloudEvent(_) => content_type::CLOUDEVENT_JSON,
        }
    }

    /// The bytes to send and their content type: `content_type` when the app named one (a
    /// non-empty string), else [`PublishPayload::default_content_type`].
    pub fn into_data(self, content_type: Option<String>) -> (Bytes, String) {
        let content_type = content_type.filter(|ct| !ct.is_empty()).unwrap_or_else(|| self.default_content_type().to_owned());
        let data = match self {
            Self::Bytes(b) | Self::Json(b) | Self::CloudEvent(b) => b,
            Self::Text(s) => Bytes::from(s),
        };
        (data, content_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content_type_of(p: PublishPayload) -> String {
        p.into_data(None).1
    }

    #[test]
    fn each_kind_of_value_has_its_default_content_type() {
        assert_eq!(content_type_of(PublishPayload::Bytes(Bytes::from_static(b"\x00"))), "application/octet-stream");
        assert_eq!(content_type_of(PublishPayload::Text("hi".into())), "text/plain");
        assert_eq!(content_type_of(PublishPayload::json(r#"{"orderId": 1}"#)), "application/json");
        assert_eq!(content_type_of(PublishPayload::json("42")), "application/json");
        let ce = r#" {"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":1}}"#;
        assert_eq!(PublishPayload::json(ce), PublishPayload::CloudEvent(Bytes::from_static(ce.as_bytes())));
        assert_eq!(content_type_of(PublishPayload::json(ce)), "application/cloudevents+json");
    }

    #[test]
    fn only_an_object_with_every_required_attribute_as_a_string_is_a_cloudevent() {
        for not_ce in [
            r#"{"specversion":"1.0","id":"1","source":"s"}"#,
            r#"{"specversion":1,"id":"1","source":"s","type":"t"}"#,
            r#"["1.0","1","s","t"]"#,
            r#""specversion""#,
            "{not json",
        ] {
            assert!(matches!(PublishPayload::json(not_ce), PublishPayload::Json(_)), "{not_ce}");
        }
    }

    #[test]
    fn a_content_type_the_app_names_wins() {
        let (data, ct) = PublishPayload::Text("<a/>".into()).into_data(Some("application/xml".into()));
        assert_eq!((data.as_ref(), ct.as_str()), (b"<a/>".as_ref(), "application/xml"));
        assert_eq!(PublishPayload::Text("x".into()).into_data(Some(String::new())).1, "text/plain");
    }
}

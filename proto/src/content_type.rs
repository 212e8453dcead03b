//! Content-type rules of Dapr's envelope (contract §4): media types compare case-insensitively and
//! parameters after `;` are ignored.

pub const JSON: &str = "application/json";
pub const CLOUDEVENT_JSON: &str = "application/cloudevents+json";
pub const OCTET_STREAM: &str = "application/octet-stream";
pub const TEXT_PLAIN: &str = "text/plain";

/// How a payload is carried inside a CloudEvent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataEncoding {
    /// `data` holds the parsed JSON value.
    Json,
    /// `data_base64` holds the bytes.
    Base64,
    /// `data` holds the bytes as a string.
    Text,
}

/// Lower-cased media type without parameters: `"Application/JSON; charset=utf-8"` → `"application/json"`.
pub fn media_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// Only `application/json` itself is JSON; `+json` suffix types are text (as daprd does).
pub fn is_json(content_type: &str) -> bool {
    media_type(content_type) == JSON
}

pub fn is_cloudevent_json(content_type: &str) -> bool {
    media_type(content_type) == CLOUDEVENT_JSON
}

/// Where a payload of this content type goes in the envelope.
pub fn data_encoding(content_type: &str) -> DataEncoding {
    match media_type(content_type).as_str() {
        JSON => DataEncoding::Json,
        OCTET_STREAM | "application/cloudevents+protobuf" | "application/x-protobuf" => DataEncoding::Base64,
        _ => DataEncoding::Text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_ignore_case_and_parameters() {
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(!is_json("application/vnd.foo+json"));
        assert!(is_cloudevent_json("application/cloudevents+json;charset=utf-8"));
        assert_eq!(data_encoding("application/octet-stream"), DataEncoding::Base64);
        assert_eq!(data_encoding("text/plain"), DataEncoding::Text);
        assert_eq!(data_encoding("application/xml"), DataEncoding::Text);
        assert_eq!(data_encoding(""), DataEncoding::Text);
    }
}

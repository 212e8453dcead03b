//! Every case of `tests/vectors/content_types.json`: a value becomes core's `PublishPayload` (as
//! the Python and Node bindings classify values; a Rust caller picks the variant), which picks the
//! content type and the bytes sent; the sidecar's envelope of those (proto's `cloudevent`), read
//! back as a `TopicEvent`, is what a subscriber receives.

use dapr_rs_core::proto::cloudevent::{self, EnvelopeContext};
use dapr_rs_core::{PublishPayload, TopicEvent};
use serde_json::{Map, Value as Json, json};
use std::collections::HashMap;
use std::time::SystemTime;

// Core has no base64 dependency: the envelope's `data_base64` is proto's base64, both ways.
fn from_base64(b64: &str) -> Vec<u8> {
    let ce: Map<String, Json> = json!({ "data_base64": b64 }).as_object().unwrap().clone();
    let bytes = cloudevent::data_bytes(&ce);
    assert!(!bytes.is_empty() || b64.is_empty(), "not base64: {b64}");
    bytes
}

fn to_base64(bytes: &[u8]) -> String {
    cloudevent::raw_envelope("", "", bytes, &HashMap::new())["data_base64"].as_str().unwrap().to_owned()
}

/// The payload a binding makes of `value`: a string is text, bytes are bytes, anything else JSON.
fn payload_of(value: &Json) -> PublishPayload {
    match value.get("json") {
        Some(Json::String(text)) => PublishPayload::Text(text.clone()),
        Some(json) => PublishPayload::json(serde_json::to_vec(json).unwrap()),
        None => PublishPayload::Bytes(from_base64(value["bytes"].as_str().expect("a value is json or bytes")).into()),
    }
}

/// `actual` against a data form: `utf8` and `base64` byte for byte, `json` as a value.
fn assert_data(actual: &[u8], expected: &Json, what: &str) {
    if let Some(json) = expected.get("json") {
        let parsed: Json = serde_json::from_slice(actual).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {actual:?}"));
        assert_eq!(&parsed, json, "{what}");
    } else if let Some(text) = expected.get("utf8").and_then(Json::as_str) {
        assert_eq!(actual, text.as_bytes(), "{what}: {:?}", String::from_utf8_lossy(actual));
    } else {
        assert_eq!(to_base64(actual), expected["base64"].as_str().expect("a data form is utf8, base64 or json"), "{what}");
    }
}

#[test]
fn every_value_gets_its_content_type_and_bytes_and_reaches_a_subscriber_as_the_vector_says() {
    let path = checkout_dir::checkout_dir().join("../tests/vectors/content_types.json");
    let vectors: Json = serde_json::from_str(&std::fs::read_to_string(path).expect("content_types.json")).expect("valid JSON");
    let cases = vectors["cases"].as_array().expect("cases");
    assert!(!cases.is_empty());
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let named_type = case.get("content_type").and_then(Json::as_str).map(str::to_owned);
        let (data, content_type) = payload_of(&case["value"]).into_data(named_type);

        let sent = &case["sent"];
        assert_eq!(content_type, sent["content_type"].as_str().unwrap(), "{name}: content type sent");
        assert_data(&data, &sent["data"], &format!("{name}: bytes sent"));

        let ctx = EnvelopeContext {
            source: "checkout",
            pubsub_name: "order_pub_sub",
            topic: "content-types",
            traceparent: "",
            tracestate: "",
            now: SystemTime::now(),
        };
        let envelope = cloudevent::envelope(&ctx, &data, &content_type, &HashMap::new(), None).expect("an envelope");
        let ce: serde_json::Map<String, Json> = serde_json::from_slice(&envelope).expect("the envelope is a JSON object");
        let event = TopicEvent::from(cloudevent::to_topic_event_request(&ce, "order_pub_sub", "content-types", ""));
        let delivered = case.get("delivered").unwrap_or(sent);
        assert_eq!(event.data_content_type, delivered["content_type"].as_str().unwrap(), "{name}: content type delivered");
        assert_data(&event.data, &delivered["data"], &format!("{name}: data delivered"));
        for (attribute, value) in delivered.get("attributes").and_then(Json::as_object).into_iter().flatten() {
            let actual = match attribute.as_str() {
                "id" => &event.id,
                "source" => &event.source,
                "type" => &event.event_type,
                "specversion" => &event.spec_version,
                other => panic!("{name}: a TopicEvent has no attribute {other}"),
            };
            assert_eq!(actual, value.as_str().unwrap(), "{name}: {attribute}");
        }
    }
}

#[path = "../../tests/checkout_dir.rs"]
mod checkout_dir;

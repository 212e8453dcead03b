//! proto's CloudEvent rules: the envelope the publishing sidecar builds for every content type
//! (including an app's own `application/cloudevents+json` body, which it parses), the publish
//! metadata it reads first, and the reading back of a stored event for delivery (the sidecar's
//! `DeliveredEvent` against a JSON map, on the envelope and on the raw body as if a broker held it).
#![no_main]

use dapr_rs_proto::cloudevent::{self, EnvelopeContext, PublishOptions};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// A publish, written so seeds read as one: the content type on the first line, the publish
/// metadata on the second (`key=value` pairs joined by `&`), the topic on the third, then the body.
struct Input<'a> {
    content_type: String,
    metadata: HashMap<String, String>,
    topic: String,
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn parse(bytes: &'a [u8]) -> Self {
        let mut lines = bytes.splitn(4, |b| *b == b'\n');
        let mut line = || String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
        let (content_type, metadata, topic) = (line(), line(), line());
        let metadata = metadata
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| kv.split_once('=').map_or((kv.to_owned(), String::new()), |(k, v)| (k.to_owned(), v.to_owned())))
            .collect();
        let data = bytes.splitn(4, |b| *b == b'\n').nth(3).unwrap_or_default();
        Self { content_type, metadata, topic, data }
    }
}

/// The sidecar's view of a stored event takes exactly what a JSON map takes, and delivers the same.
fn delivered_as_a_map(stored: &[u8]) {
    let map = match serde_json::from_slice::<Json>(stored) {
        Ok(Json::Object(map)) => Some(map),
        _ => None,
    };
    let view = cloudevent::DeliveredEvent::parse(stored.to_vec()).ok();
    assert_eq!(view.is_some(), map.is_some(), "the view and a map disagree on whether this is a CloudEvent");
    if let (Some(view), Some(map)) = (view, map) {
        assert_eq!(view.to_map(), map);
        // Compared as Debug text: a number past f64's range is NaN on both sides, and NaN != NaN.
        assert_eq!(
            format!("{:?}", cloudevent::to_topic_event_request(&view, "ps", "t", "/p")),
            format!("{:?}", cloudevent::to_topic_event_request(&map, "ps", "t", "/p"))
        );
    }
}

fuzz_target!(|bytes: &[u8]| {
    let input = Input::parse(bytes);
    delivered_as_a_map(input.data);
    let content_type = input.content_type.as_str();
    let metadata = &input.metadata;
    let Ok(opts) = PublishOptions::from_metadata(metadata) else { return };
    let ctx = EnvelopeContext {
        source: "checkout",
        pubsub_name: "order_pub_sub",
        topic: &input.topic,
        traceparent: "",
        tracestate: "",
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    };
    let bytes = match cloudevent::envelope(&ctx, input.data, content_type, metadata, opts.ttl) {
        Ok(bytes) => bytes,
        Err(_) => {
            // Only an app's own CloudEvent that is not a JSON object, or a TTL past what can be written, is refused.
            return;
        }
    };
    // Whatever went in, what comes out is a JSON object with the required attributes, and the
    // attributes daprd owns say what the publishing sidecar knew.
    let ce: Map<String, Json> = serde_json::from_slice(&bytes).expect("the envelope is a JSON object");
    let app_cloudevent = dapr_rs_proto::content_type::is_cloudevent_json(content_type);
    for required in ["id", "source", "type", "specversion"] {
        // An app's own CloudEvent keeps the values it gave (of any JSON type); ours are strings.
        let value = ce.get(required);
        assert!(value.is_some_and(|v| app_cloudevent || v.is_string()), "{required} missing: {ce:?}");
    }
    assert_eq!(ce["topic"], input.topic.as_str());
    assert_eq!(ce["pubsubname"], "order_pub_sub");
    assert_eq!(ce.contains_key("expiration"), opts.ttl.is_some());
    if opts.ttl.is_some() {
        assert!(cloudevent::is_expired(&ce, SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 40)));
    }
    if !app_cloudevent {
        // The payload survives the trip: bytes and text exactly, JSON as the same value.
        let back = cloudevent::data_bytes(&ce);
        match dapr_rs_proto::content_type::data_encoding(if content_type.is_empty() { "text/plain" } else { content_type }) {
            dapr_rs_proto::content_type::DataEncoding::Json => {
                // (JSON null is carried as no data at all.)
                if let Ok(sent) =
                    serde_json::from_slice::<Json>(input.data).map_err(drop).and_then(|v| if v.is_null() { Err(()) } else { Ok(v) })
                {
                    assert_eq!(serde_json::from_slice::<Json>(&back).ok(), Some(sent));
                }
            }
            _ => assert_eq!(back, input.data),
        }
    }
    // Delivery reads the stored event back.
    let request = cloudevent::to_topic_event_request(&ce, "order_pub_sub", &input.topic, "/route");
    delivered_as_a_map(&bytes);
    assert_eq!(request.id, ce["id"].as_str().unwrap_or_default());
    let raw = cloudevent::raw_envelope("order_pub_sub", &input.topic, input.data, metadata);
    assert_eq!(cloudevent::data_bytes(&raw), input.data);
});

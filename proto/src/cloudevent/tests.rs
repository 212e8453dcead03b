//! The envelope rules, publish side and delivery side.

use super::json_writer::write_json_string;
use super::*;
use serde_json::{Map, Value as Json};
use std::time::SystemTime;

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
    // Long ones too: the check for bytes to escape takes many at a time.
    let long = [
        "a".repeat(100),
        format!("{}\"{}", "a".repeat(70), "b".repeat(40)),
        format!("{}\u{1}", "c".repeat(63)),
        "é".repeat(40),
        format!("{}\\{}", "ü".repeat(9), "\u{7f}".repeat(9)),
    ];
    let short = ["", "plain", "q\"uote", "back\\slash", "nl\ncr\rtab\t", "\u{0}\u{1f}\u{7f}", "émoji 🎉", "end\\"];
    for s in short.into_iter().chain(long.iter().map(String::as_str)) {
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
    assert!(matches!(envelope_map(b"[1]", "application/cloudevents+json", &HashMap::new(), None), Err(CloudEventError::NotAnObject(_))));
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

/// The sidecar reads stored events as a [`DeliveredEvent`]: it must take exactly the inputs a JSON
/// map takes and answer every delivery rule as the map does.
#[test]
fn a_delivered_event_reads_as_a_json_map_reads() {
    let nested = |depth: usize| format!(r#"{{"id":"1","data":{}1{}}}"#, "[".repeat(depth), "]".repeat(depth));
    let inputs = [
        envelope(&ctx(), b"{\"b\": 1.50, \"a\": [true, null, \"x\"]}", "application/json", &HashMap::new(), Some(Duration::from_secs(60))).unwrap(),
        envelope(&ctx(), b"hello", "text/plain", &HashMap::new(), None).unwrap(),
        envelope(&ctx(), &[0, 159, 146, 150], "application/octet-stream", &HashMap::new(), None).unwrap(),
        br#" {"id":"dup","id":"last","data":"\"quoted\" \u00e9\n","datacontenttype":"application/json","ext\u0041":{"n":12345678901234567890},"num":-1.5e3,"t":true,"nil":null} "#.to_vec(),
        br#"{"data":"text","datacontenttype":"text/plain","traceparent":7,"expiration":"2000-01-01T00:00:00Z"}"#.to_vec(),
        br#"{"data":null,"specversion":"1.0"}"#.to_vec(),
        // Found by the `cloudevent` fuzz target: a number past f64's range is NaN in the Struct.
        br#"{"a":{"orderId":8888E8888888888888882},"n":-1e999}"#.to_vec(),
        br#"{}"#.to_vec(),
        nested(126).into_bytes(),
        // Not a CloudEvent: each must be refused, as a map refuses it.
        nested(127).into_bytes(),
        br#"[1]"#.to_vec(),
        br#""s""#.to_vec(),
        br#"{"id":"1"} x"#.to_vec(),
        br#"{"id":"\ud800"}"#.to_vec(),
        br#"{"data":["\udc00"]}"#.to_vec(),
        b"{\"id\":\"\xff\"}".to_vec(),
        br#"{"id":"1",}"#.to_vec(),
        br#"{"n":01}"#.to_vec(),
    ];
    let mut read = 0;
    for input in inputs {
        let shown = String::from_utf8_lossy(&input).into_owned();
        let map = match serde_json::from_slice::<Json>(&input) {
            Ok(Json::Object(map)) => Some(map),
            _ => None,
        };
        let view = DeliveredEvent::parse(input.clone()).ok();
        assert_eq!(view.is_some(), map.is_some(), "{shown}");
        let (Some(view), Some(map)) = (view, map) else { continue };
        read += 1;
        assert_eq!(view.json().as_ref(), &input[..]);
        assert_eq!(view.to_map(), map, "{shown}");
        // As Debug text: NaN (a number past f64's range) is not equal to itself.
        assert_eq!(
            format!("{:?}", to_topic_event_request(&view, "ps", "t", "/p")),
            format!("{:?}", to_topic_event_request(&map, "ps", "t", "/p")),
            "{shown}"
        );
        assert_eq!(data_bytes(&view), data_bytes(&map), "{shown}");
        let now = SystemTime::now();
        assert_eq!(is_expired(&view, now), is_expired(&map, now), "{shown}");
    }
    assert_eq!(read, 9, "the first nine inputs are CloudEvents, the rest are not");
}

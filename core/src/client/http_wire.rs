//! What the HTTP transport sends and reads (contract §3.1, §3.2): publish paths and their
//! `metadata.` query, the bulk publish body daprd reads, and its `failedEntries` answer.

use super::{BulkPublishEntry, BulkPublishFailure};
use crate::{Error, Result};
use base64::Engine as _;
use dapr_rs_proto::content_type;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value as Json;
use std::collections::HashMap;

/// Everything but RFC 3986's unreserved characters is escaped in a path segment or query part.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// A topic is the rest of the path (daprd routes `{topic...}`), so its `/` stay.
const TOPIC: &AsciiSet = &SEGMENT.remove(b'/');

/// `{prefix}/{pubsub}/{topic}?metadata.k=v&…`, names and metadata percent-encoded.
pub(super) fn publish_path(prefix: &str, pubsub_name: &str, topic: &str, metadata: &HashMap<String, String>) -> String {
    let mut path = format!("{prefix}/{}/{}", utf8_percent_encode(pubsub_name, SEGMENT), utf8_percent_encode(topic, TOPIC));
    // Sorted, so one publish always gives one URL (logs, tests).
    let mut metadata: Vec<_> = metadata.iter().collect();
    metadata.sort();
    for (i, (key, value)) in metadata.into_iter().enumerate() {
        let separator = if i == 0 { '?' } else { '&' };
        path.push_str(&format!("{separator}metadata.{}={}", utf8_percent_encode(key, SEGMENT), utf8_percent_encode(value, SEGMENT)));
    }
    path
}

/// The JSON array daprd's bulk publish reads: `[{"entryId", "event", "contentType", "metadata"}]`,
/// each `event` in the form daprd turns back into these same bytes (sidecar's `event_bytes`): JSON
/// as itself, `application/octet-stream` as base64, any other type as a string.
pub(super) fn bulk_body(entries: &[BulkPublishEntry]) -> Result<Vec<u8>> {
    let mut body = Vec::with_capacity(entries.iter().map(|e| e.event.len() + 64).sum());
    body.push(b'[');
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        let string = |s: &str| Json::String(s.to_owned()).to_string();
        body.extend_from_slice(format!("{{\"entryId\":{},\"event\":", string(&entry.entry_id)).as_bytes());
        write_event(&mut body, entry)?;
        let metadata = serde_json::to_string(&entry.metadata).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        body.extend_from_slice(format!(",\"contentType\":{},\"metadata\":{metadata}}}", string(&entry.content_type)).as_bytes());
    }
    body.push(b']');
    Ok(body)
}

fn write_event(body: &mut Vec<u8>, entry: &BulkPublishEntry) -> Result<()> {
    let content_type = entry.content_type.as_str();
    if content_type::media_type(content_type) == content_type::OCTET_STREAM {
        let encoded = base64::engine::general_purpose::STANDARD.encode(&entry.event);
        body.extend_from_slice(Json::String(encoded).to_string().as_bytes());
        return Ok(());
    }
    let is_json_type = content_type::is_json(content_type) || content_type::is_cloudevent_json(content_type);
    if is_json_type && serde_json::from_slice::<serde::de::IgnoredAny>(&entry.event).is_ok() {
        // The bytes themselves: the JSON the caller made, its number spelling and key order kept.
        body.extend_from_slice(&entry.event);
        return Ok(());
    }
    // Text (and JSON-typed text that is no JSON, as the official SDKs send a string: daprd's
    // CloudEvent then carries that same text, as it does for it over gRPC).
    let text = std::str::from_utf8(&entry.event).map_err(|_| {
        Error::InvalidArgument(format!(
            "bulk entry {:?}: a {content_type:?} event must be UTF-8 text over the HTTP API; send bytes as application/octet-stream",
            entry.entry_id
        ))
    })?;
    body.extend_from_slice(Json::String(text.to_owned()).to_string().as_bytes());
    Ok(())
}

/// The `failedEntries` of a bulk publish answer, `None` when it lists none.
pub(super) fn bulk_failures(body: &[u8]) -> Option<Vec<BulkPublishFailure>> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "failedEntries", default)]
        failed_entries: Vec<Failure>,
    }
    #[derive(serde::Deserialize)]
    struct Failure {
        #[serde(rename = "entryId", default)]
        entry_id: String,
        #[serde(default)]
        error: String,
    }
    let answer: Answer = serde_json::from_slice(body).ok()?;
    let failures: Vec<_> = answer.failed_entries.into_iter().map(|f| BulkPublishFailure { entry_id: f.entry_id, error: f.error }).collect();
    (!failures.is_empty()).then_some(failures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(id: &str, event: &[u8], content_type: &str) -> BulkPublishEntry {
        BulkPublishEntry { entry_id: id.into(), event: event.to_vec().into(), content_type: content_type.into(), metadata: HashMap::new() }
    }

    #[test]
    fn names_and_metadata_are_percent_encoded_and_a_topic_keeps_its_slashes() {
        let metadata = HashMap::from([("ttlInSeconds".to_owned(), "60".to_owned()), ("cloudevent.id".to_owned(), "a b&c=d/é".to_owned())]);
        assert_eq!(
            publish_path("/v1.0/publish", "my pubsub", "orders/eu?x#y", &metadata),
            "/v1.0/publish/my%20pubsub/orders/eu%3Fx%23y?metadata.cloudevent.id=a%20b%26c%3Dd%2F%C3%A9&metadata.ttlInSeconds=60"
        );
        assert_eq!(publish_path("/p", "ps/x", "t", &HashMap::new()), "/p/ps%2Fx/t");
    }

    #[test]
    fn bulk_events_take_the_form_daprd_turns_back_into_their_bytes() {
        let mut with_metadata = entry("4", b"<a/>", "application/xml");
        with_metadata.metadata.insert("k".into(), "v".into());
        let entries = [
            entry("1", br#"{"n": 12345678901234567890}"#, "application/json"),
            entry("2", &[0, 255], "application/octet-stream"),
            entry("3", "héllo".as_bytes(), "text/plain"),
            with_metadata,
            entry("5", b"not json", "application/json"),
            entry("6", br#"{"id":"x","source":"s","specversion":"1.0","type":"t"}"#, "application/cloudevents+json"),
        ];
        let body = bulk_body(&entries).unwrap();
        assert!(body.windows(br#""event":{"n": 12345678901234567890}"#.len()).any(|w| w == br#""event":{"n": 12345678901234567890}"#));
        let parsed: Json = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed[0]["entryId"], "1");
        assert_eq!(parsed[1]["event"], "AP8=");
        assert_eq!(parsed[2], json!({"entryId": "3", "event": "héllo", "contentType": "text/plain", "metadata": {}}));
        assert_eq!(parsed[3]["metadata"], json!({"k": "v"}));
        assert_eq!(parsed[4]["event"], "not json");
        assert_eq!(parsed[5]["event"]["source"], "s");
        let err = bulk_body(&[entry("7", &[0xff, 0xfe], "text/plain")]).unwrap_err();
        assert!(matches!(&err, Error::InvalidArgument(m) if m.contains("\"7\"") && m.contains("octet-stream")), "{err}");
        assert_eq!(bulk_body(&[]).unwrap(), b"[]");
    }

    #[test]
    fn failed_entries_are_read_from_the_answer() {
        let body = br#"{"failedEntries":[{"entryId":"2","error":"refused"}],"errorCode":"ERR_PUBSUB_PUBLISH_MESSAGE"}"#;
        assert_eq!(bulk_failures(body), Some(vec![BulkPublishFailure { entry_id: "2".into(), error: "refused".into() }]));
        assert_eq!(bulk_failures(br#"{"errorCode":"ERR_PUBSUB_NOT_FOUND","message":"m"}"#), None);
        assert_eq!(bulk_failures(br#"{"failedEntries":[]}"#), None);
        assert_eq!(bulk_failures(b""), None);
    }
}

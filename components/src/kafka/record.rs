//! What a Kafka record carries besides its value, as daprd maps it: publish metadata becomes the
//! record's headers (every key, `partitionKey` too), `partitionKey` (or `__key`) its key and
//! `partitionNumber` its partition; a delivered record's key, offset, topic, partition, timestamp
//! and headers become the message's metadata.

use crate::BrokerError;
use rdkafka::Message;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use regex::Regex;
use std::collections::HashMap;

pub(super) const PARTITION_KEY: &str = "partitionKey";
pub(super) const KEY: &str = "__key";
pub(super) const PARTITION_NUMBER: &str = "partitionNumber";

fn get<'m>(metadata: &'m HashMap<String, String>, key: &str) -> Option<&'m str> {
    metadata.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
}

/// Whether `excludeHeaderMetaRegex` keeps header `name` out of a record and out of a delivery's
/// metadata (it filters both ways, as components-contrib's).
fn excluded(exclude: Option<&Regex>, name: &str) -> bool {
    exclude.is_some_and(|re| re.is_match(name))
}

/// Every publish metadata entry as a header, but those `exclude` matches.
pub(super) fn headers(metadata: &HashMap<String, String>, exclude: Option<&Regex>) -> OwnedHeaders {
    metadata
        .iter()
        .filter(|(key, _)| !excluded(exclude, key))
        .fold(OwnedHeaders::new_with_capacity(metadata.len()), |headers, (key, value)| {
            headers.insert(Header { key, value: Some(value.as_bytes()) })
        })
}

/// The record key: `partitionKey`, else `__key`; records of one key keep their order.
pub(super) fn key(metadata: &HashMap<String, String>) -> Option<&[u8]> {
    get(metadata, PARTITION_KEY).or_else(|| get(metadata, KEY)).filter(|k| !k.is_empty()).map(str::as_bytes)
}

/// An explicit partition, `partitionNumber`.
pub(super) fn partition(metadata: &HashMap<String, String>) -> Result<Option<i32>, BrokerError> {
    match get(metadata, PARTITION_NUMBER) {
        None => Ok(None),
        Some(raw) => raw
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| BrokerError::Config(format!("{PARTITION_NUMBER}: {raw:?} is not a partition number"))),
    }
}

/// A delivered record's metadata: `__key` (when it has one), `__offset`, `__topic`,
/// `__partition`, `__timestamp` (Unix ms) and each header `exclude` does not match; key and
/// header values URL-escaped when `escape` (`escapeHeaders`).
pub(super) fn metadata(record: &impl Message, escape: bool, exclude: Option<&Regex>) -> HashMap<String, String> {
    let text = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        if escape { query_escape(&text) } else { text.into_owned() }
    };
    let mut metadata = HashMap::new();
    if let Some(key) = record.key() {
        metadata.insert(KEY.to_owned(), text(key));
    }
    metadata.insert("__offset".to_owned(), record.offset().to_string());
    metadata.insert("__topic".to_owned(), record.topic().to_owned());
    metadata.insert("__partition".to_owned(), record.partition().to_string());
    if let Some(ms) = record.timestamp().to_millis() {
        metadata.insert("__timestamp".to_owned(), ms.to_string());
    }
    if let Some(headers) = record.headers() {
        for header in headers.iter().filter(|h| !excluded(exclude, h.key)) {
            metadata.insert(header.key.to_owned(), header.value.map(text).unwrap_or_default());
        }
    }
    metadata
}

/// Go's `url.QueryEscape`, which components-contrib applies with `escapeHeaders`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::{OwnedMessage, Timestamp};

    fn md(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn partition_key_is_the_record_key_and_a_header_too() {
        let metadata = md(&[("partitionKey", "order-7"), ("traceparent", "00-x")]);
        assert_eq!(key(&metadata), Some(b"order-7".as_ref()));
        assert_eq!(key(&md(&[("__key", "k")])), Some(b"k".as_ref()));
        assert_eq!(key(&md(&[("key", "just a header")])), None);
        let headers = headers(&metadata, None);
        let mut names: Vec<&str> = headers.iter().map(|h| h.key).collect();
        names.sort();
        assert_eq!(names, ["partitionKey", "traceparent"]);
    }

    #[test]
    fn partition_numbers_are_checked() {
        assert_eq!(partition(&md(&[("partitionNumber", "2")])).unwrap(), Some(2));
        assert_eq!(partition(&md(&[])).unwrap(), None);
        assert!(partition(&md(&[("partitionNumber", "-1")])).unwrap_err().to_string().contains("partitionNumber"));
    }

    #[test]
    fn a_delivered_record_carries_daprds_keys_escaped_when_asked() {
        let headers = OwnedHeaders::new().insert(Header { key: "x-note", value: Some("a b&c".as_bytes()) });
        let record = OwnedMessage::new(
            Some(b"v".to_vec()),
            Some(b"k 1".to_vec()),
            "orders".into(),
            Timestamp::CreateTime(1_700_000_000_000),
            3,
            42,
            Some(headers),
        );
        let plain = metadata(&record, false, None);
        assert_eq!(plain["__key"], "k 1");
        assert_eq!((plain["__offset"].as_str(), plain["__partition"].as_str(), plain["__topic"].as_str()), ("42", "3", "orders"));
        assert_eq!((plain["__timestamp"].as_str(), plain["x-note"].as_str()), ("1700000000000", "a b&c"));
        let escaped = metadata(&record, true, None);
        assert_eq!((escaped["__key"].as_str(), escaped["x-note"].as_str()), ("k+1", "a+b%26c"));
    }

    #[test]
    fn excluded_headers_stay_out_both_ways() {
        let exclude = Regex::new("^x-").unwrap();
        let sent = headers(&md(&[("x-secret", "s"), ("traceparent", "00-x")]), Some(&exclude));
        assert_eq!(sent.iter().map(|h| h.key).collect::<Vec<_>>(), ["traceparent"]);
        let headers = OwnedHeaders::new().insert(Header { key: "x-note", value: Some(b"n".as_ref()) });
        let record = OwnedMessage::new(None, None, "orders".into(), Timestamp::NotAvailable, 0, 1, Some(headers));
        assert!(!metadata(&record, false, Some(&exclude)).contains_key("x-note"));
        assert!(metadata(&record, false, None).contains_key("x-note"));
    }
}

//! A stream entry as Dapr's component writes it: field `data` holds the CloudEvent JSON (or raw
//! bytes), field `metadata` the publish metadata as a JSON object (written only when there is any).

use crate::BrokerMessage;
use bytes::Bytes;
use redis::Value;
use std::collections::HashMap;

const FIELD_DATA: &str = "data";
const FIELD_METADATA: &str = "metadata";

/// Appends `data <bytes> [metadata <json>]` to an XADD.
pub(super) fn write_fields(cmd: &mut redis::Cmd, msg: &BrokerMessage) {
    cmd.arg(FIELD_DATA).arg(msg.data.as_ref());
    if !msg.metadata.is_empty() {
        cmd.arg(FIELD_METADATA).arg(serde_json::to_vec(&msg.metadata).expect("a string map always serialises"));
    }
}

/// One entry of an XREADGROUP or XCLAIM reply. `message` is `None` when the entry was deleted
/// from the stream (trimmed) while it was still pending.
#[derive(Debug)]
pub(super) struct StreamEntry {
    pub id: String,
    pub message: Option<BrokerMessage>,
}

/// The entries of an XREADGROUP reply for one stream (nil when BLOCK timed out).
pub(super) fn read_reply(topic: &str, reply: Value) -> Vec<StreamEntry> {
    streams(reply).into_iter().flat_map(|(_key, entries)| claim_reply(topic, entries)).collect()
}

/// The entries of an XREADGROUP reply over several streams, by stream.
pub(super) fn read_reply_by_stream(reply: Value) -> Vec<(String, Vec<StreamEntry>)> {
    streams(reply)
        .into_iter()
        .filter_map(|(key, entries)| {
            let topic = as_string(key)?;
            let entries = claim_reply(&topic, entries);
            Some((topic, entries))
        })
        .collect()
}

fn streams(reply: Value) -> Vec<(Value, Value)> {
    match reply {
        Value::Array(streams) => streams.into_iter().filter_map(as_pair).collect(),
        Value::Map(streams) => streams,
        _ => Vec::new(),
    }
}

/// The entries of an XCLAIM reply (or of one stream in an XREADGROUP reply).
pub(super) fn claim_reply(topic: &str, reply: Value) -> Vec<StreamEntry> {
    let Value::Array(entries) = reply else { return Vec::new() };
    entries
        .into_iter()
        .filter_map(|entry| {
            let (id, fields) = as_pair(entry)?;
            let id = as_string(id)?;
            let message = match fields {
                Value::Array(fields) => Some(message(topic, fields)),
                _ => None,
            };
            Some(StreamEntry { id, message })
        })
        .collect()
}

fn message(topic: &str, fields: Vec<Value>) -> BrokerMessage {
    let mut msg = BrokerMessage { topic: topic.to_owned(), ..Default::default() };
    let mut fields = fields.into_iter();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        let (Some(name), Value::BulkString(value)) = (as_string(name), value) else { continue };
        match name.as_str() {
            FIELD_DATA => msg.data = Bytes::from(value),
            FIELD_METADATA => match serde_json::from_slice::<HashMap<String, String>>(&value) {
                Ok(metadata) => msg.metadata = metadata,
                Err(err) => tracing::warn!(%topic, %err, "pubsub.redis: an entry's metadata field is not a JSON string map; ignored"),
            },
            _ => {}
        }
    }
    msg
}

fn as_pair(value: Value) -> Option<(Value, Value)> {
    match value {
        Value::Array(items) if items.len() == 2 => {
            let mut items = items.into_iter();
            Some((items.next()?, items.next()?))
        }
        _ => None,
    }
}

fn as_string(value: Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn reads_entries_deleted_ones_and_metadata() {
        let entries = Value::Array(vec![
            Value::Array(vec![bulk("1-0"), Value::Array(vec![bulk("data"), bulk("{\"a\":1}"), bulk("metadata"), bulk("{\"k\":\"v\"}")])]),
            Value::Array(vec![bulk("2-0"), Value::Nil]),
            Value::Array(vec![bulk("3-0"), Value::Array(vec![bulk("data"), bulk("raw"), bulk("metadata"), bulk("not json")])]),
        ]);
        let reply = Value::Array(vec![Value::Array(vec![bulk("orders"), entries])]);
        let got = read_reply("orders", reply);
        assert_eq!(got.len(), 3);
        let first = got[0].message.as_ref().unwrap();
        assert_eq!((got[0].id.as_str(), first.topic.as_str(), first.data.as_ref()), ("1-0", "orders", b"{\"a\":1}".as_slice()));
        assert_eq!(first.metadata, HashMap::from([("k".to_owned(), "v".to_owned())]));
        assert!(got[1].message.is_none());
        assert!(got[2].message.as_ref().unwrap().metadata.is_empty());
        assert!(read_reply("orders", Value::Nil).is_empty());
    }

    #[test]
    fn reads_entries_of_several_streams_by_stream() {
        let entry = |id: &str, data: &str| Value::Array(vec![bulk(id), Value::Array(vec![bulk("data"), bulk(data)])]);
        let reply = Value::Array(vec![
            Value::Array(vec![bulk("orders"), Value::Array(vec![entry("1-0", "a")])]),
            Value::Array(vec![bulk("payments"), Value::Array(vec![entry("7-0", "b"), entry("8-0", "c")])]),
        ]);
        let got: Vec<(String, Vec<String>)> =
            read_reply_by_stream(reply).into_iter().map(|(topic, entries)| (topic, entries.into_iter().map(|e| e.id).collect())).collect();
        assert_eq!(got, [("orders".to_owned(), vec!["1-0".to_owned()]), ("payments".to_owned(), vec!["7-0".to_owned(), "8-0".to_owned()])]);
        assert!(read_reply_by_stream(Value::Nil).is_empty());
    }

    #[test]
    fn writes_metadata_only_when_there_is_some() {
        let mut msg = BrokerMessage { topic: "t".into(), data: Bytes::from_static(b"x"), metadata: HashMap::new() };
        let mut cmd = redis::cmd("XADD");
        write_fields(&mut cmd, &msg);
        assert_eq!(cmd.args_iter().count(), 3);
        msg.metadata.insert("k".into(), "v".into());
        let mut cmd = redis::cmd("XADD");
        write_fields(&mut cmd, &msg);
        assert_eq!(cmd.args_iter().count(), 5);
    }
}

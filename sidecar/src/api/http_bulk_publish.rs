//! `POST|PUT /v1.0/publish/bulk/{pubsub}/{topic...}` and its `/v1.0-alpha1/` twin (contract §3.2):
//! a JSON array of entries, each published in its own CloudEvent through the one publish path.

use super::http::{publish_metadata, pubsub_and_topic};
use crate::error::ApiError;
use crate::publisher::{self, BulkPublishInput};
use crate::state::SidecarState;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use dapr_rs_proto::content_type;
use dapr_rs_proto::error_code::ErrorCode;
use dapr_rs_proto::runtime::{BulkPublishRequest, BulkPublishRequestEntry};
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};
use std::collections::HashMap;
use std::sync::Arc;

/// One entry of the request body.
#[derive(Debug, Deserialize)]
struct HttpBulkEntry {
    #[serde(rename = "entryId", default)]
    entry_id: String,
    #[serde(default)]
    event: Json,
    #[serde(rename = "contentType", default)]
    content_type: String,
    #[serde(default)]
    metadata: HashMap<String, String>,
}

pub(super) async fn bulk_publish(
    State(state): State<Arc<SidecarState>>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (pubsub_name, topic) = match pubsub_and_topic(path) {
        Ok(names) => names,
        Err(e) => return e.into_response(),
    };
    let (pubsub_name, topic) = (pubsub_name.as_str(), topic.as_str());
    let events_error = |why: String| {
        ApiError::new(
            ErrorCode::PubsubEventsSer,
            format!("error when reading the bulk request for topic {topic} pubsub {pubsub_name}: {why}"),
        )
    };
    // Unknown pubsub or empty topic answer as they do for a single publish, whatever the body.
    if let Err(e) = state.pubsub_for(pubsub_name, topic) {
        return e.into_response();
    }
    let entries: Vec<HttpBulkEntry> = match serde_json::from_slice(&body).and_then(|raw: Vec<Map<String, Json>>| {
        raw.into_iter().map(|entry| serde_json::from_value(Json::Object(with_field_names(entry)))).collect()
    }) {
        Ok(entries) => entries,
        Err(e) => return events_error(format!("the body must be a JSON array of entries: {e}")).into_response(),
    };
    let mut converted = Vec::with_capacity(entries.len());
    for entry in entries {
        match event_bytes(entry.event, &entry.content_type) {
            Ok((event, content_type)) => {
                converted.push(BulkPublishRequestEntry { entry_id: entry.entry_id, event, content_type, metadata: entry.metadata })
            }
            Err(why) => return events_error(format!("entry {:?}: {why}", entry.entry_id)).into_response(),
        }
    }
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let request = BulkPublishRequest {
        pubsub_name: pubsub_name.to_owned(),
        topic: topic.to_owned(),
        entries: converted,
        metadata: publish_metadata(&uri),
    };
    let input = BulkPublishInput { request, traceparent: header("traceparent"), tracestate: header("tracestate") };
    match publisher::bulk_publish(&state, input).await {
        Ok(failed) if failed.is_empty() => StatusCode::NO_CONTENT.into_response(),
        Ok(failed) => {
            let code = ErrorCode::PubsubPublishMessage;
            let failed: Vec<Json> = failed.into_iter().map(|f| json!({"entryId": f.entry_id, "error": f.error})).collect();
            let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, axum::Json(json!({"failedEntries": failed, "errorCode": code.as_str()}))).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// The fields of [`HttpBulkEntry`], in the spelling it reads.
const ENTRY_FIELDS: [&str; 4] = ["entryId", "event", "contentType", "metadata"];

/// An entry's keys matched to [`ENTRY_FIELDS`] regardless of case, as daprd's Go JSON decoding
/// does: the official JS SDK sends `entryID`. An exact spelling wins over a differently cased one.
fn with_field_names(entry: Map<String, Json>) -> Map<String, Json> {
    let mut named = Map::new();
    let mut exact = Vec::new();
    for (key, value) in entry {
        let Some(field) = ENTRY_FIELDS.iter().find(|f| f.eq_ignore_ascii_case(&key)) else { continue };
        if key == *field {
            exact.push(*field);
        } else if exact.contains(field) {
            continue;
        }
        named.insert((*field).to_owned(), value);
    }
    named
}

/// An entry's `event` as payload bytes, as daprd reads it: base64 text for
/// `application/octet-stream`, the JSON value for JSON and CloudEvent types, and the text of a
/// string for any other type. Without a content type a string is text and anything else JSON.
fn event_bytes(event: Json, content_type: &str) -> Result<(Vec<u8>, String), String> {
    let media = content_type::media_type(content_type);
    if media == content_type::OCTET_STREAM {
        let Json::String(b64) = event else { return Err(format!("event must be a base64 string for {content_type}")) };
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|e| format!("event is not valid base64: {e}"))?;
        return Ok((bytes, content_type.to_owned()));
    }
    if content_type::is_json(content_type) || content_type::is_cloudevent_json(content_type) {
        return Ok((serde_json::to_vec(&event).expect("a JSON value serialises"), content_type.to_owned()));
    }
    match event {
        Json::String(text) => Ok((text.into_bytes(), content_type.to_owned())),
        other if media.is_empty() => Ok((serde_json::to_vec(&other).expect("a JSON value serialises"), content_type::JSON.to_owned())),
        _ => Err(format!("event must be a string for content type {content_type}")),
    }
}

#[cfg(test)]
mod tests {
    use super::{event_bytes, with_field_names};
    use serde_json::json;

    #[test]
    fn events_become_bytes_by_content_type() {
        let bytes = |event, ct| event_bytes(event, ct);
        assert_eq!(bytes(json!({"a": 1}), "application/json").unwrap(), (br#"{"a":1}"#.to_vec(), "application/json".into()));
        assert_eq!(bytes(json!("hi"), "application/json").unwrap().0, br#""hi""#.to_vec());
        assert_eq!(bytes(json!("héllo"), "text/plain").unwrap().0, "héllo".as_bytes().to_vec());
        assert_eq!(bytes(json!("<a/>"), "application/xml").unwrap().0, b"<a/>".to_vec());
        assert_eq!(bytes(json!("AP8="), "application/octet-stream").unwrap().0, vec![0, 255]);
        assert!(bytes(json!("not base64!"), "application/octet-stream").is_err());
        assert!(bytes(json!(7), "text/plain").is_err());
        assert_eq!(bytes(json!("plain"), "").unwrap(), (b"plain".to_vec(), "".into()));
        assert_eq!(bytes(json!([1, 2]), "").unwrap(), (b"[1,2]".to_vec(), "application/json".into()));
        let ce = json!({"id": "1", "source": "s", "data": "x"});
        assert_eq!(bytes(ce.clone(), "application/cloudevents+json").unwrap().0, serde_json::to_vec(&ce).unwrap());
    }

    #[test]
    fn entry_keys_match_regardless_of_case_with_the_exact_spelling_first() {
        let entry = |v: serde_json::Value| with_field_names(v.as_object().unwrap().clone());
        let js = entry(json!({"entryID": "a", "EVENT": 1, "contenttype": "text/plain", "unknown": true}));
        assert_eq!(serde_json::Value::Object(js), json!({"entryId": "a", "event": 1, "contentType": "text/plain"}));
        let both = entry(json!({"entryId": "exact", "entryid": "folded"}));
        assert_eq!(both["entryId"], "exact");
        let both = entry(json!({"entryid": "folded", "entryId": "exact"}));
        assert_eq!(both["entryId"], "exact");
    }
}

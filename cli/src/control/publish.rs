//! `dapr-rs publish`: publishes one event through the sidecar of a running app, as
//! `dapr publish` does (a JSON body; a body that is itself a CloudEvent goes as one).

use super::sidecar_request;
use crate::launcher::registry;
use bytes::Bytes;
use clap::Args;
use serde_json::Value as Json;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
    /// The app whose sidecar publishes (it must be running under `dapr-rs run`).
    #[arg(short = 'i', long)]
    pub publish_app_id: String,
    /// The pub/sub component's name.
    #[arg(short = 'p', long)]
    pub pubsub: String,
    #[arg(short = 't', long)]
    pub topic: String,
    /// The event's JSON payload.
    #[arg(short = 'd', long, conflicts_with = "data_file")]
    pub data: Option<String>,
    /// A file holding the payload.
    #[arg(short = 'f', long)]
    pub data_file: Option<PathBuf>,
    /// Publish metadata as a JSON object, e.g. '{"ttlInSeconds":"10","rawPayload":"true"}'.
    #[arg(short = 'm', long)]
    pub metadata: Option<String>,
}

pub async fn publish(args: PublishArgs) -> u8 {
    match try_publish(&args).await {
        Ok(()) => {
            println!("Event published successfully");
            0
        }
        Err(e) => {
            eprintln!("Error publishing topic {}: {e}", args.topic);
            1
        }
    }
}

async fn try_publish(args: &PublishArgs) -> Result<(), String> {
    if args.pubsub.is_empty() {
        return Err("--pubsub is empty".into());
    }
    if args.topic.is_empty() {
        return Err("--topic is empty".into());
    }
    let data = match (&args.data, &args.data_file) {
        (Some(d), _) => Bytes::from(d.clone().into_bytes()),
        (None, Some(f)) => Bytes::from(std::fs::read(f).map_err(|e| format!("cannot read --data-file {}: {e}", f.display()))?),
        (None, None) => Bytes::new(),
    };
    let query = metadata_query(args.metadata.as_deref())?;
    let record = registry::find(&args.publish_app_id)
        .ok_or_else(|| format!("no running app with id {:?} (see `dapr-rs list`)", args.publish_app_id))?;
    let path = format!("/v1.0/publish/{}/{}{query}", encode_segment(&args.pubsub), encode_path(&args.topic));
    let (status, body) = sidecar_request(&record, http::Method::POST, &path, Some(content_type(&data)), data).await?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("the sidecar answered {status}: {}", String::from_utf8_lossy(&body).trim()))
    }
}

/// A JSON object with every attribute a CloudEvent needs goes as `application/cloudevents+json`.
fn content_type(data: &[u8]) -> &'static str {
    let is_cloudevent = serde_json::from_slice::<serde_json::Map<String, Json>>(data)
        .map(|ce| ["id", "source", "specversion", "type"].iter().all(|k| ce.contains_key(*k)))
        .unwrap_or(false);
    if is_cloudevent { dapr_rs_proto::content_type::CLOUDEVENT_JSON } else { "application/json" }
}

/// `--metadata '{"k":"v"}'` as `?metadata.k=v`; values may be strings, numbers or booleans.
fn metadata_query(metadata: Option<&str>) -> Result<String, String> {
    let Some(text) = metadata.filter(|m| !m.trim().is_empty()) else { return Ok(String::new()) };
    let map: serde_json::Map<String, Json> =
        serde_json::from_str(text).map_err(|e| format!("--metadata must be a JSON object of strings: {e}"))?;
    let mut pairs = Vec::with_capacity(map.len());
    for (k, v) in map {
        let value = match v {
            Json::String(s) => s,
            Json::Number(n) => n.to_string(),
            Json::Bool(b) => b.to_string(),
            other => return Err(format!("--metadata {k}: {other} is not a string")),
        };
        pairs.push(format!("metadata.{}={}", encode_segment(&k), encode_segment(&value)));
    }
    Ok(format!("?{}", pairs.join("&")))
}

/// Percent-encodes everything but unreserved characters.
fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A topic may contain `/`: each of its segments is encoded, the slashes kept.
fn encode_path(s: &str) -> String {
    s.split('/').map(encode_segment).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_becomes_query_parameters() {
        assert_eq!(metadata_query(None).unwrap(), "");
        assert_eq!(
            metadata_query(Some(r#"{"ttlInSeconds": 10, "cloudevent.id": "a b"}"#)).unwrap(),
            "?metadata.cloudevent.id=a%20b&metadata.ttlInSeconds=10"
        );
        assert!(metadata_query(Some("[1]")).unwrap_err().contains("JSON object"));
        assert!(metadata_query(Some(r#"{"k": {"x": 1}}"#)).unwrap_err().contains("--metadata k"));
    }

    #[test]
    fn cloudevents_are_sent_as_cloudevents() {
        assert_eq!(content_type(br#"{"id":"1","source":"s","specversion":"1.0","type":"t","data":1}"#), "application/cloudevents+json");
        assert_eq!(content_type(br#"{"orderId": 1}"#), "application/json");
        assert_eq!(content_type(b"not json"), "application/json");
        assert_eq!(encode_path("a/b c"), "a/b%20c");
    }
}

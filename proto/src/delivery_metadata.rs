//! A broker message's metadata on its way to the app, as daprd carries it (reference
//! dapr-observability-and-kafka.md §3; daprd's `pkg/messaging/v1/util.go`): the sidecar adds
//! `pubsubName` and sends every key as an HTTP header or as gRPC metadata under these rules, and an
//! app server reads back as metadata whatever it received that is not the transport's own.
//! Streaming subscriptions carry none, as in daprd.

use std::collections::HashMap;

/// The key daprd adds to every message's metadata: the subscription's pubsub name.
pub const PUBSUB_NAME: &str = "pubsubName";

/// The message's metadata as the app channel sends it: the broker's, and `pubsubName` (which
/// replaces a broker key of that name, as daprd's does).
pub fn with_pubsub_name<'a>(broker: &'a HashMap<String, String>, pubsub_name: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
    broker.iter().filter(|(k, _)| k.as_str() != PUBSUB_NAME).map(|(k, v)| (k.as_str(), v.as_str())).chain([(PUBSUB_NAME, pubsub_name)])
}

/// Hop-by-hop headers (RFC 7230 §6.1), never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-authenticate",
];

/// The HTTP headers `metadata` goes out as: each key lowercased, no prefix; `content-type`,
/// `content-length`, `*-bin`, `destination-app-id` and hop-by-hop keys (also those a `connection`
/// key names) left out; `grpc-*` and gRPC pseudo-headers moved under `dapr-`. Names and values are
/// not checked here: a key or value HTTP cannot carry fails the call, as in daprd.
pub fn http_headers<'a>(metadata: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<(String, &'a str)> {
    let metadata: Vec<(String, &str)> = metadata.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    let nominated: Vec<String> = metadata
        .iter()
        .filter(|(k, _)| k == "connection")
        .flat_map(|(_, v)| v.split(',').map(|t| t.trim().to_ascii_lowercase()).filter(|t| !t.is_empty()))
        .collect();
    metadata
        .into_iter()
        .filter(|(k, _)| {
            !(k == "content-type"
                || k == "content-length"
                || k == "destination-app-id"
                || k.ends_with("-bin")
                || HOP_BY_HOP.contains(&k.as_str())
                || nominated.contains(k))
        })
        .map(|(k, v)| (dapr_prefixed(k), v))
        .collect()
}

/// daprd's `ReservedGRPCMetadataToDaprPrefixHeader`.
fn dapr_prefixed(key: String) -> String {
    match key.as_str() {
        ":method" | ":scheme" | ":path" | ":authority" => format!("dapr-{}", &key[1..]),
        k if k.starts_with("grpc-") => format!("dapr-{key}"),
        _ => key,
    }
}

/// Keys gRPC itself sets on a call (grpc-go leaves them out of custom metadata).
const GRPC_RESERVED: &[&str] = &[
    "content-type",
    "user-agent",
    "te",
    "grpc-message-type",
    "grpc-encoding",
    "grpc-message",
    "grpc-status",
    "grpc-timeout",
    "grpc-status-details-bin",
];

/// The gRPC metadata key a metadata key goes out as (lowercased), or `None` for `content-type`,
/// `content-length` and the keys gRPC sets itself.
pub fn grpc_metadata_key(key: &str) -> Option<String> {
    let key = key.to_ascii_lowercase();
    (key != "content-length" && !GRPC_RESERVED.contains(&key.as_str())).then_some(key)
}

/// Whether a header (or gRPC metadata key) an app server received belongs to the transport or
/// to the call rather than to the message: standard HTTP and gRPC headers, `dapr-api-token`, and
/// the trace context (the event's `traceparent`/`tracestate` are in its extensions).
pub fn is_transport_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "host"
            | "content-type"
            | "content-length"
            | "content-encoding"
            | "user-agent"
            | "expect"
            | "dapr-api-token"
            | "traceparent"
            | "tracestate"
    ) || name.starts_with(':')
        || name.starts_with("accept")
        || name.starts_with("grpc-")
        || HOP_BY_HOP.contains(&name.as_str())
}

/// The metadata of a delivered event from the headers its call carried (names as received, which
/// HTTP/2 and hyper give lowercased); repeated names are joined with ", " as HTTP combines them.
/// Binary (`*-bin`) gRPC metadata is left out: the map holds text, and HTTP never carries it.
pub fn from_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> HashMap<String, String> {
    let mut metadata: HashMap<String, String> = HashMap::new();
    for (name, value) in headers.into_iter().filter(|(name, _)| !is_transport_header(name) && !name.ends_with("-bin")) {
        let value = String::from_utf8_lossy(value);
        metadata
            .entry(name.to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
        v.sort();
        v
    }

    #[test]
    fn pubsub_name_is_added_and_replaces_the_brokers() {
        let broker = map(&[("__key", "k"), ("pubsubName", "forged")]);
        let got = sorted(with_pubsub_name(&broker, "orders").collect());
        assert_eq!(got, vec![("__key", "k"), ("pubsubName", "orders")]);
    }

    #[test]
    fn http_headers_follow_daprd() {
        let md = map(&[
            ("__key", "k"),
            ("pubsubName", "ps"),
            ("Custom-Header", "v"),
            ("Content-Type", "application/json"),
            ("content-length", "12"),
            ("trace-bin", "x"),
            ("Transfer-Encoding", "chunked"),
            ("Connection", "close, x-private"),
            ("x-private", "p"),
            ("grpc-timeout", "1S"),
            (":authority", "a"),
            ("destination-app-id", "b"),
        ]);
        let got = sorted(http_headers(md.iter().map(|(k, v)| (k.as_str(), v.as_str()))));
        let want = vec![
            ("__key".to_owned(), "k"),
            ("custom-header".to_owned(), "v"),
            ("dapr-authority".to_owned(), "a"),
            ("dapr-grpc-timeout".to_owned(), "1S"),
            ("pubsubname".to_owned(), "ps"),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn grpc_keys_are_lowercased_and_transport_keys_skipped() {
        assert_eq!(grpc_metadata_key("__Key").as_deref(), Some("__key"));
        assert_eq!(grpc_metadata_key("pubsubName").as_deref(), Some("pubsubname"));
        assert_eq!(grpc_metadata_key("Content-Type"), None);
        assert_eq!(grpc_metadata_key("content-length"), None);
        assert_eq!(grpc_metadata_key("grpc-timeout"), None);
        assert_eq!(grpc_metadata_key("trace-bin").as_deref(), Some("trace-bin"));
    }

    #[test]
    fn an_app_server_keeps_only_the_messages_metadata() {
        let headers: Vec<(&str, &[u8])> = vec![
            ("host", b"127.0.0.1"),
            ("content-type", b"application/cloudevents+json"),
            ("content-length", b"10"),
            ("user-agent", b"hyper"),
            ("accept-encoding", b"gzip"),
            ("te", b"trailers"),
            ("grpc-accept-encoding", b"gzip"),
            ("dapr-api-token", b"secret"),
            ("traceparent", b"00-x"),
            ("__key", b"k"),
            ("pubsubname", b"ps"),
            ("x-custom", b"a"),
            ("x-custom", b"b"),
            ("x-utf8", "é".as_bytes()),
            ("trace-bin", b"AAE="),
        ];
        let got = from_headers(headers);
        assert_eq!(got, map(&[("__key", "k"), ("pubsubname", "ps"), ("x-custom", "a, b"), ("x-utf8", "é")]));
    }
}

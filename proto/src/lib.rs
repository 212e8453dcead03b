//! Dapr-compatible wire types (generated once from `proto/dapr/...`) and the few wire rules that
//! both the client (`dapr-rs-core`) and the sidecar need: CloudEvent shape, content-type rules,
//! error codes with their HTTP/gRPC status, the bulk delivery envelope, the `/dapr/subscribe`
//! document, the W3C `traceparent`, the meaning of an app's delivery reply, and how a message's
//! metadata travels to the app.
//! Every fact here comes from `shared/reference/dapr-pubsub-contract.md`. Never here: I/O,
//! connections or tasks; anything only one side needs.

pub mod bulk;
pub mod cloudevent;
pub mod content_type;
pub mod delivery_metadata;
pub mod error_code;
pub mod go_value;
pub mod outcome;
pub mod struct_json;
pub mod subscribe_document;
pub mod trace_context;

/// Generated code, laid out by proto package as Dapr's own SDKs are.
pub mod dapr {
    pub mod proto {
        pub mod common {
            pub mod v1 {
                tonic::include_proto!("dapr.proto.common.v1");
            }
        }
        pub mod runtime {
            // Generated: `EventMessage` is much larger than the other variant, as upstream defines it.
            #[allow(clippy::large_enum_variant)]
            pub mod v1 {
                tonic::include_proto!("dapr.proto.runtime.v1");
            }
        }
    }
}

pub use dapr::proto::common::v1 as common;
pub use dapr::proto::runtime::v1 as runtime;

/// Encoded `FileDescriptorSet` of every Dapr proto here, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/dapr_descriptor.bin"));

/// An app route or path as it goes over HTTP: with its leading `/`. daprd takes routes with or
/// without it (`orders` and `/orders` are one route), so both sides write them this way.
pub fn route_path(route: &str) -> String {
    if route.starts_with('/') { route.to_owned() } else { format!("/{route}") }
}

/// HTTP/2 flow-control windows of every gRPC connection between an app, its client and the
/// sidecar, on both ends: fixed and generous rather than adaptive ones (which start at 64 KiB). h2
/// lets a connection hold at most half its window in unread small DATA frames before it ends the
/// connection with ENHANCE_YOUR_CALM ("too_many_data_frames"), and every gRPC request and reply of
/// pub/sub is one: with small windows a few hundred calls at once end the connection.
pub mod h2_windows {
    pub const CONNECTION: u32 = 16 * 1024 * 1024;
    pub const STREAM: u32 = 2 * 1024 * 1024;
}

/// Header / gRPC metadata key carrying `DAPR_API_TOKEN` and `APP_API_TOKEN`.
pub const API_TOKEN_HEADER: &str = "dapr-api-token";

/// Whether the `dapr-api-token` a caller `presented` is the `expected` one. Its time does not
/// depend on where the two differ (as daprd's `subtle.ConstantTimeCompare`), so a caller cannot
/// find the token byte by byte; only a different length answers early.
pub fn api_token_matches(expected: &str, presented: Option<&[u8]>) -> bool {
    let Some(presented) = presented else { return false };
    let expected = expected.as_bytes();
    if expected.len() != presented.len() {
        return false;
    }
    let difference = expected.iter().zip(presented).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(difference) == 0
}
/// Version reported in metadata; the Dapr runtime version whose behaviour we follow.
pub const RUNTIME_VERSION: &str = concat!("dapr-rs-", env!("CARGO_PKG_VERSION"));

#[cfg(test)]
mod api_token_tests {
    use super::api_token_matches;

    #[test]
    fn routes_are_written_with_their_leading_slash() {
        assert_eq!(super::route_path("orders"), "/orders");
        assert_eq!(super::route_path("/orders"), "/orders");
        assert_eq!(super::route_path(""), "/");
    }

    #[test]
    fn only_the_same_token_matches() {
        assert!(api_token_matches("s3cret", Some(b"s3cret")));
        for presented in [None, Some(&b""[..]), Some(b"s3cre"), Some(b"s3cret!"), Some(b"S3cret"), Some(b"\xff\xfe")] {
            assert!(!api_token_matches("s3cret", presented), "{presented:?}");
        }
    }
}

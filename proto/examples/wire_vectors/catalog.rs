//! The shared wire vectors (`tests/vectors/proto_messages.json`) as our generated types.
//!
//! A vector is named `<full.Message.Name>#<variant>` and holds the message in proto3 JSON, so
//! the Python interop test builds the same value with `json_format.ParseDict`. Here the JSON
//! becomes a `DynamicMessage` over our own descriptor set and is transcoded into the generated
//! type. Shared by the `wire_vectors` example and `tests/wire_vectors.rs`.

use dapr_rs_proto::{FILE_DESCRIPTOR_SET, common, runtime};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::PathBuf;

/// Vector name → the message in proto3 JSON.
pub type Vectors = BTreeMap<String, Json>;

/// One generated message type, erased so vectors can be dispatched by full proto name.
pub struct WireType {
    pub full_name: &'static str,
    /// Our encoding of the message the vector describes.
    pub encode: fn(&DynamicMessage) -> Result<Vec<u8>, String>,
    /// Decodes `bytes` as the generated type; `Err` unless it equals the vector's message.
    pub check: fn(&DynamicMessage, &[u8]) -> Result<(), String>,
}

macro_rules! wire_types {
    ($($module:ident $package:literal { $($ty:ident = $proto:literal),* $(,)? })*) => {
        &[$($(WireType {
            full_name: concat!($package, ".", $proto),
            encode: encode::<$module::$ty>,
            check: check::<$module::$ty>,
        },)*)*]
    };
}

/// Every message our .proto files define; prost renames some (`HTTPExtension` → `HttpExtension`).
pub static WIRE_TYPES: &[WireType] = wire_types! {
    common "dapr.proto.common.v1" {
        HttpExtension = "HTTPExtension",
        InvokeRequest = "InvokeRequest",
        InvokeResponse = "InvokeResponse",
    }
    runtime "dapr.proto.runtime.v1" {
        JobEventRequest = "JobEventRequest",
        JobEventResponse = "JobEventResponse",
        TopicEventRequest = "TopicEventRequest",
        TopicEventResponse = "TopicEventResponse",
        TopicEventCeRequest = "TopicEventCERequest",
        TopicEventBulkRequestEntry = "TopicEventBulkRequestEntry",
        TopicEventBulkRequest = "TopicEventBulkRequest",
        TopicEventBulkResponseEntry = "TopicEventBulkResponseEntry",
        TopicEventBulkResponse = "TopicEventBulkResponse",
        ListTopicSubscriptionsResponse = "ListTopicSubscriptionsResponse",
        TopicSubscription = "TopicSubscription",
        TopicRoutes = "TopicRoutes",
        TopicRule = "TopicRule",
        BulkSubscribeConfig = "BulkSubscribeConfig",
        HealthCheckResponse = "HealthCheckResponse",
        PublishEventRequest = "PublishEventRequest",
        BulkPublishRequest = "BulkPublishRequest",
        BulkPublishRequestEntry = "BulkPublishRequestEntry",
        BulkPublishResponse = "BulkPublishResponse",
        BulkPublishResponseFailedEntry = "BulkPublishResponseFailedEntry",
        SubscribeTopicEventsRequestAlpha1 = "SubscribeTopicEventsRequestAlpha1",
        SubscribeTopicEventsRequestInitialAlpha1 = "SubscribeTopicEventsRequestInitialAlpha1",
        SubscribeTopicEventsRequestProcessedAlpha1 = "SubscribeTopicEventsRequestProcessedAlpha1",
        SubscribeTopicEventsResponseAlpha1 = "SubscribeTopicEventsResponseAlpha1",
        SubscribeTopicEventsResponseInitialAlpha1 = "SubscribeTopicEventsResponseInitialAlpha1",
        GetMetadataRequest = "GetMetadataRequest",
        GetMetadataResponse = "GetMetadataResponse",
        MetadataWorkflows = "MetadataWorkflows",
        MetadataScheduler = "MetadataScheduler",
        ActorRuntime = "ActorRuntime",
        ActiveActorsCount = "ActiveActorsCount",
        RegisteredComponents = "RegisteredComponents",
        MetadataHttpEndpoint = "MetadataHTTPEndpoint",
        AppConnectionProperties = "AppConnectionProperties",
        AppConnectionHealthProperties = "AppConnectionHealthProperties",
        PubsubSubscription = "PubsubSubscription",
        PubsubSubscriptionRules = "PubsubSubscriptionRules",
        PubsubSubscriptionRule = "PubsubSubscriptionRule",
        SetMetadataRequest = "SetMetadataRequest",
        ShutdownRequest = "ShutdownRequest",
    }
};

fn build<T: Message + Default>(message: &DynamicMessage) -> Result<T, String> {
    message.transcode_to::<T>().map_err(|e| format!("cannot build the generated type: {e}"))
}

fn encode<T: Message + Default>(message: &DynamicMessage) -> Result<Vec<u8>, String> {
    Ok(build::<T>(message)?.encode_to_vec())
}

fn check<T: Message + Default + PartialEq + Debug>(message: &DynamicMessage, bytes: &[u8]) -> Result<(), String> {
    let expected = build::<T>(message)?;
    let decoded = T::decode(bytes).map_err(|e| format!("does not decode: {e}"))?;
    if decoded == expected { Ok(()) } else { Err(format!("decoded {decoded:?}\n  expected {expected:?}")) }
}

pub fn wire_type(full_name: &str) -> Option<&'static WireType> {
    WIRE_TYPES.iter().find(|t| t.full_name == full_name)
}

/// The message a vector describes: the part of its name before `#`.
pub fn message_name(vector: &str) -> &str {
    vector.split_once('#').map_or(vector, |(name, _)| name)
}

pub fn descriptor_pool() -> DescriptorPool {
    DescriptorPool::decode(FILE_DESCRIPTOR_SET).expect("FILE_DESCRIPTOR_SET is a valid descriptor set")
}

/// The checked-in vectors of the checkout `cargo run` was started from (cargo sets
/// `CARGO_MANIFEST_DIR` at run time too): a binary built from another clone of the same sources,
/// reused from a shared target dir, must not read that clone's file.
pub fn vectors_path() -> PathBuf {
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir.join("../tests/vectors/proto_messages.json")
}

pub fn load_vectors() -> Result<Vectors, String> {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The vector's message over our descriptors; unknown JSON fields are an error, not ignored.
pub fn dynamic_message(pool: &DescriptorPool, vector: &str, json: &Json) -> Result<DynamicMessage, String> {
    let name = message_name(vector);
    let descriptor = pool.get_message_by_name(name).ok_or_else(|| format!("no message {name} in our .proto files"))?;
    DynamicMessage::deserialize(descriptor, json).map_err(|e| format!("{vector}: {e}"))
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn from_hex(hex: &str) -> Result<Vec<u8>, String> {
    if !hex.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("?"), 16).map_err(|e| format!("bad hex at {i}: {e}")))
        .collect()
}

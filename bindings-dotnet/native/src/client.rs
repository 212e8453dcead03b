//! The client: core's [`DaprClient`] — publish, bulk publish, wait for the sidecar, the
//! sidecar's metadata, open a streaming subscription.

use crate::abi::{DaprBuffer, DaprError, request_bytes};
use crate::delivery::SubscriptionStreamHandle;
use crate::requests;
use crate::runtime::{Completed, runtime, start};
use dapr_rs_core::DaprClient;
use dapr_rs_core::proto::runtime::GetMetadataResponse;
use serde_json::{Value as Json, json};
use std::ffi::c_void;
use std::time::Duration;

/// Makes a client from an encoded `ClientOptions` (unset values come from the environment:
/// `DAPR_GRPC_ENDPOINT`, else `DAPR_RUNTIME_HOST`/`DAPR_GRPC_PORT`, else 127.0.0.1:50001;
/// `DAPR_API_TOKEN`). Does not connect.
///
/// # Safety
/// `request` points at `request_len` readable bytes; `out_client` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_client_new(request: *const u8, request_len: i32, out_client: *mut *mut c_void) -> *mut DaprError {
    // SAFETY: the caller's contract.
    let made = unsafe { request_bytes(request, request_len) }.and_then(requests::client_options).and_then(|options| {
        // The shared channel is driven by a task of the runtime it is made in.
        let _entered = runtime().enter();
        DaprClient::new(options)
    });
    match made {
        Ok(client) => {
            // SAFETY: writable by the caller's contract.
            unsafe { *out_client = Box::into_raw(Box::new(client)) as *mut c_void };
            std::ptr::null_mut()
        }
        Err(e) => DaprError::boxed(&e),
    }
}

/// # Safety
/// `client` is a client handle (any handle of this library may be freed while calls made with it run).
unsafe fn client<'a>(client: *mut c_void) -> &'a DaprClient {
    // SAFETY: the caller's contract.
    unsafe { &*(client as *const DaprClient) }
}

/// The endpoint the client talks to, e.g. `http://127.0.0.1:50001` (free with `dapr_rs_buffer_free`).
///
/// # Safety
/// `client` is a live client handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_client_endpoint(client_handle: *mut c_void) -> *mut DaprBuffer {
    // SAFETY: the caller's contract.
    DaprBuffer::boxed(unsafe { client(client_handle) }.options().endpoint.clone().into_bytes())
}

/// Frees a client; calls still running finish.
///
/// # Safety
/// `client` is null or a client handle not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_client_free(client: *mut c_void) {
    if !client.is_null() {
        // SAFETY: made by `dapr_rs_client_new`, freed once.
        drop(unsafe { Box::from_raw(client as *mut DaprClient) });
    }
}

/// Publishes one event, from an encoded `PublishRequest`. Completes with no result.
///
/// # Safety
/// `client` is a live client handle; `request` points at `request_len` readable bytes, read
/// before the call returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_client_publish(
    client_handle: *mut c_void,
    request: *const u8,
    request_len: i32,
    user_data: *mut c_void,
) -> *mut c_void {
    // SAFETY: the caller's contract.
    let client = unsafe { client(client_handle) }.clone();
    // SAFETY: the caller's contract.
    let request = unsafe { request_bytes(request, request_len) }.and_then(requests::publish);
    start(user_data, async move {
        let (request, trace) = request?;
        client.publish_event_traced(request, &trace).await?;
        Ok(Completed::NOTHING)
    })
}

/// Publishes many events in one call, from an encoded `BulkPublishRequest`. Completes with a
/// buffer: the JSON array of entries the sidecar could not publish,
/// `[{"entryId": "...", "error": "..."}]` (empty when all were published).
///
/// # Safety
/// `client` is a live client handle; `request` points at `request_len` readable bytes, read
/// before the call returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_client_bulk_publish(
    client_handle: *mut c_void,
    request: *const u8,
    request_len: i32,
    user_data: *mut c_void,
) -> *mut c_void {
    // SAFETY: the caller's contract.
    let client = unsafe { client(client_handle) }.clone();
    // SAFETY: the caller's contract.
    let request = unsafe { request_bytes(request, request_len) }.and_then(requests::bulk_publish);
    start(user_data, async move {
        let bulk = request?;
        let failed = client.bulk_publish_traced(&bulk.pubsub_name, &bulk.topic, bulk.entries, bulk.metadata, &bulk.trace).await?;
        let json: Vec<_> = failed.into_iter().map(|f| serde_json::json!({"entryId": f.entry_id, "error": f.error})).collect();
        Ok(Completed(DaprBuffer::boxed(serde_json::to_vec(&json).unwrap_or_default()) as *mut c_void))
    })
}

/// Completes once the sidecar answers; with DEADLINE_EXCEEDED after `timeout_ms`.
///
/// # Safety
/// `client` is a live client handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_client_wait_for_sidecar(
    client_handle: *mut c_void,
    timeout_ms: i64,
    user_data: *mut c_void,
) -> *mut c_void {
    // SAFETY: the caller's contract.
    let client = unsafe { client(client_handle) }.clone();
    start(user_data, async move {
        client.wait_for_sidecar(Duration::from_millis(timeout_ms.max(0) as u64)).await?;
        Ok(Completed::NOTHING)
    })
}

/// The sidecar's metadata. Completes with a buffer: the JSON object of [`metadata_json`].
///
/// # Safety
/// `client` is a live client handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_client_metadata(client_handle: *mut c_void, user_data: *mut c_void) -> *mut c_void {
    // SAFETY: the caller's contract.
    let client = unsafe { client(client_handle) }.clone();
    start(user_data, async move {
        let metadata = client.metadata().await?;
        Ok(Completed(DaprBuffer::boxed(serde_json::to_vec(&metadata_json(&metadata)).unwrap_or_default()) as *mut c_void))
    })
}

/// The metadata as the caller reads it: the gRPC response's fields, camelCase, with the
/// subscription type as its number (`PubsubSubscriptionType`) and each subscription's rules flat.
fn metadata_json(m: &GetMetadataResponse) -> Json {
    let subscriptions: Vec<Json> = m
        .subscriptions
        .iter()
        .map(|s| {
            let rules: Vec<Json> = s.rules.iter().flat_map(|r| &r.rules).map(|r| json!({"match": r.r#match, "path": r.path})).collect();
            json!({
                "pubsubName": s.pubsub_name,
                "topic": s.topic,
                "metadata": s.metadata,
                "rules": rules,
                "deadLetterTopic": s.dead_letter_topic,
                "type": s.r#type,
            })
        })
        .collect();
    let actors: Vec<Json> =
        m.actor_runtime.iter().flat_map(|r| &r.active_actors).map(|a| json!({"type": a.r#type, "count": a.count})).collect();
    let components: Vec<Json> = m
        .registered_components
        .iter()
        .map(|c| json!({"name": c.name, "type": c.r#type, "version": c.version, "capabilities": c.capabilities}))
        .collect();
    json!({
        "id": m.id,
        "runtimeVersion": m.runtime_version,
        "extended": m.extended_metadata,
        "enabledFeatures": m.enabled_features,
        "actors": actors,
        "components": components,
        "subscriptions": subscriptions,
    })
}

/// Opens a streaming subscription (no app port; it reconnects after a sidecar restart), from an
/// encoded `StreamSubscribeRequest`. Completes with a stream handle (`dapr_rs_stream_next`,
/// `dapr_rs_stream_free`).
///
/// # Safety
/// `client` is a live client handle; `request` points at `request_len` readable bytes, read
/// before the call returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_client_subscribe(
    client_handle: *mut c_void,
    request: *const u8,
    request_len: i32,
    user_data: *mut c_void,
) -> *mut c_void {
    // SAFETY: the caller's contract.
    let client = unsafe { client(client_handle) }.clone();
    // SAFETY: the caller's contract.
    let request = unsafe { request_bytes(request, request_len) }.and_then(requests::stream_subscription);
    start(user_data, async move {
        let subscription = request?;
        let stream = client.subscribe(&subscription.pubsub_name, &subscription.topic, subscription.options).await?;
        Ok(Completed::boxed(SubscriptionStreamHandle::new(stream)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dapr_rs_core::proto::runtime::{PubsubSubscription, PubsubSubscriptionRule, PubsubSubscriptionRules, RegisteredComponents};

    #[test]
    fn metadata_crosses_as_camel_case_json_with_flat_rules() {
        let m = GetMetadataResponse {
            id: "checkout".into(),
            registered_components: vec![RegisteredComponents {
                name: "ps".into(),
                r#type: "pubsub.in-memory".into(),
                version: "v1".into(),
                capabilities: vec![],
            }],
            subscriptions: vec![PubsubSubscription {
                pubsub_name: "ps".into(),
                topic: "orders".into(),
                metadata: [("rawPayload".to_owned(), "true".to_owned())].into(),
                rules: Some(PubsubSubscriptionRules { rules: vec![PubsubSubscriptionRule { r#match: "m".into(), path: "/p".into() }] }),
                dead_letter_topic: "dlq".into(),
                r#type: 2,
            }],
            ..Default::default()
        };
        let json = metadata_json(&m);
        assert_eq!(json["id"], "checkout");
        assert_eq!(json["components"][0]["type"], "pubsub.in-memory");
        let sub = &json["subscriptions"][0];
        assert_eq!(
            (&sub["pubsubName"], &sub["topic"], &sub["deadLetterTopic"], &sub["type"]),
            (&json!("ps"), &json!("orders"), &json!("dlq"), &json!(2))
        );
        assert_eq!(sub["metadata"]["rawPayload"], "true");
        assert_eq!(sub["rules"], json!([{"match": "m", "path": "/p"}]));
    }
}

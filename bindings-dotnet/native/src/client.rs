//! The client: core's [`DaprClient`] — publish, bulk publish, wait for the sidecar, open a
//! streaming subscription.

use crate::abi::{DaprBuffer, DaprError, metadata_arg, optional_str, payload, required_str, str_arg};
use crate::delivery::SubscriptionStreamHandle;
use crate::runtime::{Completed, runtime, start};
use dapr_rs_core::{BulkPublishEntry, ClientOptions, DaprClient, PublishRequest, Result, SubscriptionOptions};
use std::ffi::c_void;
use std::time::Duration;

/// Makes a client. `endpoint` (`host:port` or `http://host:port`; not given: `DAPR_GRPC_ENDPOINT`,
/// else `DAPR_RUNTIME_HOST`/`DAPR_GRPC_PORT`, else 127.0.0.1:50001), `api_token` (not given:
/// `DAPR_API_TOKEN`; empty: none), `timeout_ms` (each call's deadline; <= 0: none). Does not connect.
///
/// # Safety
/// The `(ptr, len)` pairs are readable; `out_client` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_client_new(
    endpoint: *const u8,
    endpoint_len: i32,
    api_token: *const u8,
    api_token_len: i32,
    timeout_ms: i64,
    out_client: *mut *mut c_void,
) -> *mut DaprError {
    // SAFETY: the caller's contract.
    let made = unsafe { client_options(endpoint, endpoint_len, api_token, api_token_len, timeout_ms) }.and_then(|options| {
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

unsafe fn client_options(
    endpoint: *const u8,
    endpoint_len: i32,
    token: *const u8,
    token_len: i32,
    timeout_ms: i64,
) -> Result<ClientOptions> {
    let mut options = ClientOptions::from_env();
    // SAFETY: forwarded contract.
    if let Some(endpoint) = unsafe { str_arg(endpoint, endpoint_len, "endpoint") }?.filter(|e| !e.is_empty()) {
        options = options.with_address(endpoint);
    }
    // SAFETY: forwarded contract.
    if let Some(token) = unsafe { str_arg(token, token_len, "api_token") }? {
        options = options.with_api_token(Some(token.to_owned()).filter(|t| !t.is_empty()));
    }
    if timeout_ms > 0 {
        options = options.with_timeout(Some(Duration::from_millis(timeout_ms as u64)));
    }
    Ok(options)
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

/// Publishes one event. `data_kind`: 0 bytes, 1 text, 2 JSON text (core picks the content type
/// from it when `content_type` is not given or empty). `metadata`: JSON object of strings.
/// Completes with no result.
///
/// # Safety
/// `client` is a live client handle; the `(ptr, len)` pairs are readable during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_client_publish(
    client_handle: *mut c_void,
    pubsub_name: *const u8,
    pubsub_name_len: i32,
    topic: *const u8,
    topic_len: i32,
    data: *const u8,
    data_len: i32,
    data_kind: i32,
    content_type: *const u8,
    content_type_len: i32,
    metadata: *const u8,
    metadata_len: i32,
    user_data: *mut c_void,
) -> *mut c_void {
    // SAFETY: the caller's contract (everything is copied before returning).
    let client = unsafe { client(client_handle) }.clone();
    let request = unsafe {
        (|| -> Result<PublishRequest> {
            let (data, data_content_type) = payload(crate::abi::bytes_arg(data, data_len).unwrap_or_default(), data_kind)?
                .into_data(optional_str(content_type, content_type_len, "content_type")?);
            Ok(PublishRequest {
                pubsub_name: required_str(pubsub_name, pubsub_name_len, "pubsub_name")?,
                topic: required_str(topic, topic_len, "topic")?,
                data,
                data_content_type,
                metadata: metadata_arg(metadata, metadata_len)?,
            })
        })()
    };
    start(user_data, async move {
        client.publish_event(request?).await?;
        Ok(Completed::NOTHING)
    })
}

/// Makes an empty bulk batch for `dapr_rs_bulk_add` / `dapr_rs_client_bulk_publish`.
#[unsafe(no_mangle)]
pub extern "C" fn dapr_rs_bulk_new() -> *mut c_void {
    Box::into_raw(Box::<Vec<BulkPublishEntry>>::default()) as *mut c_void
}

/// Adds an entry to a bulk batch (`data_kind`, `content_type` and `metadata` as in
/// `dapr_rs_client_publish`). Returns an error for bad arguments.
///
/// # Safety
/// `bulk` is a live batch handle not used by another thread at once; the pairs are readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_bulk_add(
    bulk: *mut c_void,
    entry_id: *const u8,
    entry_id_len: i32,
    data: *const u8,
    data_len: i32,
    data_kind: i32,
    content_type: *const u8,
    content_type_len: i32,
    metadata: *const u8,
    metadata_len: i32,
) -> *mut DaprError {
    // SAFETY: the caller's contract.
    let entries = unsafe { &mut *(bulk as *mut Vec<BulkPublishEntry>) };
    let entry = unsafe {
        (|| -> Result<BulkPublishEntry> {
            let (event, content_type) = payload(crate::abi::bytes_arg(data, data_len).unwrap_or_default(), data_kind)?
                .into_data(optional_str(content_type, content_type_len, "content_type")?);
            Ok(BulkPublishEntry {
                entry_id: required_str(entry_id, entry_id_len, "entry_id")?,
                event,
                content_type,
                metadata: metadata_arg(metadata, metadata_len)?,
            })
        })()
    };
    DaprError::from_result(entry.map(|e| entries.push(e)))
}

/// Frees a bulk batch.
///
/// # Safety
/// `bulk` is null or a batch handle not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_bulk_free(bulk: *mut c_void) {
    if !bulk.is_null() {
        // SAFETY: made by `dapr_rs_bulk_new`, freed once.
        drop(unsafe { Box::from_raw(bulk as *mut Vec<BulkPublishEntry>) });
    }
}

/// Publishes a batch's entries in one call (the batch is emptied; free it afterwards). Completes
/// with a buffer: the JSON array of entries the sidecar could not publish,
/// `[{"entryId": "...", "error": "..."}]` (empty when all were published).
///
/// # Safety
/// `client` and `bulk` are live handles; the pairs are readable during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_client_bulk_publish(
    client_handle: *mut c_void,
    pubsub_name: *const u8,
    pubsub_name_len: i32,
    topic: *const u8,
    topic_len: i32,
    bulk: *mut c_void,
    metadata: *const u8,
    metadata_len: i32,
    user_data: *mut c_void,
) -> *mut c_void {
    // SAFETY: the caller's contract.
    let client = unsafe { client(client_handle) }.clone();
    let entries = std::mem::take(unsafe { &mut *(bulk as *mut Vec<BulkPublishEntry>) });
    let args = unsafe {
        (|| -> Result<_> {
            Ok((
                required_str(pubsub_name, pubsub_name_len, "pubsub_name")?,
                required_str(topic, topic_len, "topic")?,
                metadata_arg(metadata, metadata_len)?,
            ))
        })()
    };
    start(user_data, async move {
        let (pubsub_name, topic, metadata) = args?;
        let failed = client.bulk_publish(&pubsub_name, &topic, entries, metadata).await?;
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

/// Opens a streaming subscription (no app port; it reconnects after a sidecar restart).
/// Completes with a stream handle (`dapr_rs_stream_next`, `dapr_rs_stream_free`).
///
/// # Safety
/// `client` is a live client handle; the pairs are readable during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_client_subscribe(
    client_handle: *mut c_void,
    pubsub_name: *const u8,
    pubsub_name_len: i32,
    topic: *const u8,
    topic_len: i32,
    dead_letter_topic: *const u8,
    dead_letter_topic_len: i32,
    metadata: *const u8,
    metadata_len: i32,
    user_data: *mut c_void,
) -> *mut c_void {
    // SAFETY: the caller's contract.
    let client = unsafe { client(client_handle) }.clone();
    let args = unsafe {
        (|| -> Result<_> {
            let options = SubscriptionOptions {
                dead_letter_topic: optional_str(dead_letter_topic, dead_letter_topic_len, "dead_letter_topic")?,
                metadata: metadata_arg(metadata, metadata_len)?,
                ..Default::default()
            };
            Ok((required_str(pubsub_name, pubsub_name_len, "pubsub_name")?, required_str(topic, topic_len, "topic")?, options))
        })()
    };
    start(user_data, async move {
        let (pubsub_name, topic, options) = args?;
        let stream = client.subscribe(&pubsub_name, &topic, options).await?;
        Ok(Completed::boxed(SubscriptionStreamHandle::new(stream)))
    })
}

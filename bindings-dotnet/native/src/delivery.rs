//! Pulled deliveries: an event handed to the caller, which reads it and answers it exactly once
//! (`dapr_rs_event_ack`), and the streaming subscription it is pulled from.

use crate::abi::{DaprError, request_bytes};
use crate::requests::{self, bridge::DataKind};
use crate::runtime::{Completed, start};
use dapr_rs_core::{EventData, HandlerError, StreamCloser, StreamResponder, SubscriptionStream, TopicEvent, TopicEventStatus, answer_of};
use std::ffi::c_void;
use std::sync::Arc;
use tokio::sync::{Mutex, oneshot};

/// Where the answer to an event goes.
pub(crate) enum Ack {
    /// An app server's handler waits for it, and core answers it by its one rule.
    App(oneshot::Sender<Result<TopicEventStatus, HandlerError>>),
    /// A streaming subscription sends it to the sidecar by event id.
    Stream(StreamResponder),
}

/// An event handed to the caller. The view's pointers point into `attributes` and `event.data`,
/// which live until the event is acknowledged.
pub(crate) struct PulledEvent {
    view: DaprEventView,
    #[allow(dead_code)] // owns the bytes `view.attributes_ptr` points at
    attributes: Vec<u8>,
    event: TopicEvent,
    ack: Ack,
}

/// What the caller reads of an event. `attributes` is the JSON text of an object with the
/// CloudEvent attributes (`id`, `source`, `type`, `specversion`, `datacontenttype`, `topic`,
/// `pubsubname`, `path`), `extensions` (every other attribute) and `metadata` (the broker
/// message's, string to string; a reader that does not know the key ignores it); `data` the payload bytes;
/// `data_kind` how core decoded them (the request's `DataKind`: 0 bytes, 1 text, 2 JSON); `subscription` the index of the
/// app host subscription it was delivered to (-1 for a streaming subscription).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DaprEventView {
    pub attributes_ptr: *const u8,
    pub attributes_len: i32,
    pub data_ptr: *const u8,
    pub data_len: i32,
    pub data_kind: i32,
    pub subscription: i32,
}

// SAFETY: the view's pointers point into bytes the event owns (a Vec and refcounted `Bytes`),
// which move with it and are never shared mutably.
unsafe impl Send for PulledEvent {}

impl PulledEvent {
    pub(crate) fn new(event: TopicEvent, subscription: i32, ack: Ack) -> Box<Self> {
        let attributes = attributes_json(&event);
        let view = DaprEventView {
            attributes_ptr: attributes.as_ptr(),
            attributes_len: attributes.len() as i32,
            data_ptr: event.data.as_ptr(),
            data_len: event.data.len() as i32,
            data_kind: data_kind(&event) as i32,
            subscription,
        };
        Box::new(Self { view, attributes, event, ack })
    }
}

/// How core decoded the event's payload, as the caller is told (a batch's entries too).
pub(crate) fn data_kind(event: &TopicEvent) -> DataKind {
    match event.decoded_data() {
        EventData::Bytes(_) => DataKind::Bytes,
        EventData::Text(_) => DataKind::Text,
        EventData::Json(_) => DataKind::Json,
    }
}

/// The JSON text of an event's attributes, as [`DaprEventView`] describes it (a batch's entries too).
pub(crate) fn attributes_json(event: &TopicEvent) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": event.id,
        "source": event.source,
        "type": event.event_type,
        "specversion": event.spec_version,
        "datacontenttype": event.data_content_type,
        "topic": event.topic,
        "pubsubname": event.pubsub_name,
        "path": event.path,
        "extensions": event.extensions,
        "metadata": event.metadata,
    }))
    .unwrap_or_default()
}

/// Reads an event (valid until it is acknowledged).
///
/// # Safety
/// `event` is an event handle not yet acknowledged.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_event_view(event: *mut c_void) -> DaprEventView {
    // SAFETY: the caller's contract.
    let event = unsafe { &*(event as *const PulledEvent) };
    event.view
}

/// Answers an event with an encoded `EventAnswer` (a status, or the handler's failure) and frees
/// it. Core's one rule ([`answer_of`]) decides the answer: a status as is, a failure RETRY. An
/// unreadable answer is an error, and the event is answered as a failure (RETRY).
///
/// # Safety
/// `event` is an event handle not yet acknowledged; it is invalid afterwards. `request` points at
/// `request_len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_event_ack(event: *mut c_void, request: *const u8, request_len: i32) -> *mut DaprError {
    // SAFETY: made by `Box::into_raw` of a `PulledEvent`, consumed once.
    let event = unsafe { Box::from_raw(event as *mut PulledEvent) };
    // SAFETY: the caller's contract.
    let (outcome, malformed) = match unsafe { request_bytes(request, request_len) }.and_then(requests::event_answer) {
        Ok(outcome) => (outcome, None),
        Err(e) => (Err(HandlerError::from(e.clone())), Some(e)),
    };
    let sent = match event.ack {
        // The app server's handler runner applies the rule. The handler is gone only when its
        // server stopped; the sidecar redelivers then.
        Ack::App(tx) => {
            let _ = tx.send(outcome);
            Ok(())
        }
        Ack::Stream(responder) => responder.respond(&event.event.id, answer_of(&event.event.id, Ok(outcome))),
    };
    DaprError::from_result(malformed.map_or(sent, Err))
}

/// An open streaming subscription, as the caller holds it.
pub(crate) struct SubscriptionStreamHandle {
    stream: Arc<Mutex<SubscriptionStream>>,
    responder: StreamResponder,
    closer: StreamCloser,
}

impl SubscriptionStreamHandle {
    pub(crate) fn new(stream: SubscriptionStream) -> Self {
        let (responder, closer) = (stream.responder(), stream.closer());
        Self { stream: Arc::new(Mutex::new(stream)), responder, closer }
    }
}

/// Completes with the next event of the stream (an event handle), or with null once the stream is
/// closed; with an error when the sidecar refused the subscription for good.
///
/// # Safety
/// `stream` is a live stream handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_stream_next(stream: *mut c_void, user_data: *mut c_void) -> *mut c_void {
    // SAFETY: the caller's contract.
    let handle = unsafe { &*(stream as *const SubscriptionStreamHandle) };
    let (stream, responder) = (handle.stream.clone(), handle.responder.clone());
    start(user_data, async move {
        match stream.lock().await.next().await {
            Some(Ok(message)) => Ok(Completed(Box::into_raw(PulledEvent::new(message.event, -1, Ack::Stream(responder))) as *mut c_void)),
            Some(Err(e)) => Err(e),
            None => Ok(Completed::NOTHING),
        }
    })
}

/// Ends the subscription; a pending `dapr_rs_stream_next` completes with null.
///
/// # Safety
/// `stream` is a live stream handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_stream_close(stream: *mut c_void) {
    // SAFETY: the caller's contract.
    unsafe { &*(stream as *const SubscriptionStreamHandle) }.closer.close();
}

/// Closes and frees a stream handle.
///
/// # Safety
/// `stream` is null or a stream handle not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_stream_free(stream: *mut c_void) {
    if !stream.is_null() {
        // SAFETY: boxed by `dapr_rs_client_subscribe`'s completion, freed once.
        let handle = unsafe { Box::from_raw(stream as *mut SubscriptionStreamHandle) };
        handle.closer.close();
    }
}

//! Pulled batches: a bulk delivery handed whole to a caller's batch handler as one encoded
//! `DeliveredBatch`, answered once with an encoded `BatchAnswer`. Core decides what the answer
//! means (an entry left out or a failure: RETRY), so the caller only reports what its handler did.

use crate::abi::{DaprError, request_bytes};
use crate::delivery::{attributes_json, data_kind};
use crate::requests::{self, bridge};
use dapr_rs_core::{HandlerError, Result, TopicEvent, TopicEventStatus, TopicHandler, statuses_by_entry_id};
use prost::Message;
use std::ffi::c_void;
use std::future::Future;
use std::pin::Pin;
use tokio::sync::{mpsc, oneshot};

/// What a batch handler answered, by entry id, or its failure.
type BatchOutcome = std::result::Result<Vec<(String, TopicEventStatus)>, HandlerError>;

/// A batch handed to the caller: its encoding, which lives until the batch is acknowledged.
pub(crate) struct PulledBatch {
    encoded: Vec<u8>,
    ack: oneshot::Sender<BatchOutcome>,
}

/// What the caller reads of a batch: the bytes of a `DeliveredBatch` (`proto/dapr_rs_bridge.proto`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DaprBatchView {
    pub encoded_ptr: *const u8,
    pub encoded_len: i32,
}

/// The `DeliveredBatch` of `events`, delivered to the app host subscription `subscription`.
pub(crate) fn delivered_batch(subscription: i32, events: &[TopicEvent]) -> Vec<u8> {
    let first = events.first();
    bridge::DeliveredBatch {
        subscription,
        // One call to the app is one subscription's: its events share pubsub and topic.
        pubsub_name: first.map(|e| e.pubsub_name.clone()).unwrap_or_default(),
        topic: first.map(|e| e.topic.clone()).unwrap_or_default(),
        entries: events
            .iter()
            .map(|event| bridge::DeliveredEntry {
                entry_id: event.entry_id.clone(),
                attributes: attributes_json(event).into(),
                data: event.data.clone(),
                data_kind: data_kind(event) as i32,
            })
            .collect(),
    }
    .encode_to_vec()
}

/// Hands each batch to the caller and answers what the caller acknowledges.
pub(crate) struct PulledBatchHandler {
    pub(crate) index: i32,
    pub(crate) queue: mpsc::UnboundedSender<Box<PulledBatch>>,
}

impl TopicHandler for PulledBatchHandler {
    fn handle(&self, event: TopicEvent) -> Pin<Box<dyn Future<Output = Result<TopicEventStatus, HandlerError>> + Send + '_>> {
        Box::pin(dapr_rs_core::handle_as_batch_of_one(self, event))
    }

    fn handle_batch(
        &self,
        events: Vec<TopicEvent>,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<TopicEventStatus>, HandlerError>> + Send + '_>> {
        Box::pin(async move {
            let entry_ids: Vec<String> = events.iter().map(|e| e.entry_id.clone()).collect();
            let (tx, rx) = oneshot::channel();
            let encoded = delivered_batch(self.index, &events);
            // The view hands the length over as an i32: a larger batch fails (core answers RETRY).
            if i32::try_from(encoded.len()).is_err() {
                return Err(format!("a batch of {} bytes encoded is more than the C ABI hands over (2 GiB)", encoded.len()).into());
            }
            let batch = Box::new(PulledBatch { encoded, ack: tx });
            self.queue.send(batch).map_err(|_| -> HandlerError { "the app host is stopping".into() })?;
            // Dropped unanswered (the caller shut down) is a failure: core answers RETRY for all.
            let answer = rx.await.map_err(|_| -> HandlerError { "the app dropped the batch without answering it".into() })??;
            Ok(statuses_by_entry_id(&entry_ids, answer))
        })
    }
}

/// Reads a batch (valid until it is acknowledged).
///
/// # Safety
/// `batch` is a batch handle not yet acknowledged.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_batch_view(batch: *mut c_void) -> DaprBatchView {
    // SAFETY: the caller's contract.
    let batch = unsafe { &*(batch as *const PulledBatch) };
    // Under 2 GiB: `handle_batch` hands over no larger batch.
    DaprBatchView { encoded_ptr: batch.encoded.as_ptr(), encoded_len: i32::try_from(batch.encoded.len()).unwrap_or(i32::MAX) }
}

/// Answers a batch with an encoded `BatchAnswer` (statuses by entry id, or the handler's failure)
/// and frees it. Core decides each entry's status: as answered, RETRY when left out, RETRY for
/// all on a failure. An unreadable answer is an error, and the batch is answered as a failure.
///
/// # Safety
/// `batch` is a batch handle not yet acknowledged; it is invalid afterwards. `request` points at
/// `request_len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_batch_ack(batch: *mut c_void, request: *const u8, request_len: i32) -> *mut DaprError {
    // SAFETY: made by `Box::into_raw` of a `PulledBatch`, consumed once.
    let batch = unsafe { Box::from_raw(batch as *mut PulledBatch) };
    // SAFETY: the caller's contract.
    let (outcome, malformed) = match unsafe { request_bytes(request, request_len) }.and_then(requests::batch_answer) {
        Ok(outcome) => (outcome, None),
        Err(e) => (Err(HandlerError::from(e.clone())), Some(e)),
    };
    // The handler is gone only when its server stopped; the sidecar redelivers then.
    let _ = batch.ack.send(outcome);
    DaprError::from_result(malformed.map_or(Ok(()), Err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
    }

    /// The bytes bindings-dotnet/tests/BridgeRequestTests.cs reads with its ProtoReader.
    #[test]
    fn a_batch_is_encoded_as_the_csharp_reader_expects() {
        let event = TopicEvent {
            entry_id: "e".into(),
            data_content_type: "application/json".into(),
            data: "1".into(),
            pubsub_name: "p".into(),
            topic: "t".into(),
            ..Default::default()
        };
        let encoded = delivered_batch(2, &[event]);
        let decoded = bridge::DeliveredBatch::decode(encoded.as_slice()).unwrap();
        assert_eq!((decoded.subscription, decoded.pubsub_name.as_str(), decoded.topic.as_str()), (2, "p", "t"));
        let entry = &decoded.entries[0];
        assert_eq!((entry.entry_id.as_str(), entry.data.as_ref(), entry.data_kind), ("e", b"1".as_slice(), bridge::DataKind::Json as i32));
        let attributes: serde_json::Value = serde_json::from_slice(&entry.attributes).unwrap();
        assert_eq!((attributes["topic"].as_str(), attributes["datacontenttype"].as_str()), (Some("t"), Some("application/json")));
        // The frame around the entry; BridgeRequestTests.cs decodes the same prefix.
        assert_eq!(hex(&encoded[..9]), "08 02 12 01 70 1a 01 74 22");
    }

    #[tokio::test]
    async fn the_answer_decides_each_entry_by_core_rules() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let handler = PulledBatchHandler { index: 0, queue: tx };
        let events = ["a", "b", "c"].map(|id| TopicEvent { entry_id: id.into(), ..Default::default() }).to_vec();
        let answering = tokio::spawn(async move {
            let batch = rx.recv().await.unwrap();
            // a: DROP, c: SUCCESS, b left out: the bytes BridgeRequestTests.cs has BatchAnswer write.
            let answer = [0x0a, 0x0c, 0x0a, 0x05, 0x0a, 0x01, b'a', 0x10, 0x02, 0x0a, 0x03, 0x0a, 0x01, b'c'];
            // SAFETY: a live batch handle, acknowledged once; the answer is readable.
            let error = unsafe { dapr_rs_batch_ack(Box::into_raw(batch) as *mut c_void, answer.as_ptr(), answer.len() as i32) };
            assert!(error.is_null());
        });
        let statuses = handler.handle_batch(events).await.unwrap();
        answering.await.unwrap();
        assert_eq!(statuses, [TopicEventStatus::Drop, TopicEventStatus::Retry, TopicEventStatus::Success]);
    }
}

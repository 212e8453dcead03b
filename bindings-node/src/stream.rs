//! `NativeSubscriptionStream`: core's [`SubscriptionStream`], read one event per `next()`
//! Promise; the facade wraps it in an async iterator.

use crate::errors::{invalid_argument, to_js_error};
use crate::event::DeliveredEvent;
use dapr_rs_core::{StreamCloser, StreamResponder, SubscriptionStream, TopicEventStatus};
use napi_derive::napi;
use tokio::sync::Mutex;

#[napi]
pub struct NativeSubscriptionStream {
    stream: Mutex<SubscriptionStream>,
    responder: StreamResponder,
    closer: StreamCloser,
}

impl NativeSubscriptionStream {
    pub fn new(stream: SubscriptionStream) -> Self {
        let (responder, closer) = (stream.responder(), stream.closer());
        Self { stream: Mutex::new(stream), responder, closer }
    }
}

/// A status word from JS (`SUCCESS` / `RETRY` / `DROP`) as core's status.
pub fn status_from_word(word: &str) -> napi::Result<TopicEventStatus> {
    TopicEventStatus::parse_status_word(word)
        .ok_or_else(|| invalid_argument(format!("unknown topic event status {word:?}; expected SUCCESS, RETRY or DROP")))
}

#[napi]
impl NativeSubscriptionStream {
    /// The next event, or `null` once the stream is closed; rejects on an error reconnecting
    /// cannot cure (the subscription was refused).
    #[napi]
    pub async fn next(&self) -> napi::Result<Option<DeliveredEvent>> {
        match self.stream.lock().await.next().await {
            Some(Ok(message)) => Ok(Some(DeliveredEvent::from(message.event))),
            Some(Err(e)) => Err(to_js_error(e)),
            None => Ok(None),
        }
    }

    /// Tells the sidecar what became of event `id`.
    #[napi]
    pub fn respond(&self, id: String, status: String) -> napi::Result<()> {
        self.responder.respond(&id, status_from_word(&status)?).map_err(to_js_error)
    }

    /// Ends the subscription; a pending `next()` resolves to `null`.
    #[napi]
    pub fn close(&self) {
        self.closer.close();
    }
}

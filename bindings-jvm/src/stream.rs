//! `SubscriptionStream`: core's [`CoreStream`], read one event per `next()` (Kotlin wraps it
//! in a `Flow`) and answered with `respond`, or handed to a handler with `serve`.

use crate::errors::DaprError;
use crate::event::{Event, EventStatus};
use crate::handler::{EventHandler, ForeignHandler};
use crate::runtime::{in_runtime, on_runtime};
use dapr_rs_core::{StreamCloser, StreamResponder, SubscriptionStream as CoreStream};
use std::sync::Arc;
use tokio::sync::Mutex;

#[derive(uniffi::Object)]
pub struct SubscriptionStream {
    /// Held by a pending `next()`, or by `serve()` until the stream ends.
    stream: Arc<Mutex<CoreStream>>,
    responder: StreamResponder,
    closer: StreamCloser,
    /// `pubsub/topic`, naming a served stream's handler in the failures core logs.
    label: String,
}

impl SubscriptionStream {
    pub fn new(stream: CoreStream, label: String) -> Arc<Self> {
        let (responder, closer) = (stream.responder(), stream.closer());
        Arc::new(Self { stream: Arc::new(Mutex::new(stream)), responder, closer, label })
    }
}

#[uniffi::export]
impl SubscriptionStream {
    /// The next event, or null once the stream is closed; throws when the sidecar refused the
    /// subscription for good. Answer each event with [`SubscriptionStream::respond`].
    pub async fn next(&self) -> Result<Option<Event>, DaprError> {
        let stream = self.stream.clone();
        let next = in_runtime(async move { stream.lock().await.next().await.map(|m| m.map(|m| m.event)) }).await;
        Ok(next.transpose()?.map(Event::from))
    }

    /// Tells the sidecar what became of event `id`.
    pub fn respond(&self, id: String, status: EventStatus) -> Result<(), DaprError> {
        Ok(self.responder.respond(&id, status.into())?)
    }

    /// Calls `handler` on every event, up to `max_in_flight` at once, each answered by core's
    /// rule (a throw is RETRY). Returns once the stream is closed and running handlers answered
    /// (within core's grace: one that never returns is given up).
    pub async fn serve(&self, handler: Arc<dyn EventHandler>, max_in_flight: i32) -> Result<(), DaprError> {
        let stream = self.stream.clone();
        let handler = ForeignHandler::new(handler, self.label.clone());
        let max = usize::try_from(max_in_flight).unwrap_or(1);
        Ok(on_runtime(async move { stream.lock().await.serve(handler, max).await }).await?)
    }

    /// Ends the subscription; a pending `next()` returns null. (Not `close`: that is the
    /// generated object's `AutoCloseable.close`, which frees the native handle.)
    pub fn stop(&self) {
        self.closer.close();
    }

    pub fn is_closed(&self) -> bool {
        self.closer.is_closed()
    }
}

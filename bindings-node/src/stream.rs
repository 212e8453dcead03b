//! `NativeSubscriptionStream`: core's [`SubscriptionStream`], either read one event per `next()`
//! Promise (the facade wraps it in an async iterator) or handed to a JS handler with `serve()`.

use crate::errors::{invalid_argument, promise, to_js_error};
use crate::event::DeliveredEvent;
use crate::handler::{Dispatch, JsHandler, status_from_word};
use dapr_rs_core::{StreamCloser, StreamResponder, SubscriptionStream};
use napi::Env;
use napi::bindgen_prelude::PromiseRaw;
use napi_derive::napi;
use std::sync::Arc;
use tokio::sync::Mutex;

#[napi]
pub struct NativeSubscriptionStream {
    /// Held by a pending `next()`, or by `serve()` until the stream ends.
    stream: Arc<Mutex<SubscriptionStream>>,
    responder: StreamResponder,
    closer: StreamCloser,
    /// `pubsub/topic`, naming a served stream's handler in the failures core logs.
    label: String,
}

impl NativeSubscriptionStream {
    pub fn new(stream: SubscriptionStream, label: String) -> Self {
        let (responder, closer) = (stream.responder(), stream.closer());
        Self { stream: Arc::new(Mutex::new(stream)), responder, closer, label }
    }
}

#[napi]
impl NativeSubscriptionStream {
    /// The next event, or `null` once the stream is closed; rejects on an error reconnecting
    /// cannot cure (the subscription was refused).
    #[napi(ts_return_type = "Promise<DeliveredEvent | null>")]
    pub fn next<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, Option<DeliveredEvent>>> {
        let stream = self.stream.clone();
        promise(env, async move {
            match stream.lock().await.next().await {
                Some(Ok(message)) => Ok(Some(DeliveredEvent::from(message.event))),
                Some(Err(e)) => Err(e),
                None => Ok(None),
            }
        })
    }

    /// Calls `dispatch` (the facade's dispatcher, handler 0) on every event, up to `maxInFlight`
    /// at once, and answers each by core's one rule. Resolves once the stream is closed and the
    /// handlers still running have answered (those still running 5 s after the end are given
    /// up); rejects with the error that ended it for good.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn serve<'env>(
        &self,
        env: &'env Env,
        #[napi(ts_arg_type = "(delivery: Delivery) => Promise<unknown>")] dispatch: Dispatch,
        max_in_flight: u32,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let stream = self.stream.clone();
        let handler = Arc::new(JsHandler::new(Arc::new(dispatch), 0, self.label.clone()));
        promise(env, async move { stream.lock().await.serve(handler, max_in_flight.try_into().unwrap_or(usize::MAX)).await })
    }

    /// Tells the sidecar what became of event `id`.
    #[napi]
    pub fn respond(&self, env: &Env, id: String, status: String) -> napi::Result<()> {
        let status = status_from_word(&status).map_err(|message| invalid_argument(env, message))?;
        self.responder.respond(&id, status).map_err(|e| to_js_error(env, &e))
    }

    /// Ends the subscription; a pending `next()` resolves to `null`.
    #[napi]
    pub fn close(&self) {
        self.closer.close();
    }
}

//! A JS handler as core's [`TopicHandler`], for app servers and streaming subscriptions alike.
//! Each delivery calls a ThreadsafeFunction, the facade's dispatcher, with the handler's index
//! and the event, and awaits the Promise it returns. What the handler answered becomes
//! `Ok(status)` or an `Err`; core's one answer rule ([`dapr_rs_core::answer_of`]) makes an `Err`
//! a RETRY, so no binding restates that rule.

use crate::event::DeliveredEvent;
use dapr_rs_core::{HandlerError, TopicEvent, TopicEventStatus, TopicHandler};
use napi::bindgen_prelude::{CallbackContext, FromNapiValue, JsObjectValue, Object, PromiseRaw, Unknown};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::{Status, ValueType, sys};
use napi_derive::napi;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use tokio::sync::oneshot;

/// What the dispatcher is called with: which handler, and the event.
#[napi(object)]
pub struct Delivery {
    pub handler: u32,
    pub event: DeliveredEvent,
}

/// The facade's dispatcher: resolves to what the handler returned. `WEAK` ones do not keep the
/// event loop alive. (`#[napi]` parameters of these types name their TS type: napi's type
/// generator does not follow type aliases.)
pub type DispatchOf<const WEAK: bool> = ThreadsafeFunction<Delivery, PendingAnswer, Delivery, Status, false, WEAK>;
pub type Dispatch = DispatchOf<false>;
/// For routes the app's own HTTP server serves: its sockets keep the process alive while it serves.
pub type WeakDispatch = DispatchOf<true>;

/// A status word from JS (`SUCCESS` / `RETRY` / `DROP`, any case) as core's status.
pub fn status_from_word(word: &str) -> Result<TopicEventStatus, String> {
    TopicEventStatus::parse_status_word(word)
        .ok_or_else(|| format!("unknown topic event status {word:?}; expected SUCCESS, RETRY or DROP (DaprPubSubStatusEnum)"))
}

/// What a handler answered, or why it failed.
type Answer = Result<TopicEventStatus, String>;

/// What a handler's Promise resolved to, read on the JS thread: a status word is that status, an
/// unknown word is the message naming it; any other value (`undefined`, or whatever a
/// `(data) => list.push(data)` returns) is SUCCESS, as `@dapr/dapr` ignores it too.
struct HandlerAnswer(Answer);

impl FromNapiValue for HandlerAnswer {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        let mut value_type = 0;
        napi::check_status!(unsafe { sys::napi_typeof(env, value, &mut value_type) })?;
        if ValueType::from(value_type) != ValueType::String {
            return Ok(Self(Ok(TopicEventStatus::Success)));
        }
        let word = unsafe { String::from_napi_value(env, value) }?;
        Ok(Self(status_from_word(&word)))
    }
}

/// The dispatcher's Promise, watched on the JS thread until it settles into the handler's answer.
/// (napi's own `Promise` keeps only a rejection's message; this keeps its stack for the log.)
pub struct PendingAnswer(oneshot::Receiver<Answer>);

impl FromNapiValue for PendingAnswer {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        let promise = unsafe { PromiseRaw::<HandlerAnswer>::from_napi_value(env, value) }?;
        let (tx, rx) = oneshot::channel();
        let on_resolve = Rc::new(Cell::new(Some(tx)));
        let on_reject = on_resolve.clone();
        promise
            .then(move |answer| {
                if let Some(tx) = on_resolve.take() {
                    let _ = tx.send(answer.value.0);
                }
                Ok(())
            })?
            // Also catches a resolution value that could not be read.
            .catch(move |thrown: CallbackContext<Unknown>| {
                if let Some(tx) = on_reject.take() {
                    let _ = tx.send(Err(failure_text(thrown.value)));
                }
                Ok(())
            })?;
        Ok(Self(rx))
    }
}

/// What a handler threw, for the log: an Error's stack (its message first), else the value's text.
fn failure_text(thrown: Unknown<'_>) -> String {
    if let Some(stack) = stack_of(thrown) {
        return stack;
    }
    match napi::Error::from_unknown_without_coercion(thrown).reason {
        reason if reason.is_empty() => format!("the handler threw a {:?} value", thrown.get_type().unwrap_or(ValueType::Unknown)),
        reason => reason,
    }
}

fn stack_of(thrown: Unknown<'_>) -> Option<String> {
    if thrown.get_type().ok()? != ValueType::Object {
        return None;
    }
    let stack = unsafe { thrown.cast::<Object>() }.ok()?.get_named_property_unchecked::<Unknown>("stack").ok()?;
    if stack.get_type().ok()? != ValueType::String {
        return None;
    }
    unsafe { stack.cast::<String>() }.ok()
}

/// One handler of a dispatcher, by its index in the facade's table; `label` (e.g.
/// `pubsub/topic /route`) names it in the failures core logs.
pub struct JsHandler<const WEAK: bool = false> {
    dispatch: Arc<DispatchOf<WEAK>>,
    index: u32,
    label: String,
}

impl<const WEAK: bool> JsHandler<WEAK> {
    pub fn new(dispatch: Arc<DispatchOf<WEAK>>, index: u32, label: String) -> Self {
        Self { dispatch, index, label }
    }

    fn failure(&self, why: &str) -> HandlerError {
        format!("the handler of {}: {why}", self.label).into()
    }
}

impl<const WEAK: bool> TopicHandler for JsHandler<WEAK> {
    fn handle(&self, event: TopicEvent) -> Pin<Box<dyn Future<Output = Result<TopicEventStatus, HandlerError>> + Send + '_>> {
        let delivery = Delivery { handler: self.index, event: DeliveredEvent::from(event) };
        Box::pin(async move {
            // A throw, a rejection, or a dispatcher gone with the event loop: the handler failed.
            let PendingAnswer(answer) = self.dispatch.call_async_catch(delivery).await.map_err(|e| self.failure(&e.reason))?;
            let answer = answer.await.map_err(|_| self.failure("its Promise was dropped unsettled"))?;
            answer.map_err(|why| self.failure(&why))
        })
    }
}

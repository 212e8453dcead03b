//! Core's [`Error`] as a JS `Error` made here, carrying `grpcCode`, `errorCode` (Dapr's, or
//! null), `kind` (core's [`dapr_rs_core::ErrorKind`] name, which the facade maps to a
//! `DaprError` subclass) and `detail` (the message without code decorations). Synchronous calls
//! throw it; [`promise`] rejects with it.

use dapr_rs_core::Error;
use napi::bindgen_prelude::{JsObjectValue, Object, PromiseRaw, ToNapiValue};
use napi::{Env, JsValue};
use std::future::Future;

/// The error object for `err`; should making it fail, that failure is what JS sees.
pub fn to_js_error(env: &Env, err: &Error) -> napi::Error {
    match error_object(env, err) {
        Ok(object) => napi::Error::from(object.to_unknown()),
        Err(e) => e,
    }
}

fn error_object<'env>(env: &'env Env, err: &Error) -> napi::Result<Object<'env>> {
    let mut object = env.create_error(napi::Error::from_reason(err.to_string()))?;
    object.set_named_property("grpcCode", err.grpc_code() as i32)?;
    object.set_named_property("errorCode", err.error_code())?;
    object.set_named_property("kind", err.kind().as_str())?;
    object.set_named_property("detail", err.message())?;
    Ok(object)
}

/// A caller's mistake found here (a bad port, a bad status word), thrown as core's `InvalidArgument`.
pub fn invalid_argument(env: &Env, message: impl Into<String>) -> napi::Error {
    to_js_error(env, &Error::InvalidArgument(message.into()))
}

/// Runs `work` on napi's tokio runtime as a Promise that rejects with [`to_js_error`]'s object.
/// (`#[napi] async fn` cannot do that: its rejection is made without an `Env`, so it could only
/// carry a message.)
pub fn promise<'env, T, F>(env: &'env Env, work: F) -> napi::Result<PromiseRaw<'env, T>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = Result<T, Error>> + Send + 'static,
{
    crate::settle::spawn_promise(env, work, |env, e| to_js_error(env, &e))
}

/// The floor under every call that returns a Promise, for the bench (`bench/node`): a [`promise`]
/// with nothing to do (but `busyUs` of CPU: `dapr_rs_core::floor_call`), so only its hand-off to
/// the runtime and back to the JS thread is timed. Not part of the facade.
#[napi_derive::napi(ts_return_type = "Promise<void>")]
pub fn promise_round_trip(env: &Env, busy_us: Option<u32>) -> napi::Result<PromiseRaw<'_, ()>> {
    promise(env, async move {
        dapr_rs_core::floor_call(busy_us.unwrap_or(0)).await;
        Ok(())
    })
}

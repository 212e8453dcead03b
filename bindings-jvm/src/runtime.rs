//! The one tokio runtime every call of this process runs on (core's shared channels and app
//! servers live on it). uniffi polls an exported future from the JVM's side: a short call
//! ([`in_runtime`]) is polled right there inside the runtime's context, so it costs no hop to a
//! tokio worker; long-lived work ([`on_runtime`]: serving a stream) is spawned on the runtime
//! and only its end wakes the JVM.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use tokio::runtime::Runtime;

pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| dapr_rs_core::binding_runtime("dapr-rs").expect("cannot start the dapr-rs tokio runtime"))
}

/// A future polled inside the runtime's context (its timers, its spawns), on whichever thread polls it.
pub struct InRuntime<F>(Pin<Box<F>>);

impl<F: Future> Future for InRuntime<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _entered = runtime().enter();
        self.0.as_mut().poll(cx)
    }
}

/// A call, polled by the JVM's coroutine itself; dropped (the call cancelled) with the coroutine.
pub fn in_runtime<F: Future>(work: F) -> InRuntime<F> {
    InRuntime(Box::pin(work))
}

/// Aborts the spawned task when the caller stops waiting (a cancelled coroutine drops its future).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs long-lived `work` on the runtime's workers; the JVM's coroutine waits for its end.
pub async fn on_runtime<T, F>(work: F) -> T
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let mut task = AbortOnDrop(runtime().spawn(work));
    match (&mut task.0).await {
        Ok(out) => out,
        // Aborted only by our own drop, so this is a panic in core: let it surface as one.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

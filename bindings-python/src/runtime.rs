//! The one tokio runtime every call of this process runs on, and the blocking bridge from
//! Python into it: the GIL is released while Rust waits, and Ctrl-C is still noticed.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::Runtime;

/// How often a blocked call wakes up to let Python run its signal handlers.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// The process's runtime, created on first use. A forked child gets a new one: the parent's
/// worker threads do not exist in the child, so its runtime can neither run nor be dropped.
pub fn runtime() -> PyResult<Arc<Runtime>> {
    static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    match slot.take() {
        Some((owner, rt)) if owner == pid => {
            *slot = Some((owner, rt.clone()));
            return Ok(rt);
        }
        Some((_, inherited)) => std::mem::forget(inherited),
        None => {}
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("dapr-rs")
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the dapr-rs runtime: {e}")))?;
    let rt = Arc::new(rt);
    *slot = Some((pid, rt.clone()));
    Ok(rt)
}

/// Runs `fut` to completion on the runtime with the GIL released, waking every
/// [`SIGNAL_POLL`] to run Python's signal handlers; if one raises (KeyboardInterrupt), the
/// future is dropped, which cancels it, and the exception propagates.
pub fn wait<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = runtime()?;
    let mut fut = std::pin::pin!(fut);
    loop {
        match py.detach(|| rt.block_on(async { tokio::time::timeout(SIGNAL_POLL, fut.as_mut()).await })) {
            Ok(out) => return Ok(out),
            Err(_) => py.check_signals()?,
        }
    }
}

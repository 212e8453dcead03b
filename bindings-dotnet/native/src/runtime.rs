//! The library's one tokio runtime, the completion callback that finishes every async call, and
//! the operation handles that cancel them.

use crate::abi::DaprError;
use dapr_rs_core::{Error, Result};
use std::ffi::c_void;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Finishes an async call: `(user_data, result, error)`; exactly one of result / error is
/// meaningful (result may be null for calls that return nothing).
pub type Completion = extern "C" fn(user_data: *mut c_void, result: *mut c_void, error: *mut DaprError);

static COMPLETION: Mutex<Option<Completion>> = Mutex::new(None);
static RUNTIME: Mutex<Option<tokio::runtime::Runtime>> = Mutex::new(None);
/// Set while `dapr_rs_shutdown` runs: completions are dropped instead of calling the caller, whose
/// runtime may be exiting (Mono parks a thread that enters managed code then, and would wait for it).
static CLOSING: AtomicBool = AtomicBool::new(false);
/// Completion callbacks running now; shutdown waits for them (briefly) before stopping the runtime.
static IN_CALLBACK: AtomicUsize = AtomicUsize::new(0);

/// The running runtime, started on first use (and again after `dapr_rs_shutdown`).
pub(crate) fn runtime() -> tokio::runtime::Handle {
    let mut guard = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    let runtime =
        guard.get_or_insert_with(|| dapr_rs_core::binding_runtime("dapr-rs-ffi").expect("cannot start the dapr-rs tokio runtime"));
    runtime.handle().clone()
}

/// Registers the callback every async call completes through. Call once, before anything else;
/// the callback must stay callable (kept alive) for as long as the library is used.
#[unsafe(no_mangle)]
pub extern "C" fn dapr_rs_init(completion: Completion) {
    *COMPLETION.lock().unwrap_or_else(|e| e.into_inner()) = Some(completion);
    init_logging();
}

/// Core logs what the caller cannot see otherwise (a handler's failure answered RETRY, a stream
/// reconnecting): to stderr, warnings and up unless `RUST_LOG` says otherwise. A process that
/// already has a subscriber keeps it.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colours only for a person at a terminal, not in a log file or a test runner's capture.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();
}

/// Stops the runtime: running calls are dropped without completing, servers and streams end.
/// For process exit (Mono waits for runtime threads that have run managed callbacks).
#[unsafe(no_mangle)]
pub extern "C" fn dapr_rs_shutdown() {
    CLOSING.store(true, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while IN_CALLBACK.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let runtime = RUNTIME.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(runtime) = runtime {
        runtime.shutdown_timeout(Duration::from_millis(500));
    }
    // A later call starts a new runtime, whose completions are delivered again.
    CLOSING.store(false, Ordering::SeqCst);
}

/// Hands an outcome to the caller's callback, unless shutdown has begun.
fn complete(user_data: *mut c_void, result: *mut c_void, error: *mut DaprError) {
    IN_CALLBACK.fetch_add(1, Ordering::SeqCst);
    let completion = if CLOSING.load(Ordering::SeqCst) { None } else { *COMPLETION.lock().unwrap_or_else(|e| e.into_inner()) };
    match completion {
        Some(complete) => complete(user_data, result, error),
        // No one to hand it to: only the error is ours to free (results are typed by call).
        // SAFETY: boxed by `DaprError::boxed` and never handed out.
        None => unsafe { crate::abi::dapr_rs_error_free(error) },
    }
    IN_CALLBACK.fetch_sub(1, Ordering::SeqCst);
}

/// A running async call, as far as its caller can steer it: it can be cancelled.
#[derive(Default)]
pub struct Operation {
    cancelled: AtomicBool,
    notify: Notify,
}

impl Operation {
    async fn cancelled(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.cancelled.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// What an async call completes with, as the `result` pointer of the callback.
pub(crate) struct Completed(pub(crate) *mut c_void);
// SAFETY: the pointer is a freshly boxed value handed over to the caller, never shared.
unsafe impl Send for Completed {}

impl Completed {
    pub(crate) const NOTHING: Completed = Completed(std::ptr::null_mut());

    pub(crate) fn boxed<T>(value: T) -> Self {
        Self(Box::into_raw(Box::new(value)) as *mut c_void)
    }
}

/// Runs `call` on the runtime and completes `user_data` with its outcome; returns the operation
/// handle (freed by the caller with `dapr_rs_operation_free`).
pub(crate) fn start<F>(user_data: *mut c_void, call: F) -> *mut c_void
where
    F: Future<Output = Result<Completed>> + Send + 'static,
{
    let operation = Arc::new(Operation::default());
    let watched = operation.clone();
    let user_data = user_data as usize;
    runtime().spawn(async move {
        let outcome = tokio::select! {
            biased;
            _ = watched.cancelled() => Err(Error::Cancelled),
            outcome = call => outcome,
        };
        let (result, error) = match outcome {
            Ok(Completed(result)) => (result, std::ptr::null_mut()),
            Err(e) => (std::ptr::null_mut(), DaprError::boxed(&e)),
        };
        complete(user_data as *mut c_void, result, error);
    });
    Arc::into_raw(operation) as *mut c_void
}

/// The floor under every async call, for the bench (`bench/dotnet`): a call with nothing to do but
/// `busy_us` of CPU (`dapr_rs_core::floor_call`), started on the runtime and completed through the
/// callback as every call is. Completes with no result; returns the operation handle, as every
/// call does.
#[unsafe(no_mangle)]
pub extern "C" fn dapr_rs_round_trip(user_data: *mut c_void, busy_us: u32) -> *mut c_void {
    start(user_data, async move {
        dapr_rs_core::floor_call(busy_us).await;
        Ok(Completed::NOTHING)
    })
}

/// Cancels an async call: it completes with CANCELLED unless it completed already.
///
/// # Safety
/// `operation` is an operation handle not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_operation_cancel(operation: *mut c_void) {
    if operation.is_null() {
        return;
    }
    // SAFETY: a live `Arc<Operation>` by the caller's contract; borrowed, not consumed.
    let operation = unsafe { &*(operation as *const Operation) };
    operation.cancelled.store(true, Ordering::Release);
    operation.notify.notify_waiters();
}

/// Frees an operation handle (the call itself runs on, or has finished).
///
/// # Safety
/// `operation` is null or an operation handle not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_operation_free(operation: *mut c_void) {
    if !operation.is_null() {
        // SAFETY: made by `Arc::into_raw` in `start`, released once.
        drop(unsafe { Arc::from_raw(operation as *const Operation) });
    }
}

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

/// pyo3-async-runtimes' view of the runtime above, so awaitables run on the same runtime (and
/// the same shared channel) as blocking calls, and follow it across a fork.
pub struct SharedRuntime;

tokio::task_local! {
    static TASK_LOCALS: std::cell::OnceCell<pyo3_async_runtimes::TaskLocals>;
}

impl pyo3_async_runtimes::generic::Runtime for SharedRuntime {
    type JoinError = TaskFailed;
    type JoinHandle = Joined;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Joined::Task(match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle.spawn(fut),
            // Only reached after `awaitable` made the runtime, so building it cannot fail here.
            Err(_) => runtime().expect("the dapr-rs runtime").spawn(fut),
        })
    }

    /// pyo3-async-runtimes hands results to the event loop here. They go to the one completion
    /// thread, which takes the GIL once for every result waiting, instead of a pool thread each.
    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        completions().send(Box::new(f));
        Joined::Done
    }
}

/// A spawned task, or work already handed over (nothing to wait for).
pub enum Joined {
    Task(tokio::task::JoinHandle<()>),
    Done,
}

impl Future for Joined {
    type Output = Result<(), TaskFailed>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        match self.get_mut() {
            Joined::Task(handle) => std::pin::Pin::new(handle).poll(cx).map(|r| r.map_err(TaskFailed)),
            Joined::Done => std::task::Poll::Ready(Ok(())),
        }
    }
}

/// A spawned task that panicked or was cancelled.
pub struct TaskFailed(tokio::task::JoinError);

impl pyo3_async_runtimes::generic::JoinError for TaskFailed {
    fn is_panic(&self) -> bool {
        self.0.is_panic()
    }

    fn into_panic(self) -> Box<dyn std::any::Any + Send + 'static> {
        self.0.into_panic()
    }
}

type Completion = Box<dyn FnOnce() + Send>;

/// Held by a completion thread while it hands results over; `true` once the interpreter exits.
type Gate = Arc<Mutex<bool>>;

/// The process's completion thread: its queue and its gate (both made anew in a forked child,
/// where the parent's thread does not exist and may have left its gate locked).
static COMPLETIONS: Mutex<Option<(u32, std::sync::mpsc::Sender<Completion>, Gate)>> = Mutex::new(None);

/// Called at interpreter exit (`atexit`, before finalization): waits, GIL released, for the
/// completion thread to finish what it is handing over, and stops it, so no Rust thread takes
/// the GIL while the interpreter is torn down.
#[pyfunction]
pub fn stop_completions(py: Python<'_>) {
    let gate = match COMPLETIONS.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        Some((owner, _, gate)) if *owner == std::process::id() => gate.clone(),
        _ => return,
    };
    py.detach(|| *gate.lock().unwrap_or_else(|e| e.into_inner()) = true);
}

/// The queue of the process's completion thread (started on first use, again in a forked child).
struct Completions(std::sync::mpsc::Sender<Completion>);

impl Completions {
    fn send(&self, job: Completion) {
        // The thread lives as long as the process; a send cannot fail while it does.
        let _ = self.0.send(job);
    }
}

fn completions() -> Completions {
    let pid = std::process::id();
    let mut slot = COMPLETIONS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((owner, tx, _)) = slot.as_ref()
        && *owner == pid
    {
        return Completions(tx.clone());
    }
    let (tx, rx) = std::sync::mpsc::channel::<Completion>();
    let gate: Gate = Arc::new(Mutex::new(false));
    let thread_gate = gate.clone();
    std::thread::Builder::new()
        .name("dapr-rs-asyncio".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let exiting = thread_gate.lock().unwrap_or_else(|e| e.into_inner());
                // Not once the interpreter is exiting: a result no loop will take is dropped.
                if *exiting
                    || Python::try_attach(|_py| {
                        first();
                        rx.try_iter().take(1023).for_each(|next| next());
                    })
                    .is_none()
                {
                    return;
                }
            }
        })
        .expect("cannot start the dapr-rs completion thread");
    // Inherited (after fork): its thread is gone and its gate may be locked; forgotten, not dropped.
    if let Some(inherited) = slot.replace((pid, tx.clone(), gate)) {
        std::mem::forget(inherited);
    }
    Completions(tx)
}

impl pyo3_async_runtimes::generic::ContextExt for SharedRuntime {
    fn scope<F, R>(locals: pyo3_async_runtimes::TaskLocals, fut: F) -> std::pin::Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = std::cell::OnceCell::new();
        cell.set(locals).ok();
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<pyo3_async_runtimes::TaskLocals> {
        TASK_LOCALS.try_with(|c| c.get().cloned()).unwrap_or_default()
    }
}

/// `fut` as an asyncio awaitable of the running loop: it runs on the shared runtime (no thread
/// per call) and the loop is only woken to take its result; cancelling the awaitable drops `fut`.
pub fn awaitable<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    runtime()?;
    // The running loop alone: results are plain values, so no contextvars copy is needed per call.
    let locals = pyo3_async_runtimes::TaskLocals::with_running_loop(py)?;
    pyo3_async_runtimes::generic::future_into_py_with_locals::<SharedRuntime, F, T>(py, locals, fut)
}

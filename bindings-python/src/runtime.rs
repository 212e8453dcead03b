//! The one tokio runtime every call of this process runs on, and the blocking bridge from
//! Python into it: the call is driven on the calling thread with the GIL released, and Ctrl-C is
//! still noticed.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};
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
    let rt =
        dapr_rs_core::binding_runtime("dapr-rs").map_err(|e| PyRuntimeError::new_err(format!("cannot start the dapr-rs runtime: {e}")))?;
    let rt = Arc::new(rt);
    *slot = Some((pid, rt.clone()));
    Ok(rt)
}

/// Runs `fut` to completion on the calling thread with the GIL released (see [`drive`]), taking
/// the GIL every [`SIGNAL_POLL`] to run Python's signal handlers; if one raises
/// (KeyboardInterrupt), the future is dropped, which cancels it, and the exception propagates.
pub fn wait<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = runtime()?;
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Some(out) = py.detach(|| drive(&rt, fut.as_mut(), SIGNAL_POLL)) {
            return Ok(out);
        }
        py.check_signals()?;
    }
}

/// Polls `fut` on this thread inside `rt`'s context (its sockets and timers are the runtime's),
/// parking between polls until its waker unparks this thread; `None` if it is not done within
/// `limit`. Unlike `Runtime::block_on` around a `tokio::time::timeout`, a call registers no timer,
/// whose arming woke the runtime's timer driver (another thread) on every call.
fn drive<F: Future>(rt: &Runtime, mut fut: Pin<&mut F>, limit: Duration) -> Option<F::Output> {
    let _entered = rt.enter();
    let waker = THIS_THREAD.with(Waker::clone);
    let mut cx = Context::from_waker(&waker);
    let until = Instant::now() + limit;
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Some(out);
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        // An unpark that came before this park (even one left from an earlier call) returns at once:
        // at worst one poll too many, never a lost wake-up.
        std::thread::park_timeout(left);
    }
}

/// A waker that unparks the thread it was made on.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    /// Made once per thread: a call allocates no waker.
    static THIS_THREAD: Waker = Waker::from(Arc::new(Unpark(std::thread::current())));
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

    /// pyo3-async-runtimes hands results to the event loop here: they wait in the [`Handoff`]
    /// for the loop's own thread, instead of a pool thread each taking the GIL.
    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        send_completion(Box::new(f));
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

/// Results waiting to be handed to their event loops. The loops take them on their own threads
/// (they hold the GIL there anyway), woken by a doorbell that needs no GIL to ring: a Rust
/// thread taking the GIL for each result would fight the busy loop for it.
struct Handoff {
    pid: u32,
    queue: Mutex<Vec<Completion>>,
    bell: std::os::unix::net::UnixStream,
    /// The loops' end of the doorbell (`add_reader`).
    door: std::os::unix::net::UnixStream,
    /// The loops that watch the door (a `weakref.WeakSet`).
    loops: Py<PyAny>,
}

/// The process's handoff, made on first use and anew in a forked child (whose loops must not
/// share a doorbell with the parent's).
static HANDOFF: Mutex<Option<Arc<Handoff>>> = Mutex::new(None);

fn handoff(py: Python<'_>) -> PyResult<Arc<Handoff>> {
    let pid = std::process::id();
    let mut slot = HANDOFF.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(h) = slot.as_ref().filter(|h| h.pid == pid) {
        return Ok(h.clone());
    }
    let (bell, door) = std::os::unix::net::UnixStream::pair()
        .and_then(|(bell, door)| {
            bell.set_nonblocking(true)?;
            door.set_nonblocking(true)?;
            Ok((bell, door))
        })
        .map_err(|e| PyRuntimeError::new_err(format!("cannot make the dapr-rs asyncio doorbell: {e}")))?;
    let loops = py.import("weakref")?.getattr("WeakSet")?.call0()?.unbind();
    let h = Arc::new(Handoff { pid, queue: Mutex::new(Vec::new()), bell, door, loops });
    // An inherited one (after fork) may hold results of the parent's loops: forgotten, not dropped.
    if let Some(inherited) = slot.replace(h.clone()) {
        std::mem::forget(inherited);
    }
    Ok(h)
}

impl Handoff {
    fn send(&self, job: Completion) {
        let first = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.push(job);
            queue.len() == 1
        };
        if first {
            // A full socket buffer already means a ring is pending.
            let _ = std::io::Write::write(&mut &self.bell, &[1]);
        }
    }

    /// Makes `event_loop` take results when the doorbell rings (once per loop).
    fn watched_by(&self, py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<()> {
        let loops = self.loops.bind(py);
        if loops.contains(event_loop)? {
            return Ok(());
        }
        use std::os::fd::AsRawFd;
        let take = wrap_pyfunction!(take_completions, py)?;
        event_loop.call_method1("add_reader", (self.door.as_raw_fd(), take))?;
        loops.call_method1("add", (event_loop,))?;
        Ok(())
    }
}

/// Run by an event loop when the doorbell rings: hands every waiting result over.
#[pyfunction]
fn take_completions(py: Python<'_>) -> PyResult<()> {
    let h = handoff(py)?;
    let mut rung = [0u8; 256];
    while matches!(std::io::Read::read(&mut &h.door, &mut rung), Ok(n) if n > 0) {}
    let jobs = std::mem::take(&mut *h.queue.lock().unwrap_or_else(|e| e.into_inner()));
    for job in jobs {
        job();
    }
    Ok(())
}

fn send_completion(job: Completion) {
    // Awaitables exist only after `awaitable` made this process's handoff, so it is there.
    let current = HANDOFF.lock().unwrap_or_else(|e| e.into_inner()).clone().filter(|h| h.pid == std::process::id());
    if let Some(h) = current {
        h.send(job);
    }
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
    handoff(py)?.watched_by(py, locals.event_loop(py).as_any())?;
    pyo3_async_runtimes::generic::future_into_py_with_locals::<SharedRuntime, F, T>(py, locals, fut)
}

/// [`awaitable`] for a call with nothing to return: it resolves to `None`, as `_native.pyi` says,
/// where pyo3 would turn `()` into an empty tuple.
pub fn awaitable_none<'py, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<()>> + Send + 'static,
{
    awaitable(py, async move { fut.await.map(|()| None::<()>) })
}

/// The floor under every blocking call, for the bench (`bench/python`): a task with nothing to do
/// but `busy_us` of CPU (`dapr_rs_core::floor_call`), run on the runtime and waited for as [`wait`]
/// waits, so only the hand-off to a runtime thread and the wake-up back are timed. Not part of the package's API.
#[pyfunction]
#[pyo3(signature = (busy_us = 0))]
pub fn _round_trip(py: Python<'_>, busy_us: u32) -> PyResult<()> {
    let rt = runtime()?;
    wait(py, rt.spawn(dapr_rs_core::floor_call(busy_us)))?.map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// The same for awaitables: a future with nothing to do, as [`awaitable`] runs every call.
#[pyfunction]
#[pyo3(signature = (busy_us = 0))]
pub fn _round_trip_async(py: Python<'_>, busy_us: u32) -> PyResult<Bound<'_, PyAny>> {
    awaitable_none(py, async move {
        dapr_rs_core::floor_call(busy_us).await;
        Ok(())
    })
}

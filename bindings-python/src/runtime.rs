//! The one tokio runtime every call of this process runs on, and the blocking bridge from
//! Python into it: the call is driven on the calling thread with the GIL released, and Ctrl-C is
//! still noticed.

use pyo3::IntoPyObjectExt;
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

/// A result to hand to its asyncio future, run by a loop's thread with the GIL held; it is given
/// that loop, which may not be the future's (see [`deliver`]).
type Completion = Box<dyn FnOnce(Python<'_>, &Bound<'_, PyAny>) + Send>;

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
    if jobs.is_empty() {
        return Ok(());
    }
    let running = py.import("asyncio")?.call_method0("get_running_loop")?;
    for job in jobs {
        job(py, &running);
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

/// `fut` as an asyncio future of the running loop: it runs on the shared runtime (no thread per
/// call), and its result is set by the loop's own thread, in a batch with the others that arrived
/// meanwhile (see [`Handoff`]); one write to the doorbell wakes the loop for all of them, where
/// `call_soon_threadsafe` writes to the loop's self-pipe for each. Cancelling the future aborts
/// `fut`; a panic in it is raised as a RuntimeError.
pub fn awaitable<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let rt = runtime()?;
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    handoff(py)?.watched_by(py, &event_loop)?;
    let future = event_loop.call_method0("create_future")?;
    let mut unsettled = Unsettled(Some((event_loop.unbind(), future.clone().unbind())));
    let task = rt.spawn(async move {
        let out = fut.await;
        if let Some((event_loop, target)) = unsettled.0.take() {
            send_completion(Box::new(move |py, running| deliver(py, running, event_loop, target, out.and_then(|v| v.into_py_any(py)))));
        }
    });
    future.call_method1("add_done_callback", (AbortOnCancel(task.abort_handle()),))?;
    Ok(future)
}

/// Settles `future` if `running` is its loop; else (a client used from several loops, whose
/// doorbell the other loop answered) asks the future's own loop to.
fn deliver(py: Python<'_>, running: &Bound<'_, PyAny>, event_loop: Py<PyAny>, future: Py<PyAny>, out: PyResult<Py<PyAny>>) {
    let event_loop = event_loop.bind(py);
    if event_loop.is(running) {
        settle(py, future.bind(py), out);
        return;
    }
    let later = SettleLater { future, out: Mutex::new(Some(out)) };
    // Fails only for a closed loop, where nobody awaits the future any more.
    let _ = event_loop.call_method1("call_soon_threadsafe", (later,));
}

/// Sets `future`'s result or exception, unless it was cancelled meanwhile.
fn settle(py: Python<'_>, future: &Bound<'_, PyAny>, out: PyResult<Py<PyAny>>) {
    let settled = future.call_method0("cancelled").and_then(|c| c.is_truthy()).and_then(|cancelled| {
        if cancelled {
            return Ok(());
        }
        match out {
            Ok(value) => future.call_method1("set_result", (value,)).map(drop),
            Err(err) => future.call_method1("set_exception", (err.into_value(py),)).map(drop),
        }
    });
    if let Err(err) = settled {
        err.write_unraisable(py, Some(future));
    }
}

/// [`settle`] as a callback for the future's own loop.
#[pyclass]
struct SettleLater {
    future: Py<PyAny>,
    out: Mutex<Option<PyResult<Py<PyAny>>>>,
}

#[pymethods]
impl SettleLater {
    fn __call__(&self, py: Python<'_>) {
        if let Some(out) = self.out.lock().unwrap_or_else(|e| e.into_inner()).take() {
            settle(py, self.future.bind(py), out);
        }
    }
}

/// A call's loop and future, until its result is sent: dropped without sending (the task
/// panicked, or was dropped with the runtime), it raises a RuntimeError in the future so no
/// awaiter waits forever. After a cancel (the task aborted) the future is cancelled already and
/// this changes nothing.
struct Unsettled(Option<(Py<PyAny>, Py<PyAny>)>);

impl Drop for Unsettled {
    fn drop(&mut self) {
        if let Some((event_loop, target)) = self.0.take() {
            let reason = if std::thread::panicking() { "the dapr-rs call panicked" } else { "the dapr-rs call was dropped" };
            send_completion(Box::new(move |py, running| deliver(py, running, event_loop, target, Err(PyRuntimeError::new_err(reason)))));
        }
    }
}

/// A done-callback that aborts the call's task when its future was cancelled.
#[pyclass]
struct AbortOnCancel(tokio::task::AbortHandle);

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.0.abort();
        }
        Ok(())
    }
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

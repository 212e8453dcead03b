//! Python callables as core [`TopicHandler`]s. Core calls handlers on tokio threads; a Python
//! handler runs on tokio's blocking pool instead, attached to the interpreter only while it runs,
//! so a slow handler never stalls the server.

use crate::event::PyTopicEvent;
use dapr_rs_core::{HandlerError, TopicEvent, TopicEventStatus, TopicHandler, statuses_by_entry_id};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyMapping, PyString, PyTuple};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

thread_local! {
    static IN_HANDLER: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is running a topic handler (so `App.stop()` must not wait for it).
pub fn in_handler() -> bool {
    IN_HANDLER.get()
}

/// Marks the current thread as running a handler until dropped (even if the handler panics).
struct HandlerScope;

impl HandlerScope {
    fn enter() -> Self {
        IN_HANDLER.set(true);
        HandlerScope
    }
}

impl Drop for HandlerScope {
    fn drop(&mut self) {
        IN_HANDLER.set(false);
    }
}

/// Whether the calling thread is running a topic handler: a close from there must not wait for
/// the handlers to finish, which would wait for itself.
#[pyfunction]
pub fn in_topic_handler() -> bool {
    in_handler()
}

/// A callable's name for the log, as `PyHandler` and `PyBatchHandler` take it.
fn handler_name(callable: &Bound<'_, PyAny>) -> PyResult<Arc<str>> {
    if !callable.is_callable() {
        return Err(PyTypeError::new_err(format!("a topic handler must be callable, not {}", callable.get_type().name()?)));
    }
    let name = match callable.getattr("__qualname__") {
        Ok(n) => n.str()?.to_string(),
        Err(_) => callable.repr()?.to_string(),
    };
    Ok(name.into())
}

/// Runs `call` on tokio's blocking pool, attached to the interpreter, marked as in a handler.
async fn on_python<T: Send + 'static>(
    call: impl FnOnce(Python<'_>) -> Result<T, HandlerError> + Send + 'static,
) -> Result<T, HandlerError> {
    let run = tokio::task::spawn_blocking(move || {
        let _scope = HandlerScope::enter();
        Python::attach(call)
    });
    run.await.map_err(|e| -> HandlerError { format!("the handler did not finish: {e}").into() })?
}

/// A handler's exception (or bad answer), logged with `what` it failed on, as core's error.
fn failed(py: Python<'_>, name: &str, what: &str, err: PyErr) -> HandlerError {
    log_failure(py, name, what, &err);
    format!("handler {name} failed: {err}").into()
}

/// A callable given one event at a time.
pub struct PyHandler {
    callable: Arc<Py<PyAny>>,
    name: Arc<str>,
}

impl PyHandler {
    pub fn new(callable: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Self { name: handler_name(callable)?, callable: Arc::new(callable.clone().unbind()) })
    }
}

impl TopicHandler for PyHandler {
    fn handle(&self, event: TopicEvent) -> Pin<Box<dyn Future<Output = Result<TopicEventStatus, HandlerError>> + Send + '_>> {
        let (callable, name) = (self.callable.clone(), self.name.clone());
        Box::pin(on_python(move |py| {
            let id = event.id.clone();
            let outcome = Py::new(py, PyTopicEvent(event))
                .and_then(|ev| callable.bind(py).call1((ev,)))
                .and_then(|ret| finish_coroutine(&ret))
                .and_then(|ret| status_of(&ret));
            outcome.map_err(|err| failed(py, &name, &format!("event {id}"), err))
        }))
    }
}

/// A callable of a bulk subscription, given a batch's events as a list (a single delivery as a
/// list of one), answering by [`statuses_of`].
pub struct PyBatchHandler(PyHandler);

impl PyBatchHandler {
    pub fn new(callable: &Bound<'_, PyAny>) -> PyResult<Self> {
        PyHandler::new(callable).map(Self)
    }
}

impl TopicHandler for PyBatchHandler {
    fn handle(&self, event: TopicEvent) -> Pin<Box<dyn Future<Output = Result<TopicEventStatus, HandlerError>> + Send + '_>> {
        Box::pin(dapr_rs_core::handle_as_batch_of_one(self, event))
    }

    fn handle_batch(
        &self,
        events: Vec<TopicEvent>,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<TopicEventStatus>, HandlerError>> + Send + '_>> {
        let (callable, name) = (self.0.callable.clone(), self.0.name.clone());
        Box::pin(on_python(move |py| {
            let ids: Vec<String> = events.iter().map(|e| e.entry_id.clone()).collect();
            let what = format!("a batch of {} events", ids.len());
            let outcome = events
                .into_iter()
                .map(|e| Py::new(py, PyTopicEvent(e)))
                .collect::<PyResult<Vec<_>>>()
                .and_then(|events| callable.bind(py).call1((events,)))
                .and_then(|ret| finish_coroutine(&ret))
                .and_then(|ret| statuses_of(&ret, &ids));
            outcome.map_err(|err| failed(py, &name, &what, err))
        }))
    }
}

/// What a bulk handler returned, one status per entry in order: one answer (as [`status_of`])
/// for every entry, a list or tuple of answers in the batch's order, or a mapping of entry id to
/// answer, read by core's rule (`statuses_by_entry_id`: an entry it leaves out is RETRY).
pub fn statuses_of(ret: &Bound<'_, PyAny>, entry_ids: &[String]) -> PyResult<Vec<TopicEventStatus>> {
    if ret.is_instance_of::<PyList>() || ret.is_instance_of::<PyTuple>() {
        let answers: Vec<Bound<'_, PyAny>> = ret.extract()?;
        if answers.len() != entry_ids.len() {
            return Err(PyValueError::new_err(format!("{} statuses for a batch of {} events", answers.len(), entry_ids.len())));
        }
        return answers.iter().map(status_of).collect();
    }
    if let Ok(by_id) = ret.cast::<PyMapping>() {
        let answers = by_id
            .items()?
            .iter()
            .map(|item| {
                let (id, answer): (String, Bound<'_, PyAny>) = item.extract()?;
                Ok((id, status_of(&answer)?))
            })
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(statuses_by_entry_id(entry_ids, answers));
    }
    let status = status_of(ret)?;
    Ok(vec![status; entry_ids.len()])
}

/// An `async def` handler's coroutine, run to completion on this (worker) thread's own event loop;
/// anything else as it is.
fn finish_coroutine<'py>(ret: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = ret.py();
    if py.import("inspect")?.call_method1("iscoroutine", (ret,))?.is_truthy()? {
        return py.import("asyncio")?.call_method1("run", (ret,));
    }
    Ok(ret.clone())
}

/// What a handler returned, as the status the sidecar is told: `None` is success; a status word
/// ('success' / 'retry' / 'drop', any case), a `TopicEventResponse` (ours or the official SDK's,
/// read through its `status`), or a status enum member (read through its `name`).
pub fn status_of(ret: &Bound<'_, PyAny>) -> PyResult<TopicEventStatus> {
    let py = ret.py();
    if ret.is_none() {
        return Ok(TopicEventStatus::Success);
    }
    if let Ok(word) = ret.cast::<PyString>() {
        return status_word(&word.to_cow()?);
    }
    if let Some(status) = ret.getattr_opt("status")? {
        return status_of(&status);
    }
    if ret.is_instance(&py.import("enum")?.getattr("Enum")?)? {
        return status_word(&ret.getattr("name")?.extract::<String>()?);
    }
    Err(PyTypeError::new_err(format!(
        "a topic handler must return None, a TopicEventResponse or 'success' / 'retry' / 'drop', not {}",
        ret.get_type().name()?
    )))
}

/// Core's status words; unlike a sidecar reading an HTTP reply, a typo here is the app's bug.
fn status_word(word: &str) -> PyResult<TopicEventStatus> {
    TopicEventStatus::parse_status_word(word)
        .ok_or_else(|| PyValueError::new_err(format!("unknown topic event status {word:?}; expected 'success', 'retry' or 'drop'")))
}

/// Logs the handler's exception with its traceback through `logging` (logger `dapr_rs`), or
/// prints it to stderr if logging itself fails; `handler` names it, `what` is what it failed on.
pub fn log_failure(py: Python<'_>, handler: &str, what: &str, err: &PyErr) {
    let logged = (|| -> PyResult<()> {
        let logger = py.import("logging")?.call_method1("getLogger", ("dapr_rs",))?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("exc_info", (err.get_type(py), err.value(py), err.traceback(py)))?;
        let msg = "topic handler %s failed on %s; answering RETRY";
        logger.call_method("error", (msg, handler, what), Some(&kwargs))?;
        Ok(())
    })();
    if logged.is_err() {
        err.print(py);
    }
}

//! Python callables as core [`TopicHandler`]s. Core calls handlers on tokio threads; a Python
//! handler runs on tokio's blocking pool instead, attached to the interpreter only while it runs,
//! so a slow handler never stalls the server.

use crate::event::PyTopicEvent;
use dapr_rs_core::{HandlerError, TopicEvent, TopicEventStatus, TopicHandler};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
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

pub struct PyHandler {
    callable: Arc<Py<PyAny>>,
    name: Arc<str>,
}

impl PyHandler {
    pub fn new(callable: &Bound<'_, PyAny>) -> PyResult<Self> {
        if !callable.is_callable() {
            return Err(PyTypeError::new_err(format!("a topic handler must be callable, not {}", callable.get_type().name()?)));
        }
        let name = match callable.getattr("__qualname__") {
            Ok(n) => n.str()?.to_string(),
            Err(_) => callable.repr()?.to_string(),
        };
        Ok(Self { callable: Arc::new(callable.clone().unbind()), name: name.into() })
    }
}

impl TopicHandler for PyHandler {
    fn handle(&self, event: TopicEvent) -> Pin<Box<dyn Future<Output = Result<TopicEventStatus, HandlerError>> + Send + '_>> {
        let (callable, name) = (self.callable.clone(), self.name.clone());
        Box::pin(async move {
            let run = tokio::task::spawn_blocking(move || {
                let _scope = HandlerScope::enter();
                Python::attach(|py| call(py, &callable, &name, event))
            });
            run.await.map_err(|e| -> HandlerError { format!("the handler did not finish: {e}").into() })?
        })
    }
}

fn call(py: Python<'_>, callable: &Py<PyAny>, name: &str, event: TopicEvent) -> Result<TopicEventStatus, HandlerError> {
    let id = event.id.clone();
    let outcome = Py::new(py, PyTopicEvent(event))
        .and_then(|ev| callable.bind(py).call1((ev,)))
        .and_then(|ret| finish_coroutine(&ret))
        .and_then(|ret| status_of(&ret));
    outcome.map_err(|err| {
        log_failure(py, name, &id, &err);
        format!("handler {name} failed: {err}").into()
    })
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
/// prints it to stderr if logging itself fails.
fn log_failure(py: Python<'_>, name: &str, event_id: &str, err: &PyErr) {
    let logged = (|| -> PyResult<()> {
        let logger = py.import("logging")?.call_method1("getLogger", ("dapr_rs",))?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("exc_info", (err.get_type(py), err.value(py), err.traceback(py)))?;
        let msg = "topic handler %s failed on event %s; answering RETRY";
        logger.call_method("error", (msg, name, event_id), Some(&kwargs))?;
        Ok(())
    })();
    if logged.is_err() {
        err.print(py);
    }
}

//! `SubscriptionStream`: core's streaming subscription (no app port; it reconnects by itself after
//! the sidecar restarts), read one event at a time, blocking (GIL released) or as an awaitable.

use crate::errors::to_py_err;
use crate::event::PyTopicEvent;
use crate::handler::{PyHandler, status_of};
use crate::runtime::{awaitable, awaitable_none, wait};
use dapr_rs_core::{StreamCloser, StreamResponder, SubscriptionStream};
use pyo3::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Mutex;

/// A stream's handler sees one event at a time, in order, as the official SDK's does.
const HANDLERS_IN_FLIGHT: usize = 1;

#[pyclass(frozen, name = "SubscriptionStream", module = "dapr_rs._native")]
pub struct PySubscriptionStream {
    stream: Arc<Mutex<SubscriptionStream>>,
    responder: StreamResponder,
    closer: StreamCloser,
    /// Set by `close()`, which only asks the stream's task to end.
    closing: AtomicBool,
    pubsub_name: String,
    topic: String,
}

impl PySubscriptionStream {
    pub fn new(stream: SubscriptionStream, pubsub_name: String, topic: String) -> Self {
        let (responder, closer) = (stream.responder(), stream.closer());
        Self { stream: Arc::new(Mutex::new(stream)), responder, closer, closing: AtomicBool::new(false), pubsub_name, topic }
    }
}

/// The next event of `stream`: `None` once it is closed; an error reconnecting cannot cure raises.
async fn next_event(stream: Arc<Mutex<SubscriptionStream>>) -> PyResult<Option<PyTopicEvent>> {
    match stream.lock().await.next().await {
        Some(Ok(message)) => Ok(Some(PyTopicEvent(message.event))),
        Some(Err(e)) => Err(to_py_err(e)),
        None => Ok(None),
    }
}

#[pymethods]
impl PySubscriptionStream {
    /// Blocks (GIL released) for the next event; None once closed, or after `timeout_s` seconds
    /// without one (`closed` tells which).
    #[pyo3(signature = (timeout_s = None))]
    fn next(&self, py: Python<'_>, timeout_s: Option<f64>) -> PyResult<Option<PyTopicEvent>> {
        let stream = self.stream.clone();
        match timeout_s {
            None => wait(py, next_event(stream))?,
            Some(s) => {
                let limit = crate::client::seconds("timeout", s)?;
                // Made inside the runtime: a tokio timer cannot be created outside one.
                match wait(py, async move { tokio::time::timeout(limit, next_event(stream)).await })? {
                    Ok(next) => next,
                    Err(_elapsed) => Ok(None),
                }
            }
        }
    }

    /// An awaitable of the next event; None once closed.
    fn next_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, next_event(self.stream.clone()))
    }

    /// Tells the sidecar what became of event `id`: `answer` as a handler may return it (None,
    /// 'success' / 'retry' / 'drop', a TopicEventResponse or a status enum member).
    fn respond(&self, id: &str, answer: &Bound<'_, PyAny>) -> PyResult<()> {
        self.responder.respond(id, status_of(answer)?).map_err(to_py_err)
    }

    /// Runs `handler` (called with each event) on every event until the subscription is closed,
    /// answering by core's one rule (what it returns, or RETRY if it raises or returns no
    /// status); blocks, GIL released. Raises the error that ended the stream for good.
    fn serve(&self, py: Python<'_>, handler: &Bound<'_, PyAny>) -> PyResult<()> {
        let (stream, handler) = (self.stream.clone(), Arc::new(PyHandler::new(handler)?));
        wait(py, async move { stream.lock().await.serve(handler, HANDLERS_IN_FLIGHT).await })?.map_err(to_py_err)
    }

    /// `serve` as an awaitable.
    fn serve_async<'py>(&self, py: Python<'py>, handler: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (stream, handler) = (self.stream.clone(), Arc::new(PyHandler::new(handler)?));
        awaitable_none(py, async move { stream.lock().await.serve(handler, HANDLERS_IN_FLIGHT).await.map_err(to_py_err) })
    }

    /// Ends the subscription: a waiting `next` returns None, and so does every later one.
    fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
        self.closer.close();
    }

    /// Whether the subscription is over: closed, or refused for good by the sidecar.
    #[getter]
    fn closed(&self) -> bool {
        self.closing.load(Ordering::Relaxed) || self.closer.is_closed()
    }

    #[getter]
    fn pubsub_name(&self) -> &str {
        &self.pubsub_name
    }

    #[getter]
    fn topic(&self) -> &str {
        &self.topic
    }

    fn __repr__(&self) -> String {
        format!("SubscriptionStream(pubsub_name={:?}, topic={:?})", self.pubsub_name, self.topic)
    }
}

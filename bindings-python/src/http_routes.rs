//! `HttpSubscriptions`: core's HTTP app rules for an app whose own web framework (FastAPI, Flask:
//! `dapr_rs.ext`) serves the sidecar. The framework routes each call and runs the handler; core
//! reads the call and writes the reply, with the functions its own HTTP app server calls
//! ([`read_delivery`], [`subscribe_reply`], [`DeliveryAnswer::reply`], and
//! [`DeliveryAnswer::reply_to_batch`] for a bulk subscription's batch handler) and the answer rule
//! ([`answer_of`]).

use crate::app::{add_subscription, py_subscription};
use crate::event::PyTopicEvent;
use crate::handler::{log_failure, status_of, statuses_of};
use dapr_rs_core::app::{DeliveryAnswer, HttpReply, app_api_token_from_env, read_delivery, subscribe_reply};
use dapr_rs_core::{HandlerError, Subscription, TopicEventStatus, answer_of};
use pyo3::exceptions::{PyBaseException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// A reply as the framework sends it: (status code, content type, body).
type Reply<'py> = (u16, &'static str, Bound<'py, PyBytes>);

/// A call's headers as (name, value) bytes, as ASGI gives them and WSGI's decode back to.
type Headers<'py> = Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)>;

fn reply<'py>(py: Python<'py>, reply: &HttpReply) -> Reply<'py> {
    (reply.status, reply.content_type, PyBytes::new(py, &reply.body))
}

/// Header names as text (they are ASCII; anything else cannot match a rule's name anyway).
fn header_pairs<'a>(headers: &'a Headers<'_>) -> Vec<(Cow<'a, str>, &'a [u8])> {
    headers.iter().map(|(name, value)| (String::from_utf8_lossy(name.as_bytes()), value.as_bytes())).collect()
}

#[pyclass(frozen, name = "HttpSubscriptions", module = "dapr_rs._native")]
pub struct PyHttpSubscriptions {
    subscriptions: Mutex<Vec<Subscription>>,
    /// `APP_API_TOKEN` when it was made: the sidecar must present it on every call.
    app_api_token: Option<String>,
}

impl PyHttpSubscriptions {
    fn subscriptions(&self) -> MutexGuard<'_, Vec<Subscription>> {
        self.subscriptions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl PyHttpSubscriptions {
    #[new]
    fn new() -> Self {
        Self { subscriptions: Mutex::new(Vec::new()), app_api_token: app_api_token_from_env() }
    }

    /// Adds a subscription of `pubsub_name`/`topic` whose events `handler` gets, and returns the
    /// route the framework must serve it at (`/events/<pubsub>/<topic>` unless `route` is given).
    /// With `bulk` (most events in a batch, longest wait in ms) the sidecar delivers batches, which
    /// `handler` takes as a list (answered with `HttpDelivery.reply_batch`).
    #[pyo3(signature = (pubsub_name, topic, handler, dead_letter_topic = None, metadata = None, match_expr = None, priority = 0, route = None, bulk = None))]
    #[allow(clippy::too_many_arguments)]
    fn add(
        &self,
        pubsub_name: String,
        topic: String,
        handler: &Bound<'_, PyAny>,
        dead_letter_topic: Option<String>,
        metadata: Option<HashMap<String, String>>,
        match_expr: Option<String>,
        priority: i32,
        route: Option<String>,
        bulk: Option<(i32, i32)>,
    ) -> PyResult<String> {
        // Core never calls its handler (the framework does): it is kept for the record.
        let sub = py_subscription(pubsub_name, topic, handler, dead_letter_topic, metadata, match_expr, priority, route, bulk)?;
        add_subscription(&mut self.subscriptions(), sub)
    }

    /// The answer to `GET /dapr/subscribe`: (status, content type, body).
    fn subscribe_reply<'py>(&self, py: Python<'py>, headers: Headers<'py>) -> Reply<'py> {
        let pairs = header_pairs(&headers);
        let answer = subscribe_reply(&self.subscriptions(), self.app_api_token.as_deref(), pairs.iter().map(|(n, v)| (n.as_ref(), *v)));
        reply(py, &answer)
    }

    /// Reads a delivery POSTed to `route` as core's HTTP app server does (the GIL released).
    fn read_delivery(&self, py: Python<'_>, route: &str, headers: Headers<'_>, body: &[u8]) -> PyResult<PyHttpDelivery> {
        let pairs = header_pairs(&headers);
        let read = py.detach(|| {
            let subs = self.subscriptions();
            read_delivery(&subs, self.app_api_token.as_deref(), route, pairs.iter().map(|(n, v)| (n.as_ref(), *v)), body)
                .map(|(_, delivery)| delivery)
        });
        let read = match read {
            Ok(delivery) => {
                let ids = delivery.events.iter().map(|e| e.id.clone()).collect();
                let entry_ids = delivery.events.iter().map(|e| e.entry_id.clone()).collect();
                let events = delivery.events.into_iter().map(|e| Py::new(py, PyTopicEvent(e))).collect::<PyResult<_>>()?;
                Ok(Read { route: route.to_owned(), events, ids, entry_ids, answer: delivery.answer })
            }
            Err(refused) => Err(refused),
        };
        Ok(PyHttpDelivery(read))
    }

    fn __repr__(&self) -> String {
        format!("HttpSubscriptions(routes={:?})", self.subscriptions().iter().map(Subscription::route).collect::<Vec<_>>())
    }
}

struct Read {
    route: String,
    events: Vec<Py<PyTopicEvent>>,
    ids: Vec<String>,
    /// The events' bulk entry ids, which a batch handler may answer by.
    entry_ids: Vec<String>,
    answer: DeliveryAnswer,
}

/// One delivery call read: its events for the handler, or the reply refusing it.
#[pyclass(frozen, name = "HttpDelivery", module = "dapr_rs._native")]
pub struct PyHttpDelivery(Result<Read, HttpReply>);

#[pymethods]
impl PyHttpDelivery {
    /// The events to hand to the handler, in order (one, a bulk envelope's, or none if refused).
    #[getter]
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        match &self.0 {
            Ok(read) => PyList::new(py, read.events.iter().map(|e| e.clone_ref(py))),
            Err(_) => Ok(PyList::empty(py)),
        }
    }

    /// The reply once the handler answered each event (what it returned, or the exception it
    /// raised), by core's answer rule: an exception, or an answer that is no status, is RETRY
    /// (and logged, logger `dapr_rs`). A refused call gets its refusal.
    fn reply<'py>(&self, py: Python<'py>, answers: Vec<Bound<'py, PyAny>>) -> PyResult<Reply<'py>> {
        let read = match &self.0 {
            Ok(read) => read,
            Err(refused) => return Ok(reply(py, refused)),
        };
        if answers.len() != read.events.len() {
            return Err(PyValueError::new_err(format!("{} answers for {} events", answers.len(), read.events.len())));
        }
        let statuses: Vec<TopicEventStatus> = answers
            .iter()
            .zip(&read.ids)
            .map(|(answer, id)| {
                let status = match answer.is_instance_of::<PyBaseException>() {
                    true => Err(PyErr::from_value(answer.clone())),
                    false => status_of(answer),
                };
                let outcome = status.map_err(|err| -> HandlerError {
                    log_failure(py, &format!("at {}", read.route), &format!("event {id}"), &err);
                    err.to_string().into()
                });
                answer_of(id, Ok(outcome))
            })
            .collect();
        Ok(reply(py, &read.answer.reply(&statuses)))
    }

    /// The reply once a bulk subscription's handler, given `events` as one list, answered (what it
    /// returned, as an `App` bulk handler's answer is read, or the exception it raised), by core's
    /// batch rule: a status per event, or RETRY for all of them when it raised or its answer does not
    /// fit the batch (logged, logger `dapr_rs`). A refused call gets its refusal.
    fn reply_batch<'py>(&self, py: Python<'py>, answer: Bound<'py, PyAny>) -> PyResult<Reply<'py>> {
        let read = match &self.0 {
            Ok(read) => read,
            Err(refused) => return Ok(reply(py, refused)),
        };
        let statuses = match answer.is_instance_of::<PyBaseException>() {
            true => Err(PyErr::from_value(answer)),
            false => statuses_of(&answer, &read.entry_ids),
        };
        let outcome = statuses.map_err(|err| -> HandlerError {
            log_failure(py, &format!("at {}", read.route), &format!("a batch of {} events", read.events.len()), &err);
            err.to_string().into()
        });
        Ok(reply(py, &read.answer.reply_to_batch(Ok(outcome))))
    }
}

//! `App`: subscriptions with Python handlers, served by core's app callback server (gRPC
//! `AppCallback`, or HTTP) on the shared runtime.

use crate::errors::to_py_err;
use crate::handler::{PyBatchHandler, PyHandler, in_handler};
use crate::runtime::{runtime, wait};
use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::{BulkSubscribeOptions, RoutingRule, Subscription, SubscriptionOptions, TopicHandler};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{oneshot, watch};

/// How the server ended: `None` while it runs.
type Ended = Option<dapr_rs_core::Result<()>>;

/// A started server: the signal that stops it and the news of its end.
struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    ended: watch::Receiver<Ended>,
}

impl Running {
    fn is_over(&self) -> bool {
        self.ended.borrow().is_some()
    }
}

#[pyclass(frozen, name = "App", module = "dapr_rs._native")]
pub struct PyApp {
    subscriptions: Mutex<Vec<Subscription>>,
    running: Mutex<Option<Running>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits (GIL released, signals checked) until the server has ended; how it ended.
fn wait_ended(py: Python<'_>, mut ended: watch::Receiver<Ended>) -> PyResult<dapr_rs_core::Result<()>> {
    let outcome = wait(py, async move {
        match ended.wait_for(Option::is_some).await {
            Ok(state) => state.clone(),
            Err(_) => None, // the watcher is gone with its runtime (after fork): nothing runs
        }
    })?;
    Ok(outcome.unwrap_or(Ok(())))
}

/// A subscription as `App.register` and `HttpSubscriptions.add` take it: `handler` gets single
/// events or, with `bulk` (most events in a batch, longest wait in ms), each batch as a list.
#[allow(clippy::too_many_arguments)] // those methods' keyword arguments, passed on as they are
pub(crate) fn py_subscription(
    pubsub_name: String,
    topic: String,
    handler: &Bound<'_, PyAny>,
    dead_letter_topic: Option<String>,
    metadata: Option<HashMap<String, String>>,
    match_expr: Option<String>,
    priority: i32,
    route: Option<String>,
    bulk: Option<(i32, i32)>,
) -> PyResult<Subscription> {
    let handler: Arc<dyn TopicHandler> = match bulk {
        Some(_) => Arc::new(PyBatchHandler::new(handler)?),
        None => Arc::new(PyHandler::new(handler)?),
    };
    let options = SubscriptionOptions {
        dead_letter_topic: dead_letter_topic.filter(|t| !t.is_empty()),
        metadata: metadata.unwrap_or_default(),
        rule: match_expr.map(|match_expr| RoutingRule { match_expr, priority }),
        route,
        bulk_subscribe: bulk
            .map(|(max_messages_count, max_await_duration_ms)| BulkSubscribeOptions { max_messages_count, max_await_duration_ms }),
    };
    Ok(Subscription::new(pubsub_name, topic, handler).with_options(options))
}

/// Adds `sub` to `subs` once it names its pubsub and topic and its route is given (if at all) and
/// free; the route it is served at.
pub(crate) fn add_subscription(subs: &mut Vec<Subscription>, sub: Subscription) -> PyResult<String> {
    if sub.pubsub_name.is_empty() || sub.topic.is_empty() {
        return Err(PyValueError::new_err("a subscription needs a pubsub_name and a topic"));
    }
    if sub.options.route.as_deref() == Some("") {
        return Err(PyValueError::new_err(format!("{}/{}: a route must not be empty", sub.pubsub_name, sub.topic)));
    }
    if bulk_limits_negative(sub.options.bulk_subscribe) {
        return Err(PyValueError::new_err(format!("{}/{}: bulk limits must not be negative", sub.pubsub_name, sub.topic)));
    }
    dapr_rs_core::check_route_is_free(subs, &sub).map_err(|e| PyValueError::new_err(e.message()))?;
    let route = sub.route();
    subs.push(sub);
    Ok(route)
}

fn bulk_limits_negative(bulk: Option<BulkSubscribeOptions>) -> bool {
    bulk.is_some_and(|b| b.max_messages_count < 0 || b.max_await_duration_ms < 0)
}

#[pymethods]
impl PyApp {
    #[new]
    fn new() -> Self {
        Self { subscriptions: Mutex::new(Vec::new()), running: Mutex::new(None) }
    }

    /// Routes events of `pubsub_name`/`topic` to `handler`; with `match_expr` (a CEL expression)
    /// only the matching ones, rules tried by ascending `priority`. With `bulk` (most events in a
    /// batch, longest wait in ms; 0 for the sidecar's default) the sidecar delivers batches, and
    /// `handler` gets each as a list of events.
    #[pyo3(signature = (pubsub_name, topic, handler, dead_letter_topic = None, metadata = None, match_expr = None, priority = 0, route = None, bulk = None))]
    #[allow(clippy::too_many_arguments)]
    fn register(
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
    ) -> PyResult<()> {
        if lock(&self.running).as_ref().is_some_and(|r| !r.is_over()) {
            return Err(PyRuntimeError::new_err("subscriptions must be registered before the app starts"));
        }
        let sub = py_subscription(pubsub_name, topic, handler, dead_letter_topic, metadata, match_expr, priority, route, bulk)?;
        add_subscription(&mut lock(&self.subscriptions), sub)?;
        Ok(())
    }

    /// Starts serving on `host:port` (port 0 picks a free one) and returns the bound port.
    #[pyo3(signature = (port, protocol = "grpc", host = "0.0.0.0"))]
    fn start(&self, py: Python<'_>, port: u16, protocol: &str, host: &str) -> PyResult<u16> {
        let protocol: AppProtocol = protocol.parse().map_err(|e: dapr_rs_core::Error| PyValueError::new_err(e.message()))?;
        let addr = (host, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| PyValueError::new_err(format!("cannot resolve the listen address {host}:{port}")))?;
        if let Some(r) = lock(&self.running).as_ref().filter(|r| !r.is_over()) {
            return Err(PyRuntimeError::new_err(format!("the app is already serving on {}", r.addr)));
        }
        let subscriptions = lock(&self.subscriptions).clone();
        let mut server = wait(py, AppServer::start(protocol, addr, subscriptions))?.map_err(to_py_err)?;
        let (addr, stop) = (server.local_addr(), server.take_stop_handle());
        let (ended_tx, ended) = watch::channel(None);
        runtime()?.spawn(async move {
            let outcome = server.wait().await;
            let _ = ended_tx.send(Some(outcome));
        });
        *lock(&self.running) = Some(Running { addr, stop, ended });
        Ok(addr.port())
    }

    /// Stops taking deliveries and waits for those in flight. From inside a handler it only asks
    /// the server to stop (waiting there would wait for itself); `run()` then returns.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let ended = match lock(&self.running).as_mut() {
            Some(r) => {
                if let Some(stop) = r.stop.take() {
                    let _ = stop.send(());
                }
                r.ended.clone()
            }
            None => return Ok(()),
        };
        if in_handler() {
            return Ok(());
        }
        wait_ended(py, ended)?.map_err(to_py_err)
    }

    /// `start()`, then block until the server stops (`stop()`, from a handler or another thread)
    /// or a signal handler raises (Ctrl-C), which stops the server gracefully first.
    #[pyo3(signature = (port, protocol = "grpc", host = "0.0.0.0"))]
    fn run(&self, py: Python<'_>, port: u16, protocol: &str, host: &str) -> PyResult<()> {
        self.start(py, port, protocol, host)?;
        let ended = match lock(&self.running).as_ref() {
            Some(r) => r.ended.clone(),
            None => return Ok(()),
        };
        match wait_ended(py, ended) {
            Ok(outcome) => outcome.map_err(to_py_err),
            Err(interrupted) => {
                // A second Ctrl-C while stopping abandons the graceful stop.
                let _ = self.stop(py);
                Err(interrupted)
            }
        }
    }

    /// The port being served, or None when not serving.
    #[getter]
    fn port(&self) -> Option<u16> {
        lock(&self.running).as_ref().filter(|r| !r.is_over()).map(|r| r.addr.port())
    }

    fn __repr__(&self) -> String {
        let subs = lock(&self.subscriptions).len();
        match lock(&self.running).as_ref().filter(|r| !r.is_over()) {
            Some(r) => format!("App(subscriptions={subs}, serving={})", r.addr),
            None => format!("App(subscriptions={subs})"),
        }
    }
}

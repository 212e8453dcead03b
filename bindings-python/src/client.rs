//! `DaprClient`: core's client. Each call either blocks the calling Python thread (GIL released)
//! until the sidecar answers, or (`*_async`, for `dapr_rs.aio`) returns an asyncio awaitable.

use crate::errors::to_py_err;
use crate::runtime::{awaitable, awaitable_none, runtime, wait};
use crate::stream::PySubscriptionStream;
use dapr_rs_core::{BulkPublishEntry, ClientOptions, DaprClient, PublishPayload, PublishRequest, SubscriptionOptions, TraceContext};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyMemoryView, PyString};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

type Metadata = Option<HashMap<String, String>>;

#[pyclass(frozen, name = "DaprClient", module = "dapr_rs._native")]
pub struct PyDaprClient {
    options: ClientOptions,
    /// The core client and the process it was made in: a forked child makes its own.
    inner: Mutex<(u32, DaprClient)>,
}

/// A core client; its channel spawns its connection task on the runtime it is made in.
fn connect(options: &ClientOptions) -> PyResult<DaprClient> {
    let rt = runtime()?;
    let _entered = rt.enter();
    DaprClient::new(options.clone()).map_err(to_py_err)
}

/// A Python value as core's [`PublishPayload`] (which picks the content type): `str` as text,
/// bytes-like as bytes (zero-copy: the object stays alive until the request is sent), anything
/// else (dataclasses and pydantic models too) as the JSON text `dapr_rs._model.dumps` gives it.
fn payload(data: &Bound<'_, PyAny>) -> PyResult<PublishPayload> {
    if let Ok(text) = data.cast::<PyString>() {
        return Ok(PublishPayload::Text(text.to_cow()?.into_owned()));
    }
    if let Ok(bytes) = data.extract::<PyBackedBytes>() {
        return Ok(PublishPayload::Bytes(bytes::Bytes::from_owner(bytes)));
    }
    if data.is_instance_of::<PyMemoryView>() {
        let bytes: PyBackedBytes = data.call_method0("tobytes")?.extract()?;
        return Ok(PublishPayload::Bytes(bytes::Bytes::from_owner(bytes)));
    }
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = data.py();
    let dumps = DUMPS.get_or_try_init(py, || Ok::<_, PyErr>(py.import("dapr_rs._model")?.getattr("dumps")?.unbind()))?;
    let text: String = dumps.bind(py).call1((data,))?.extract()?;
    Ok(PublishPayload::json(text))
}

fn publish_request(
    pubsub_name: String,
    topic: String,
    data: &Bound<'_, PyAny>,
    data_content_type: Option<String>,
    metadata: Metadata,
) -> PyResult<PublishRequest> {
    let (data, data_content_type) = payload(data)?.into_data(data_content_type);
    Ok(PublishRequest { pubsub_name, topic, data, data_content_type, metadata: metadata.unwrap_or_default() })
}

fn bulk_entries(entries: Vec<(String, Bound<'_, PyAny>, Option<String>, Metadata)>) -> PyResult<Vec<BulkPublishEntry>> {
    entries
        .into_iter()
        .map(|(entry_id, data, content_type, metadata)| {
            let (event, content_type) = payload(&data)?.into_data(content_type);
            Ok(BulkPublishEntry { entry_id, event, content_type, metadata: metadata.unwrap_or_default() })
        })
        .collect()
}

/// The W3C trace a publish, single or bulk, continues (none when both are absent).
fn trace_context(traceparent: Option<String>, tracestate: Option<String>) -> TraceContext {
    TraceContext::new(traceparent.unwrap_or_default(), tracestate.unwrap_or_default())
}

async fn bulk_publish(
    client: DaprClient,
    pubsub_name: String,
    topic: String,
    entries: Vec<BulkPublishEntry>,
    metadata: Metadata,
    trace: TraceContext,
) -> PyResult<Vec<(String, String)>> {
    let failed =
        client.bulk_publish_traced(&pubsub_name, &topic, entries, metadata.unwrap_or_default(), &trace).await.map_err(to_py_err)?;
    Ok(failed.into_iter().map(|f| (f.entry_id, f.error)).collect())
}

async fn open_stream(
    client: DaprClient,
    pubsub_name: String,
    topic: String,
    dead_letter_topic: Option<String>,
    metadata: Metadata,
) -> PyResult<PySubscriptionStream> {
    let options = SubscriptionOptions {
        dead_letter_topic: dead_letter_topic.filter(|t| !t.is_empty()),
        metadata: metadata.unwrap_or_default(),
        ..Default::default()
    };
    let stream = client.subscribe(&pubsub_name, &topic, options).await.map_err(to_py_err)?;
    Ok(PySubscriptionStream::new(stream, pubsub_name, topic))
}

pub(crate) fn seconds(what: &str, s: f64) -> PyResult<Duration> {
    dapr_rs_core::proto::go_value::duration_from_secs(s)
        .ok_or_else(|| PyValueError::new_err(format!("{what} must be a number of seconds from 0 to about 292 years, not {s}")))
}

#[pymethods]
impl PyDaprClient {
    /// `address` (`host:port`, `http://host:port`, `dns:host:port`) and `api_token` override
    /// `DAPR_GRPC_ENDPOINT` / `DAPR_GRPC_PORT` and `DAPR_API_TOKEN`; `timeout_s` bounds each call.
    #[new]
    #[pyo3(signature = (address = None, api_token = None, timeout_s = None))]
    fn new(address: Option<&str>, api_token: Option<String>, timeout_s: Option<f64>) -> PyResult<Self> {
        let mut options = ClientOptions::from_env();
        if let Some(address) = address {
            options = options.with_address(address);
        }
        if api_token.is_some() {
            options = options.with_api_token(api_token);
        }
        if let Some(t) = timeout_s {
            options = options.with_timeout(Some(seconds("timeout_s", t)?));
        }
        let client = connect(&options)?;
        Ok(Self { options, inner: Mutex::new((std::process::id(), client)) })
    }

    /// The sidecar endpoint this client talks to, e.g. `http://127.0.0.1:50001`.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.options.endpoint
    }

    /// Without `data_content_type`, core picks it from the kind of `data`; `traceparent` and
    /// `tracestate` (W3C) are the trace the publish continues.
    #[pyo3(signature = (pubsub_name, topic_name, data, data_content_type = None, publish_metadata = None, traceparent = None, tracestate = None))]
    #[allow(clippy::too_many_arguments)]
    fn publish_event(
        &self,
        py: Python<'_>,
        pubsub_name: String,
        topic_name: String,
        data: &Bound<'_, PyAny>,
        data_content_type: Option<String>,
        publish_metadata: Metadata,
        traceparent: Option<String>,
        tracestate: Option<String>,
    ) -> PyResult<()> {
        let req = publish_request(pubsub_name, topic_name, data, data_content_type, publish_metadata)?;
        let trace = trace_context(traceparent, tracestate);
        wait(py, self.client()?.publish_event_traced(req, &trace))?.map_err(to_py_err)
    }

    /// `publish_event` as an awaitable; the payload is converted before this returns.
    #[pyo3(signature = (pubsub_name, topic_name, data, data_content_type = None, publish_metadata = None, traceparent = None, tracestate = None))]
    #[allow(clippy::too_many_arguments)]
    fn publish_event_async<'py>(
        &self,
        py: Python<'py>,
        pubsub_name: String,
        topic_name: String,
        data: &Bound<'py, PyAny>,
        data_content_type: Option<String>,
        publish_metadata: Metadata,
        traceparent: Option<String>,
        tracestate: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req = publish_request(pubsub_name, topic_name, data, data_content_type, publish_metadata)?;
        let trace = trace_context(traceparent, tracestate);
        let client = self.client()?;
        awaitable_none(py, async move { client.publish_event_traced(req, &trace).await.map_err(to_py_err) })
    }

    /// `entries` are `(entry_id, data, content_type or None, metadata)`; returns the failed
    /// entries as `(entry_id, error)`. `traceparent`/`tracestate` as for `publish_event`.
    #[pyo3(signature = (pubsub_name, topic_name, entries, publish_metadata = None, traceparent = None, tracestate = None))]
    #[allow(clippy::too_many_arguments)]
    fn bulk_publish(
        &self,
        py: Python<'_>,
        pubsub_name: String,
        topic_name: String,
        entries: Vec<(String, Bound<'_, PyAny>, Option<String>, Metadata)>,
        publish_metadata: Metadata,
        traceparent: Option<String>,
        tracestate: Option<String>,
    ) -> PyResult<Vec<(String, String)>> {
        let entries = bulk_entries(entries)?;
        let trace = trace_context(traceparent, tracestate);
        let client = self.client()?;
        wait(py, bulk_publish(client, pubsub_name, topic_name, entries, publish_metadata, trace))?
    }

    /// `bulk_publish` as an awaitable.
    #[pyo3(signature = (pubsub_name, topic_name, entries, publish_metadata = None, traceparent = None, tracestate = None))]
    #[allow(clippy::too_many_arguments)]
    fn bulk_publish_async<'py>(
        &self,
        py: Python<'py>,
        pubsub_name: String,
        topic_name: String,
        entries: Vec<(String, Bound<'py, PyAny>, Option<String>, Metadata)>,
        publish_metadata: Metadata,
        traceparent: Option<String>,
        tracestate: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let entries = bulk_entries(entries)?;
        let trace = trace_context(traceparent, tracestate);
        let client = self.client()?;
        awaitable(py, bulk_publish(client, pubsub_name, topic_name, entries, publish_metadata, trace))
    }

    /// Blocks until the sidecar answers; DaprError (DEADLINE_EXCEEDED) after `timeout_s`.
    fn wait_for_sidecar(&self, py: Python<'_>, timeout_s: f64) -> PyResult<()> {
        let timeout = seconds("timeout_s", timeout_s)?;
        wait(py, self.client()?.wait_for_sidecar(timeout))?.map_err(to_py_err)
    }

    /// `wait_for_sidecar` as an awaitable.
    fn wait_for_sidecar_async<'py>(&self, py: Python<'py>, timeout_s: f64) -> PyResult<Bound<'py, PyAny>> {
        let timeout = seconds("timeout_s", timeout_s)?;
        let client = self.client()?;
        awaitable_none(py, async move { client.wait_for_sidecar(timeout).await.map_err(to_py_err) })
    }

    /// Asks the sidecar to shut down.
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        wait(py, self.client()?.shutdown_sidecar())?.map_err(to_py_err)
    }

    /// Opens a streaming subscription (no app port); returns once the sidecar accepted it.
    #[pyo3(signature = (pubsub_name, topic, dead_letter_topic = None, metadata = None))]
    fn subscribe(
        &self,
        py: Python<'_>,
        pubsub_name: String,
        topic: String,
        dead_letter_topic: Option<String>,
        metadata: Metadata,
    ) -> PyResult<PySubscriptionStream> {
        wait(py, open_stream(self.client()?, pubsub_name, topic, dead_letter_topic, metadata))?
    }

    /// `subscribe` as an awaitable.
    #[pyo3(signature = (pubsub_name, topic, dead_letter_topic = None, metadata = None))]
    fn subscribe_async<'py>(
        &self,
        py: Python<'py>,
        pubsub_name: String,
        topic: String,
        dead_letter_topic: Option<String>,
        metadata: Metadata,
    ) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, open_stream(self.client()?, pubsub_name, topic, dead_letter_topic, metadata))
    }

    fn __repr__(&self) -> String {
        format!("DaprClient(endpoint={:?})", self.options.endpoint)
    }
}

impl PyDaprClient {
    fn client(&self) -> PyResult<DaprClient> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.0 != std::process::id() {
            let inherited = std::mem::replace(&mut *inner, (std::process::id(), connect(&self.options)?));
            // Forgotten, not dropped: dropping would wake tasks of the parent's runtime.
            std::mem::forget(inherited);
        }
        Ok(inner.1.clone())
    }
}

//! `DaprClient`: core's client, each call blocking the calling Python thread (GIL released) until
//! the sidecar answers.

use crate::errors::to_py_err;
use crate::runtime::{runtime, wait};
use dapr_rs_core::{BulkPublishEntry, ClientOptions, DaprClient, PublishPayload, PublishRequest};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
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
/// else as the JSON text `json.dumps` gives it.
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
    let text: String = data.py().import("json")?.call_method1("dumps", (data,))?.extract()?;
    Ok(PublishPayload::json(text))
}

fn seconds(what: &str, s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| PyValueError::new_err(format!("{what} must be a non-negative number of seconds, not {s}")))
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

    /// Without `data_content_type`, core picks it from the kind of `data`.
    #[pyo3(signature = (pubsub_name, topic_name, data, data_content_type = None, publish_metadata = None))]
    fn publish_event(
        &self,
        py: Python<'_>,
        pubsub_name: String,
        topic_name: String,
        data: &Bound<'_, PyAny>,
        data_content_type: Option<String>,
        publish_metadata: Metadata,
    ) -> PyResult<()> {
        let (data, data_content_type) = payload(data)?.into_data(data_content_type);
        let req =
            PublishRequest { pubsub_name, topic: topic_name, data, data_content_type, metadata: publish_metadata.unwrap_or_default() };
        wait(py, self.client()?.publish_event(req))?.map_err(to_py_err)
    }

    /// `entries` are `(entry_id, data, content_type or None, metadata)`; returns the failed
    /// entries as `(entry_id, error)`.
    #[pyo3(signature = (pubsub_name, topic_name, entries, publish_metadata = None))]
    fn bulk_publish(
        &self,
        py: Python<'_>,
        pubsub_name: String,
        topic_name: String,
        entries: Vec<(String, Bound<'_, PyAny>, Option<String>, Metadata)>,
        publish_metadata: Metadata,
    ) -> PyResult<Vec<(String, String)>> {
        let entries = entries
            .into_iter()
            .map(|(entry_id, data, content_type, metadata)| {
                let (event, content_type) = payload(&data)?.into_data(content_type);
                Ok(BulkPublishEntry { entry_id, event, content_type, metadata: metadata.unwrap_or_default() })
            })
            .collect::<PyResult<_>>()?;
        let failed = wait(py, self.client()?.bulk_publish(&pubsub_name, &topic_name, entries, publish_metadata.unwrap_or_default()))?
            .map_err(to_py_err)?;
        Ok(failed.into_iter().map(|f| (f.entry_id, f.error)).collect())
    }

    /// Blocks until the sidecar answers; DaprError (DEADLINE_EXCEEDED) after `timeout_s`.
    fn wait_for_sidecar(&self, py: Python<'_>, timeout_s: f64) -> PyResult<()> {
        let timeout = seconds("timeout_s", timeout_s)?;
        wait(py, self.client()?.wait_for_sidecar(timeout))?.map_err(to_py_err)
    }

    /// Asks the sidecar to shut down.
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        wait(py, self.client()?.shutdown_sidecar())?.map_err(to_py_err)
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

//! `TopicEvent`: one delivered event, read-only, with the getters of cloudevents' `v1.Event` so
//! quickstart handlers run unchanged. Payload decoding is core's ([`TopicEvent::decoded_data`]).

use dapr_rs_core::{EventData, TopicEvent};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;

#[pyclass(frozen, name = "TopicEvent", module = "dapr_rs._native")]
pub struct PyTopicEvent(pub TopicEvent);

#[pymethods]
impl PyTopicEvent {
    /// Builds an event by hand, e.g. to unit-test a handler without a sidecar.
    #[new]
    #[pyo3(signature = (*, data = None, data_content_type = String::new(), id = String::new(), source = String::new(),
        r#type = String::new(), spec_version = "1.0".to_owned(), topic = String::new(), pubsub_name = String::new(),
        path = String::new(), extensions = None, metadata = None, entry_id = String::new()))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        data: Option<&[u8]>,
        data_content_type: String,
        id: String,
        source: String,
        r#type: String,
        spec_version: String,
        topic: String,
        pubsub_name: String,
        path: String,
        extensions: Option<Bound<'_, PyDict>>,
        metadata: Option<HashMap<String, String>>,
        entry_id: String,
    ) -> PyResult<Self> {
        let extensions = match extensions {
            Some(d) => py_to_json_object(py, &d)?,
            None => Map::new(),
        };
        Ok(Self(TopicEvent {
            id,
            source,
            event_type: r#type,
            spec_version,
            data_content_type,
            data: bytes::Bytes::copy_from_slice(data.unwrap_or_default()),
            topic,
            pubsub_name,
            path,
            extensions,
            metadata: metadata.unwrap_or_default(),
            entry_id,
        }))
    }

    #[getter]
    fn id(&self) -> &str {
        &self.0.id
    }

    /// The entry's id in a bulk delivery (a bulk handler's answers may be keyed by it); empty
    /// otherwise.
    #[getter]
    fn entry_id(&self) -> &str {
        &self.0.entry_id
    }

    #[getter]
    fn source(&self) -> &str {
        &self.0.source
    }

    #[getter]
    fn r#type(&self) -> &str {
        &self.0.event_type
    }

    #[getter]
    fn spec_version(&self) -> &str {
        &self.0.spec_version
    }

    #[getter]
    fn data_content_type(&self) -> &str {
        &self.0.data_content_type
    }

    /// The payload bytes.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.data)
    }

    #[getter]
    fn topic(&self) -> &str {
        &self.0.topic
    }

    #[getter]
    fn pubsub_name(&self) -> &str {
        &self.0.pubsub_name
    }

    #[getter]
    fn path(&self) -> &str {
        &self.0.path
    }

    /// Every other CloudEvent attribute (`traceparent`, `time`, custom extensions…), as a new dict.
    #[getter]
    fn extensions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        json_object_to_py(py, &self.0.extensions)
    }

    /// The broker message's metadata as the sidecar delivered it (e.g. `pubsubname`, Kafka's
    /// `__key`, a publish's metadata), as a new dict; empty for streaming subscriptions.
    #[getter]
    fn metadata(&self) -> HashMap<String, String> {
        self.0.metadata.clone()
    }

    /// The CloudEvent's W3C `traceparent` ("" when none): the publishing sidecar's span.
    #[getter]
    fn traceparent(&self) -> &str {
        self.0.traceparent()
    }

    /// The CloudEvent's `tracestate` ("" when none).
    #[getter]
    fn tracestate(&self) -> &str {
        self.0.tracestate()
    }

    /// The payload decoded by its content type: JSON → dict/list/str/int/float/bool/None,
    /// text → str, anything else → bytes.
    fn decoded_data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.0.decoded_data() {
            EventData::Json(v) => json_to_py(py, &v),
            EventData::Text(s) => Ok(s.into_pyobject(py)?.into_any()),
            EventData::Bytes(b) => Ok(PyBytes::new(py, &b).into_any()),
        }
    }

    /// The payload bytes, as the official SDK's `SubscriptionMessage.raw_data()` names them.
    #[getter]
    fn raw_data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.data(py)
    }

    /// The decoded payload loaded into `cls`: a dataclass (its fields from a JSON object), a
    /// pydantic model (validated), or any other class called with the value.
    fn model<'py>(&self, py: Python<'py>, cls: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        py.import("dapr_rs._model")?.call_method1("load_model", (cls, self.decoded_data(py)?))
    }

    /// The payload parsed as JSON whatever its content type; ValueError if it is not JSON.
    fn data_json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = self.0.data_json().map_err(|e| PyValueError::new_err(format!("the event data is not JSON: {e}")))?;
        json_to_py(py, &value)
    }

    // cloudevents `v1.Event` getters, as the official SDK's gRPC App fills them.

    #[pyo3(name = "Data")]
    fn data_v1<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.data(py)
    }

    #[pyo3(name = "EventID")]
    fn event_id_v1(&self) -> &str {
        &self.0.id
    }

    #[pyo3(name = "Source")]
    fn source_v1(&self) -> &str {
        &self.0.source
    }

    #[pyo3(name = "EventType")]
    fn event_type_v1(&self) -> &str {
        &self.0.event_type
    }

    #[pyo3(name = "SpecVersion")]
    fn spec_version_v1(&self) -> &str {
        &self.0.spec_version
    }

    #[pyo3(name = "ContentType")]
    fn content_type_v1(&self) -> &str {
        &self.0.data_content_type
    }

    /// The topic, as the official SDK sets `Subject`.
    #[pyo3(name = "Subject")]
    fn subject_v1(&self) -> &str {
        &self.0.topic
    }

    #[pyo3(name = "Extensions")]
    fn extensions_v1<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.extensions(py)
    }

    fn __repr__(&self) -> String {
        let e = &self.0;
        format!(
            "TopicEvent(id={:?}, pubsub_name={:?}, topic={:?}, type={:?}, data_content_type={:?}, data=<{} bytes>)",
            e.id,
            e.pubsub_name,
            e.topic,
            e.event_type,
            e.data_content_type,
            e.data.len()
        )
    }
}

pub fn json_to_py<'py>(py: Python<'py>, value: &Json) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Json::Null => py.None().into_bound(py),
        Json::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                // Kept as written (serde_json's arbitrary_precision): an integer too big for 64
                // bits stays exact, as Python's json module would keep it.
                let text = n.to_string();
                if text.contains(['.', 'e', 'E']) {
                    text.parse::<f64>().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
                } else {
                    py.get_type::<pyo3::types::PyInt>().call1((text,))?
                }
            }
        }
        Json::String(s) => s.into_pyobject(py)?.into_any(),
        Json::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Json::Object(map) => json_object_to_py(py, map)?.into_any(),
    })
}

fn json_object_to_py<'py>(py: Python<'py>, map: &Map<String, Json>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in map {
        dict.set_item(k, json_to_py(py, v)?)?;
    }
    Ok(dict)
}

/// A dict of JSON-able values, through Python's own `json` (only hand-built events need this).
fn py_to_json_object(py: Python<'_>, dict: &Bound<'_, PyDict>) -> PyResult<Map<String, Json>> {
    let text: String = py.import("json")?.call_method1("dumps", (dict,))?.extract()?;
    serde_json::from_str(&text).map_err(|e| PyValueError::new_err(format!("extensions must be a JSON object: {e}")))
}

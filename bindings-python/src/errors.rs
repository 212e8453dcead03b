//! `DaprError` and its subclasses: core's [`Error`] as a Python exception, keeping its gRPC code,
//! Dapr `errorCode` and bare message as attributes. [`to_py_err`] is the one place that picks the
//! subclass.

use dapr_rs_core::{Error, ErrorKind};
use pyo3::prelude::*;
use pyo3::types::PyType;

pyo3::create_exception!(
    dapr_rs._native,
    DaprError,
    pyo3::exceptions::PyException,
    "A Dapr call failed. `grpc_code` is the gRPC status code (int), `error_code` the Dapr errorCode \
     (e.g. 'ERR_PUBSUB_NOT_FOUND') when the sidecar sent one, `message` the message alone."
);
pyo3::create_exception!(dapr_rs._native, PubsubNotFoundError, DaprError, "The sidecar has no pubsub component of that name.");
pyo3::create_exception!(
    dapr_rs._native,
    TopicForbiddenError,
    DaprError,
    "The pubsub component's scopes do not allow this app to use the topic."
);
pyo3::create_exception!(
    dapr_rs._native,
    InvalidArgumentError,
    DaprError,
    "A bad argument, found by dapr-rs or by the sidecar (gRPC INVALID_ARGUMENT)."
);
pyo3::create_exception!(
    dapr_rs._native,
    SidecarUnavailableError,
    DaprError,
    "The sidecar could not be reached (not started, wrong address, gone)."
);
pyo3::create_exception!(dapr_rs._native, DaprTimeoutError, DaprError, "The call (or the wait for the sidecar) ran out of time.");

/// gRPC `UNKNOWN`: the code of a `DaprError` raised by Python code without one.
const UNKNOWN: i32 = 2;

/// Class-level defaults, so a `DaprError` raised from Python code has the attributes too.
pub fn init_class(py: Python<'_>) -> PyResult<()> {
    let cls = py.get_type::<DaprError>();
    cls.setattr("grpc_code", UNKNOWN)?;
    cls.setattr("error_code", py.None())?;
    cls.setattr("message", "")?;
    Ok(())
}

pub fn add_classes(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    init_class(py)?;
    m.add("DaprError", py.get_type::<DaprError>())?;
    m.add("PubsubNotFoundError", py.get_type::<PubsubNotFoundError>())?;
    m.add("TopicForbiddenError", py.get_type::<TopicForbiddenError>())?;
    m.add("InvalidArgumentError", py.get_type::<InvalidArgumentError>())?;
    m.add("SidecarUnavailableError", py.get_type::<SidecarUnavailableError>())?;
    m.add("DaprTimeoutError", py.get_type::<DaprTimeoutError>())?;
    Ok(())
}

/// The exception class for `err`, by the kind core decides.
fn class_of<'py>(py: Python<'py>, err: &Error) -> Bound<'py, PyType> {
    match err.kind() {
        ErrorKind::PubsubNotFound => py.get_type::<PubsubNotFoundError>(),
        ErrorKind::TopicForbidden => py.get_type::<TopicForbiddenError>(),
        ErrorKind::SidecarUnavailable => py.get_type::<SidecarUnavailableError>(),
        ErrorKind::Timeout => py.get_type::<DaprTimeoutError>(),
        ErrorKind::InvalidArgument => py.get_type::<InvalidArgumentError>(),
        ErrorKind::Other => py.get_type::<DaprError>(),
    }
}

pub fn to_py_err(err: Error) -> PyErr {
    Python::attach(|py| {
        let exc = PyErr::from_type(class_of(py, &err), err.to_string());
        let value = exc.value(py);
        let filled = value
            .setattr("grpc_code", err.grpc_code() as i32)
            .and_then(|()| value.setattr("error_code", err.error_code()))
            .and_then(|()| value.setattr("message", err.message()));
        match filled {
            Ok(()) => exc,
            Err(e) => e,
        }
    })
}

//! `DaprError`: core's [`Error`] as a Python exception, keeping its gRPC code, Dapr `errorCode`
//! and bare message as attributes.

use dapr_rs_core::Error;
use pyo3::prelude::*;

pyo3::create_exception!(
    dapr_rs._native,
    DaprError,
    pyo3::exceptions::PyException,
    "A Dapr call failed. `grpc_code` is the gRPC status code (int), `error_code` the Dapr errorCode \
     (e.g. 'ERR_PUBSUB_NOT_FOUND') when the sidecar sent one, `message` the message alone."
);

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

pub fn to_py_err(err: Error) -> PyErr {
    Python::attach(|py| {
        let exc = DaprError::new_err(err.to_string());
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

//! Core's [`Error`] as a JS error the facade turns into `DaprError`: the gRPC code, Dapr
//! `errorCode` and bare message travel as JSON after a fixed prefix in the error's message.

use dapr_rs_core::Error;

/// Marks a message the facade parses (`index.js` knows the same prefix).
const DAPR_ERROR_PREFIX: &str = "DAPR_RS_ERROR:";

pub fn to_js_error(err: Error) -> napi::Error {
    let detail = serde_json::json!({
        "grpcCode": err.grpc_code() as i32,
        "errorCode": err.error_code(),
        "message": err.to_string(),
        "detail": err.message(),
    });
    napi::Error::new(napi::Status::GenericFailure, format!("{DAPR_ERROR_PREFIX}{detail}"))
}

/// A caller's mistake found here (a bad port, a bad status word): `InvalidArgument`.
pub fn invalid_argument(message: impl Into<String>) -> napi::Error {
    to_js_error(Error::InvalidArgument(message.into()))
}

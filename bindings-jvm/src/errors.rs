//! Core's [`Error`] as the one exception type of the JVM binding: `DaprError` becomes Kotlin's
//! `DaprException`, one subclass per core [`ErrorKind`] (decided by core, not here), each carrying
//! the gRPC code, Dapr's errorCode and the message. A handler's failure is [`HandlerError`].

use dapr_rs_core::{Error, ErrorKind};

/// A failed call: the variant is core's [`ErrorKind`]; `grpc_code` is the gRPC status code's
/// number, `error_code` Dapr's (`ERR_PUBSUB_NOT_FOUND`…) when the sidecar sent one.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum DaprError {
    #[error("{detail}")]
    PubsubNotFound { grpc_code: i32, error_code: Option<String>, detail: String },
    #[error("{detail}")]
    TopicForbidden { grpc_code: i32, error_code: Option<String>, detail: String },
    #[error("{detail}")]
    InvalidArgument { grpc_code: i32, error_code: Option<String>, detail: String },
    #[error("{detail}")]
    SidecarUnavailable { grpc_code: i32, error_code: Option<String>, detail: String },
    #[error("{detail}")]
    Timeout { grpc_code: i32, error_code: Option<String>, detail: String },
    #[error("{detail}")]
    Other { grpc_code: i32, error_code: Option<String>, detail: String },
}

impl From<Error> for DaprError {
    fn from(err: Error) -> Self {
        let (grpc_code, error_code, detail) = (err.grpc_code() as i32, err.error_code().map(str::to_owned), err.to_string());
        match err.kind() {
            ErrorKind::PubsubNotFound => Self::PubsubNotFound { grpc_code, error_code, detail },
            ErrorKind::TopicForbidden => Self::TopicForbidden { grpc_code, error_code, detail },
            ErrorKind::InvalidArgument => Self::InvalidArgument { grpc_code, error_code, detail },
            ErrorKind::SidecarUnavailable => Self::SidecarUnavailable { grpc_code, error_code, detail },
            ErrorKind::Timeout => Self::Timeout { grpc_code, error_code, detail },
            ErrorKind::Other => Self::Other { grpc_code, error_code, detail },
        }
    }
}

/// A caller's mistake found here (a bad port), as core's `InvalidArgument`.
pub fn invalid_argument(message: impl Into<String>) -> DaprError {
    Error::InvalidArgument(message.into()).into()
}

/// What a JVM handler threw (any exception: uniffi hands an undeclared one over as
/// [`uniffi::UnexpectedUniFFICallbackError`]). Core's `answer_of` answers it RETRY.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum HandlerError {
    #[error("{reason}")]
    Failed { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for HandlerError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Failed { reason: e.reason }
    }
}

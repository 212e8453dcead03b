use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which exception class a binding raises for an [`Error`]: decided here once, so Python's
/// `PubsubNotFoundError`, Node's and C#'s match by construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `ERR_PUBSUB_NOT_FOUND`: the sidecar has no pubsub component of that name.
    PubsubNotFound,
    /// `ERR_PUBSUB_FORBIDDEN`: the component's scopes do not allow this app the topic.
    TopicForbidden,
    /// A bad argument, found here or by the sidecar (`INVALID_ARGUMENT`).
    InvalidArgument,
    /// The sidecar could not be reached.
    SidecarUnavailable,
    /// The call, or the wait for the sidecar, ran out of time.
    Timeout,
    /// Anything else: the base class alone.
    Other,
}

impl ErrorKind {
    /// The kind's name in tests/vectors/errors.json (snake case).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PubsubNotFound => "pubsub_not_found",
            Self::TopicForbidden => "topic_forbidden",
            Self::InvalidArgument => "invalid_argument",
            Self::SidecarUnavailable => "sidecar_unavailable",
            Self::Timeout => "timeout",
            Self::Other => "other",
        }
    }
}

/// Everything a dapr-rs call can fail with. Bindings turn each into their language's exception,
/// keeping the gRPC code and Dapr `errorCode`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The sidecar answered with an error status.
    #[error("{message} ({code:?}{})", error_code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Api { code: tonic::Code, error_code: Option<String>, message: String },
    /// The sidecar could not be reached (not started, wrong address, gone).
    #[error("the Dapr sidecar at {endpoint} is unavailable: {message}")]
    Unavailable { endpoint: String, message: String },
    #[error("timed out after {after:?} waiting for the Dapr sidecar at {endpoint}")]
    Timeout { endpoint: String, after: Duration },
    #[error("invalid Dapr endpoint {endpoint:?}: {message}")]
    InvalidEndpoint { endpoint: String, message: String },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The app callback server could not start or stopped with an error.
    #[error("app server: {0}")]
    Server(String),
    #[error("the operation was cancelled")]
    Cancelled,
}

impl Error {
    /// The error for a gRPC status from the sidecar at `endpoint` (its `ErrorInfo` gives the errorCode).
    pub fn from_status(status: tonic::Status, endpoint: &str) -> Self {
        match status.code() {
            tonic::Code::Unavailable => Self::Unavailable { endpoint: endpoint.into(), message: status.message().into() },
            // tonic ends a call that ran past its deadline as CANCELLED "Timeout expired": that is
            // a timeout (DEADLINE_EXCEEDED), not a caller's cancel.
            tonic::Code::Cancelled if status.message() == tonic::TimeoutExpired(()).to_string() => {
                Self::Api { code: tonic::Code::DeadlineExceeded, error_code: None, message: status.message().into() }
            }
            tonic::Code::Cancelled => Self::Cancelled,
            code => Self::Api { code, error_code: dapr_rs_proto::error_code::from_grpc_status(&status), message: status.message().into() },
        }
    }

    /// The gRPC status code this error corresponds to.
    pub fn grpc_code(&self) -> tonic::Code {
        match self {
            Self::Api { code, .. } => *code,
            Self::Unavailable { .. } => tonic::Code::Unavailable,
            Self::Timeout { .. } => tonic::Code::DeadlineExceeded,
            Self::InvalidEndpoint { .. } | Self::InvalidArgument(_) => tonic::Code::InvalidArgument,
            Self::Server(_) => tonic::Code::Internal,
            Self::Cancelled => tonic::Code::Cancelled,
        }
    }

    /// The Dapr `errorCode` (e.g. `ERR_PUBSUB_NOT_FOUND`) when the sidecar sent one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Self::Api { error_code, .. } => error_code.as_deref(),
            _ => None,
        }
    }

    /// Which exception class this error becomes: by Dapr errorCode first, then by gRPC code.
    pub fn kind(&self) -> ErrorKind {
        use dapr_rs_proto::error_code::ErrorCode;
        match self.error_code() {
            Some(c) if c == ErrorCode::PubsubNotFound.as_str() => return ErrorKind::PubsubNotFound,
            Some(c) if c == ErrorCode::PubsubForbidden.as_str() => return ErrorKind::TopicForbidden,
            _ => {}
        }
        match self.grpc_code() {
            tonic::Code::InvalidArgument => ErrorKind::InvalidArgument,
            tonic::Code::Unavailable => ErrorKind::SidecarUnavailable,
            tonic::Code::DeadlineExceeded => ErrorKind::Timeout,
            _ => ErrorKind::Other,
        }
    }

    /// The message without the code decorations `Display` adds.
    pub fn message(&self) -> String {
        match self {
            Self::Api { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_past_its_deadline_is_a_timeout_and_a_cancel_is_not() {
        let timed_out = Error::from_status(tonic::Status::cancelled(tonic::TimeoutExpired(()).to_string()), "127.0.0.1:50001");
        assert_eq!((timed_out.kind(), timed_out.grpc_code()), (ErrorKind::Timeout, tonic::Code::DeadlineExceeded));
        let cancelled = Error::from_status(tonic::Status::cancelled("the app went away"), "127.0.0.1:50001");
        assert_eq!((cancelled.kind(), cancelled.grpc_code()), (ErrorKind::Other, tonic::Code::Cancelled));
    }
}

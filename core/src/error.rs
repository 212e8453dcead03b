//! One error type for every call of the crate, and the exception class each becomes in a binding
//! ([`ErrorKind`]), decided once here so every language raises the same one.

use std::time::Duration;

/// The result of every fallible call of this crate.
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
///
/// Match on [`Error::kind`] for what an app can act on, whichever API (gRPC or HTTP) answered;
/// [`Error::grpc_code`] and [`Error::error_code`] keep the detail:
///
/// ```
/// use dapr_rs_core::{Error, ErrorKind};
///
/// fn advice(err: &Error) -> &'static str {
///     match err.kind() {
///         ErrorKind::PubsubNotFound => "no such pubsub component: check the resources path",
///         ErrorKind::TopicForbidden => "the component's scopes do not allow this app the topic",
///         ErrorKind::SidecarUnavailable | ErrorKind::Timeout => "transient: try again later",
///         ErrorKind::InvalidArgument => "a bug in the call",
///         ErrorKind::Other => "see the message",
///     }
/// }
///
/// // What the sidecar's HTTP API answers for a pubsub it does not have.
/// let err = Error::from_http(404, br#"{"errorCode":"ERR_PUBSUB_NOT_FOUND","message":"pubsub orders not found"}"#);
/// assert_eq!(err.kind(), ErrorKind::PubsubNotFound);
/// assert_eq!(err.error_code(), Some("ERR_PUBSUB_NOT_FOUND"));
/// assert_eq!(advice(&err), "no such pubsub component: check the resources path");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The sidecar answered with an error status (a call past its deadline too: `DeadlineExceeded`).
    #[error("{message} ({code:?}{})", error_code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Api {
        /// The gRPC status code; over HTTP, the one daprd's gRPC API gives the same failure.
        code: tonic::Code,
        /// Dapr's `errorCode` (e.g. `ERR_PUBSUB_NOT_FOUND`), when the sidecar sent one.
        error_code: Option<String>,
        /// The sidecar's message.
        message: String,
    },
    /// The sidecar could not be reached (not started, wrong address, gone).
    #[error("the Dapr sidecar at {endpoint} is unavailable: {message}")]
    Unavailable {
        /// The API endpoint called.
        endpoint: String,
        /// What the connection attempt said.
        message: String,
    },
    /// [`DaprClient::wait_for_sidecar`](crate::DaprClient::wait_for_sidecar) gave up.
    #[error("timed out after {after:?} waiting for the Dapr sidecar at {endpoint}")]
    Timeout {
        /// The API endpoint waited for.
        endpoint: String,
        /// How long it waited.
        after: Duration,
    },
    /// An endpoint (from [`ClientOptions`](crate::ClientOptions) or the environment) no client can call.
    #[error("invalid Dapr endpoint {endpoint:?}: {message}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        message: String,
    },
    /// A bad argument, refused before anything was sent (an empty topic, a value no header can carry…).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The app callback server could not start or stopped with an error.
    #[error("app server: {0}")]
    Server(String),
    /// The call was cancelled (by the caller, or a stream that was closed) before it ended.
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

    /// The error for a non-2xx answer of the sidecar's HTTP API (contract §3.1): its JSON body
    /// `{"errorCode", "message"}` gives the errorCode and message, and the errorCode (else the
    /// status) the gRPC code daprd's gRPC API gives the same failure, so a binding raises the
    /// same exception whichever API its client called.
    pub fn from_http(status: u16, body: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct ErrorBody {
            #[serde(rename = "errorCode", default)]
            error_code: String,
            #[serde(default)]
            message: String,
        }
        let (error_code, message) = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(b) => (Some(b.error_code).filter(|c| !c.is_empty()), b.message),
            // Not Dapr's error body (a proxy's page, a server that is no sidecar): its text says most.
            Err(_) => (None, String::from_utf8_lossy(body).trim().chars().take(MAX_FOREIGN_ERROR_CHARS).collect()),
        };
        let message = if message.is_empty() { format!("the sidecar answered HTTP {status}") } else { message };
        let code = error_code
            .as_deref()
            .and_then(dapr_rs_proto::error_code::ErrorCode::parse)
            .map(|c| c.grpc_code())
            .unwrap_or_else(|| grpc_code_of_http_status(status));
        Self::Api { code, error_code, message }
    }

    /// A call that ran past the client's deadline: what tonic's deadline becomes in
    /// [`Error::from_status`], for calls that are not gRPC.
    pub(crate) fn deadline_exceeded(after: Duration) -> Self {
        Self::Api { code: tonic::Code::DeadlineExceeded, error_code: None, message: format!("the call took longer than {after:?}") }
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

/// How much of an error body that is not Dapr's JSON goes into the message.
const MAX_FOREIGN_ERROR_CHARS: usize = 512;

/// The gRPC code for an HTTP status without a Dapr errorCode, as gRPC gateways map them.
fn grpc_code_of_http_status(status: u16) -> tonic::Code {
    use tonic::Code;
    match status {
        400 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        408 | 504 => Code::DeadlineExceeded,
        409 => Code::Aborted,
        412 => Code::FailedPrecondition,
        413 | 429 => Code::ResourceExhausted,
        499 => Code::Cancelled,
        501 => Code::Unimplemented,
        502 | 503 => Code::Unavailable,
        500 => Code::Internal,
        _ => Code::Unknown,
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

    #[test]
    fn an_http_error_keeps_its_error_code_and_message_and_gets_the_grpc_code_of_that_code() {
        let not_found = Error::from_http(404, br#"{"errorCode":"ERR_PUBSUB_NOT_FOUND","message":"pubsub nope not found"}"#);
        assert_eq!((not_found.kind(), not_found.grpc_code()), (ErrorKind::PubsubNotFound, tonic::Code::InvalidArgument));
        assert_eq!((not_found.error_code(), not_found.message().as_str()), (Some("ERR_PUBSUB_NOT_FOUND"), "pubsub nope not found"));
        let forbidden = Error::from_http(403, br#"{"errorCode":"ERR_PUBSUB_FORBIDDEN","message":"no"}"#);
        assert_eq!((forbidden.kind(), forbidden.grpc_code()), (ErrorKind::TopicForbidden, tonic::Code::PermissionDenied));
        let token = Error::from_http(401, br#"{"errorCode":"ERR_UNAUTHORIZED","message":"invalid api token"}"#);
        assert_eq!((token.kind(), token.grpc_code()), (ErrorKind::Other, tonic::Code::Unauthenticated));
        // An errorCode this table does not know keeps the code of the status.
        let unknown = Error::from_http(400, br#"{"errorCode":"ERR_SOMETHING_NEW","message":"m"}"#);
        assert_eq!((unknown.kind(), unknown.error_code()), (ErrorKind::InvalidArgument, Some("ERR_SOMETHING_NEW")));
        let foreign = Error::from_http(502, b"<html>bad gateway</html>");
        assert_eq!(
            (foreign.kind(), foreign.error_code(), foreign.message().as_str()),
            (ErrorKind::SidecarUnavailable, None, "<html>bad gateway</html>")
        );
        let empty = Error::from_http(418, b"");
        assert_eq!((empty.grpc_code(), empty.message().as_str()), (tonic::Code::Unknown, "the sidecar answered HTTP 418"));
        let late = Error::deadline_exceeded(Duration::from_millis(5));
        assert_eq!((late.kind(), late.grpc_code()), (ErrorKind::Timeout, tonic::Code::DeadlineExceeded));
    }
}

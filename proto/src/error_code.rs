//! Dapr `errorCode`s and their HTTP / gRPC statuses (contract §3.1). One table, used by the sidecar to
//! answer and by the client to recognise what it was told.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    PubsubNotConfigured,
    PubsubEmpty,
    PubsubNotFound,
    TopicNameEmpty,
    PubsubRequestMetadata,
    PubsubForbidden,
    PubsubCloudEventsSer,
    PubsubPublishMessage,
    PubsubEventsSer,
    BadRequest,
    MalformedRequest,
    BodyTooLarge,
    Unauthorized,
    NotImplemented,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 14] = [
        Self::PubsubNotConfigured,
        Self::PubsubEmpty,
        Self::PubsubNotFound,
        Self::TopicNameEmpty,
        Self::PubsubRequestMetadata,
        Self::PubsubForbidden,
        Self::PubsubCloudEventsSer,
        Self::PubsubPublishMessage,
        Self::PubsubEventsSer,
        Self::BadRequest,
        Self::MalformedRequest,
        Self::BodyTooLarge,
        Self::Unauthorized,
        Self::NotImplemented,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PubsubNotConfigured => "ERR_PUBSUB_NOT_CONFIGURED",
            Self::PubsubEmpty => "ERR_PUBSUB_EMPTY",
            Self::PubsubNotFound => "ERR_PUBSUB_NOT_FOUND",
            Self::TopicNameEmpty => "ERR_TOPIC_NAME_EMPTY",
            Self::PubsubRequestMetadata => "ERR_PUBSUB_REQUEST_METADATA",
            Self::PubsubForbidden => "ERR_PUBSUB_FORBIDDEN",
            Self::PubsubCloudEventsSer => "ERR_PUBSUB_CLOUD_EVENTS_SER",
            Self::PubsubPublishMessage => "ERR_PUBSUB_PUBLISH_MESSAGE",
            Self::PubsubEventsSer => "ERR_PUBSUB_EVENTS_SER",
            Self::BadRequest => "ERR_BAD_REQUEST",
            Self::MalformedRequest => "ERR_MALFORMED_REQUEST",
            Self::BodyTooLarge => "ERR_BODY_TOO_LARGE",
            Self::Unauthorized => "ERR_UNAUTHORIZED",
            Self::NotImplemented => "ERR_NOT_IMPLEMENTED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn http_status(self) -> u16 {
        match self {
            Self::PubsubNotConfigured | Self::PubsubRequestMetadata | Self::PubsubEventsSer | Self::BadRequest | Self::MalformedRequest => {
                400
            }
            Self::PubsubEmpty | Self::PubsubNotFound | Self::TopicNameEmpty => 404,
            Self::PubsubForbidden => 403,
            Self::Unauthorized => 401,
            Self::BodyTooLarge => 413,
            Self::NotImplemented => 501,
            Self::PubsubCloudEventsSer | Self::PubsubPublishMessage => 500,
        }
    }

    pub fn grpc_code(self) -> tonic::Code {
        use tonic::Code;
        match self {
            Self::PubsubNotConfigured => Code::FailedPrecondition,
            Self::PubsubEmpty
            | Self::PubsubNotFound
            | Self::TopicNameEmpty
            | Self::PubsubRequestMetadata
            | Self::PubsubCloudEventsSer
            | Self::PubsubEventsSer
            | Self::BadRequest
            | Self::MalformedRequest => Code::InvalidArgument,
            Self::PubsubForbidden => Code::PermissionDenied,
            Self::PubsubPublishMessage => Code::Internal,
            Self::BodyTooLarge => Code::ResourceExhausted,
            Self::Unauthorized => Code::Unauthenticated,
            Self::NotImplemented => Code::Unimplemented,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `domain` daprd puts in the `google.rpc.ErrorInfo` detail of its gRPC errors.
pub const ERROR_INFO_DOMAIN: &str = "dapr.io";

/// A gRPC status carrying `message` and, as an `ErrorInfo` detail, the Dapr error code.
pub fn to_grpc_status(code: ErrorCode, message: impl Into<String>) -> tonic::Status {
    use tonic_types::{ErrorDetails, StatusExt};
    let details = ErrorDetails::with_error_info(code.as_str(), ERROR_INFO_DOMAIN, std::collections::HashMap::<String, String>::new());
    tonic::Status::with_error_details(code.grpc_code(), message, details)
}

/// The Dapr error code carried by a gRPC status, if the sidecar put one there.
pub fn from_grpc_status(status: &tonic::Status) -> Option<String> {
    use tonic_types::StatusExt;
    status.get_details_error_info().map(|info| info.reason)
}

/// The JSON body of an HTTP error answer: `{"errorCode": "...", "message": "..."}`.
pub fn http_body(code: ErrorCode, message: &str) -> serde_json::Value {
    serde_json::json!({ "errorCode": code.as_str(), "message": message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_map_as_the_contract_says() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
        assert_eq!(ErrorCode::PubsubNotFound.http_status(), 404);
        assert_eq!(ErrorCode::PubsubNotFound.grpc_code(), tonic::Code::InvalidArgument);
        assert_eq!(ErrorCode::PubsubForbidden.http_status(), 403);
        assert_eq!(ErrorCode::PubsubEventsSer.http_status(), 400);
        assert_eq!(ErrorCode::PubsubPublishMessage.grpc_code(), tonic::Code::Internal);
        let status = to_grpc_status(ErrorCode::PubsubNotFound, "pubsub x not found");
        assert_eq!(from_grpc_status(&status).as_deref(), Some("ERR_PUBSUB_NOT_FOUND"));
        assert_eq!(status.message(), "pubsub x not found");
    }
}

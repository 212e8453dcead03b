//! The error every API of the sidecar answers with: a Dapr error code and a message, becoming an
//! HTTP status with `errorCode` or a gRPC status by proto's `error_code` table.

use dapr_rs_proto::error_code::ErrorCode;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        dapr_rs_proto::error_code::to_grpc_status(e.code, e.message)
    }
}

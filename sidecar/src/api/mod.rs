//! The Dapr APIs the sidecar serves to its app: gRPC (`dapr.proto.runtime.v1.Dapr`) and HTTP.

mod api_log;
pub mod grpc;
pub mod http;
mod http_bulk_publish;
mod metadata;
mod observe;
mod streaming;

pub use api_log::TARGET as API_LOG_TARGET;

//! The gRPC API (`dapr.proto.runtime.v1.Dapr`), with server reflection as daprd has.

use super::{metadata, streaming};
use crate::publisher::{self, BulkPublishInput, PublishInput};
use crate::state::SidecarState;
use dapr_rs_proto::error_code::ErrorCode;
use dapr_rs_proto::runtime::dapr_server::{Dapr, DaprServer};
use dapr_rs_proto::runtime::{
    BulkPublishRequest, BulkPublishResponse, GetMetadataRequest, GetMetadataResponse, PublishEventRequest, SetMetadataRequest,
    ShutdownRequest, SubscribeTopicEventsRequestAlpha1,
};
use std::sync::Arc;
use tonic::{Request, Response, Status, Streaming};

#[derive(Clone)]
struct DaprApi(Arc<SidecarState>);

fn header(req: &Request<impl Sized>, key: &str) -> String {
    req.metadata().get(key).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

impl DaprApi {
    /// `BulkPublishEvent` and its Alpha1 twin: entries the component refused come back in
    /// `failedEntries` of an OK answer.
    async fn bulk_publish(&self, req: Request<BulkPublishRequest>) -> Result<Response<BulkPublishResponse>, Status> {
        crate::telemetry::record_topic(req.extensions(), &req.get_ref().topic);
        let (traceparent, tracestate) = (header(&req, "traceparent"), header(&req, "tracestate"));
        let input = BulkPublishInput { request: req.into_inner(), traceparent, tracestate };
        let failed_entries = publisher::bulk_publish(&self.0, input).await?;
        Ok(Response::new(BulkPublishResponse { failed_entries }))
    }
}

#[tonic::async_trait]
impl Dapr for DaprApi {
    async fn publish_event(&self, req: Request<PublishEventRequest>) -> Result<Response<()>, Status> {
        crate::telemetry::record_topic(req.extensions(), &req.get_ref().topic);
        let (traceparent, tracestate) = (header(&req, "traceparent"), header(&req, "tracestate"));
        let r = req.into_inner();
        let input = PublishInput {
            pubsub_name: r.pubsub_name,
            topic: r.topic,
            data: r.data,
            content_type: r.data_content_type,
            metadata: r.metadata,
            traceparent,
            tracestate,
            raw_payload_trace_in_metadata: true,
        };
        publisher::publish(&self.0, input).await?;
        Ok(Response::new(()))
    }

    async fn bulk_publish_event_alpha1(&self, req: Request<BulkPublishRequest>) -> Result<Response<BulkPublishResponse>, Status> {
        self.bulk_publish(req).await
    }

    async fn bulk_publish_event(&self, req: Request<BulkPublishRequest>) -> Result<Response<BulkPublishResponse>, Status> {
        self.bulk_publish(req).await
    }

    type SubscribeTopicEventsAlpha1Stream = streaming::ResponseStream;

    async fn subscribe_topic_events_alpha1(
        &self,
        req: Request<Streaming<SubscribeTopicEventsRequestAlpha1>>,
    ) -> Result<Response<Self::SubscribeTopicEventsAlpha1Stream>, Status> {
        Ok(Response::new(streaming::open(self.0.clone(), req.into_inner()).await?))
    }

    async fn get_metadata(&self, _req: Request<GetMetadataRequest>) -> Result<Response<GetMetadataResponse>, Status> {
        Ok(Response::new(metadata::describe(&self.0)))
    }

    async fn set_metadata(&self, req: Request<SetMetadataRequest>) -> Result<Response<()>, Status> {
        let SetMetadataRequest { key, value } = req.into_inner();
        self.0.set_extended_metadata(key, value);
        Ok(Response::new(()))
    }

    async fn shutdown(&self, _req: Request<ShutdownRequest>) -> Result<Response<()>, Status> {
        tracing::info!("shutdown requested over gRPC");
        self.0.shutdown.cancel();
        Ok(Response::new(()))
    }
}

/// Rejects calls without the right `dapr-api-token` when `DAPR_API_TOKEN` is set.
#[derive(Clone)]
struct TokenCheck(Option<Arc<str>>);

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        match &self.0 {
            Some(expected)
                if !dapr_rs_proto::api_token_matches(
                    expected,
                    req.metadata().get(dapr_rs_proto::API_TOKEN_HEADER).map(|v| v.as_bytes()),
                ) =>
            {
                Err(Status::unauthenticated("invalid api token"))
            }
            _ => Ok(req),
        }
    }
}

/// Serves the gRPC API on every listener (one per listen address) as one server.
pub async fn serve(state: Arc<SidecarState>, listeners: Vec<tokio::net::TcpListener>) -> Result<(), tonic::transport::Error> {
    let token = TokenCheck(state.config.api_token.as_deref().map(Arc::from));
    let dapr =
        DaprServer::new(DaprApi(state.clone())).max_decoding_message_size(state.config.max_body_size).max_encoding_message_size(usize::MAX);
    // Both reflection versions, as grpc-go's `reflection.Register` gives daprd: grpcurl and .NET
    // ask v1, grpcio-reflection (Python) and older tools ask v1alpha. Each lists every service.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .include_reflection_service(false)
            .register_encoded_file_descriptor_set(dapr_rs_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1().expect("the embedded descriptor set is valid");
    let reflection_v1alpha = reflection().build_v1alpha().expect("the embedded descriptor set is valid");
    let shutdown = state.shutdown.clone();
    let max_body_size = state.config.max_body_size;
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .initial_connection_window_size(dapr_rs_proto::h2_windows::CONNECTION)
        .initial_stream_window_size(dapr_rs_proto::h2_windows::STREAM)
        .layer(super::observe::GrpcLayer::new(state.clone()))
        .layer(tower::util::MapResponseLayer::new(move |resp| too_large_is_resource_exhausted(resp, max_body_size)))
        .add_service(tonic::service::interceptor::InterceptedService::new(dapr, token))
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(
            futures::stream::select_all(listeners.into_iter().map(tokio_stream::wrappers::TcpListenerStream::new)),
            shutdown.cancelled_owned(),
        )
        .await
}

/// tonic refuses a message over `max_decoding_message_size` with OutOfRange; daprd (grpc-go)
/// answers ResourceExhausted, with Dapr's error code here.
fn too_large_is_resource_exhausted(mut resp: http::Response<tonic::body::Body>, limit: usize) -> http::Response<tonic::body::Body> {
    let Some(status) = Status::from_header_map(resp.headers()) else { return resp };
    if status.code() != tonic::Code::OutOfRange || !status.message().contains("message length too large") {
        return resp;
    }
    let message = format!("the request message is larger than the maximum of {limit} bytes (--max-body-size)");
    let exhausted = dapr_rs_proto::error_code::to_grpc_status(ErrorCode::BodyTooLarge, message);
    let headers = resp.headers_mut();
    for key in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        headers.remove(key);
    }
    if exhausted.add_header(headers).is_err() {
        tracing::warn!("cannot encode the ResourceExhausted status");
    }
    resp
}

//! The client over Dapr's gRPC API: one shared HTTP/2 channel per endpoint, on which any number
//! of calls may be in flight at once. Streaming subscriptions always go this way.

use super::per_endpoint::PerEndpoint;
use super::{BulkPublish, BulkPublishFailure, PublishRequest};
use crate::{ClientOptions, Error, Result, TraceContext};
use dapr_rs_proto::runtime::dapr_client::DaprClient as GrpcClient;
use dapr_rs_proto::runtime::{
    BulkPublishRequest, BulkPublishRequestEntry, GetMetadataRequest, GetMetadataResponse, PublishEventRequest, ShutdownRequest,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

pub(crate) type Grpc = GrpcClient<InterceptedService<Channel, ApiToken>>;

/// Adds `dapr-api-token` to every call when a token is configured.
#[derive(Clone)]
pub(crate) struct ApiToken(Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for ApiToken {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            req.metadata_mut().insert(dapr_rs_proto::API_TOKEN_HEADER, token.clone());
        }
        Ok(req)
    }
}

/// Calls in flight on one channel; more wait their turn. Far above what saturates a sidecar
/// (100 in flight does), far below the ~2,000 unread small frames h2 servers accept by default.
const MAX_CALLS_IN_FLIGHT: usize = 1000;

static CHANNELS: PerEndpoint<Channel> = PerEndpoint::new();

fn channel_for(endpoint: &str) -> Result<Channel> {
    CHANNELS.get_or_make(endpoint, || {
        let invalid = |message: String| Error::InvalidEndpoint { endpoint: endpoint.into(), message };
        let ep = Endpoint::from_shared(endpoint.to_string())
            .map_err(|e| invalid(e.to_string()))?
            .tcp_nodelay(true)
            .initial_connection_window_size(dapr_rs_proto::h2_windows::CONNECTION)
            .initial_stream_window_size(dapr_rs_proto::h2_windows::STREAM)
            // The same guard on the server's side counts our small request frames: past this many
            // calls in flight, further calls wait for a slot instead of ending the connection.
            .concurrency_limit(MAX_CALLS_IN_FLIGHT)
            .connect_timeout(Duration::from_secs(5));
        if endpoint.starts_with("https://") {
            return Err(invalid("TLS endpoints are not supported yet; use http://".into()));
        }
        Ok(ep.connect_lazy())
    })
}

/// The gRPC API of one sidecar. Cheap to clone: clones share the channel.
#[derive(Clone)]
pub(crate) struct GrpcTransport {
    grpc: Grpc,
    endpoint: Arc<str>,
    timeout: Option<Duration>,
    /// Set once the sidecar answered Unimplemented to the stable bulk RPC (daprd < 1.17).
    bulk_alpha_only: Arc<AtomicBool>,
}

impl GrpcTransport {
    /// The transport for [`ClientOptions::endpoint`]; does not connect. Must be called inside a
    /// tokio runtime.
    pub(super) fn new(options: &ClientOptions) -> Result<Self> {
        let channel = channel_for(&options.endpoint)?;
        let token = match &options.api_token {
            Some(t) => Some(t.parse().map_err(|_| super::invalid_token())?),
            None => None,
        };
        let grpc = GrpcClient::with_interceptor(channel, ApiToken(token))
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        Ok(Self {
            grpc,
            endpoint: options.endpoint.as_str().into(),
            timeout: options.timeout,
            bulk_alpha_only: Arc::new(AtomicBool::new(false)),
        })
    }

    pub(crate) fn grpc(&self) -> Grpc {
        self.grpc.clone()
    }

    pub(crate) fn status_error(&self, status: tonic::Status) -> Error {
        Error::from_status(status, &self.endpoint)
    }

    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        if let Some(t) = self.timeout {
            req.set_timeout(t);
        }
        req
    }

    pub(super) async fn publish_event(&self, req: PublishRequest, trace: &TraceContext) -> Result<()> {
        let msg = PublishEventRequest {
            pubsub_name: req.pubsub_name,
            topic: req.topic,
            data: req.data,
            data_content_type: req.data_content_type,
            metadata: req.metadata,
        };
        let mut request = self.request(msg);
        trace.add_to(request.metadata_mut())?;
        self.grpc().publish_event(request).await.map_err(|s| self.status_error(s))?;
        Ok(())
    }

    /// `BulkPublishEvent`, falling back to `BulkPublishEventAlpha1` on older sidecars.
    #[allow(deprecated)] // the Alpha1 RPC is still what daprd < 1.17 serves
    pub(super) async fn bulk_publish(&self, bulk: BulkPublish<'_>, trace: &TraceContext) -> Result<Vec<BulkPublishFailure>> {
        let msg = BulkPublishRequest {
            pubsub_name: bulk.pubsub_name.into(),
            topic: bulk.topic.into(),
            entries: bulk
                .entries
                .into_iter()
                .map(|e| BulkPublishRequestEntry {
                    entry_id: e.entry_id,
                    event: e.event.to_vec(),
                    content_type: e.content_type,
                    metadata: e.metadata,
                })
                .collect(),
            metadata: bulk.metadata,
        };
        let traced = |msg| -> Result<tonic::Request<BulkPublishRequest>> {
            let mut request = self.request(msg);
            trace.add_to(request.metadata_mut())?;
            Ok(request)
        };
        let mut grpc = self.grpc();
        let result = if self.bulk_alpha_only.load(Ordering::Relaxed) {
            grpc.bulk_publish_event_alpha1(traced(msg)?).await
        } else {
            match grpc.bulk_publish_event(traced(msg.clone())?).await {
                Err(s) if s.code() == tonic::Code::Unimplemented => {
                    self.bulk_alpha_only.store(true, Ordering::Relaxed);
                    grpc.bulk_publish_event_alpha1(traced(msg)?).await
                }
                other => other,
            }
        };
        let resp = result.map_err(|s| self.status_error(s))?.into_inner();
        Ok(resp.failed_entries.into_iter().map(|f| BulkPublishFailure { entry_id: f.entry_id, error: f.error }).collect())
    }

    pub(super) async fn metadata(&self) -> Result<GetMetadataResponse> {
        let resp = self.grpc().get_metadata(self.request(GetMetadataRequest {})).await.map_err(|s| self.status_error(s))?;
        Ok(resp.into_inner())
    }

    pub(super) async fn shutdown(&self) -> Result<()> {
        self.grpc().shutdown(self.request(ShutdownRequest {})).await.map_err(|s| self.status_error(s))?;
        Ok(())
    }

    /// One `GetMetadata` within `timeout`: `Ok(false)` when the sidecar is not there (yet).
    pub(super) async fn probe(&self, timeout: Duration) -> Result<bool> {
        let mut req = tonic::Request::new(GetMetadataRequest {});
        req.set_timeout(timeout);
        // grpc-timeout bounds the call only once a server reads it; a peer that never answers
        // (or an HTTP/2 handshake that hangs) is bounded here.
        let Ok(answer) = tokio::time::timeout(timeout, self.grpc().get_metadata(req)).await else {
            return Ok(false);
        };
        match answer {
            Ok(_) => Ok(true),
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled | tonic::Code::Unknown
                ) =>
            {
                Ok(false)
            }
            Err(s) => Err(self.status_error(s)),
        }
    }
}

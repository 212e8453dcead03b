use crate::streaming::SubscriptionStream;
use crate::{ClientOptions, Error, Result, SubscriptionOptions, TraceContext};
use bytes::Bytes;
use dapr_rs_proto::runtime::dapr_client::DaprClient as GrpcClient;
use dapr_rs_proto::runtime::{
    BulkPublishRequest, BulkPublishRequestEntry, GetMetadataRequest, GetMetadataResponse, PublishEventRequest, ShutdownRequest,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

type Grpc = GrpcClient<InterceptedService<Channel, ApiToken>>;

/// One publish: payload bytes, their content type and publish metadata (`rawPayload`,
/// `ttlInSeconds`, `cloudevent.*`, component keys).
#[derive(Debug, Clone, Default)]
pub struct PublishRequest {
    pub pubsub_name: String,
    pub topic: String,
    pub data: Bytes,
    pub data_content_type: String,
    pub metadata: HashMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct BulkPublishEntry {
    pub entry_id: String,
    pub event: Bytes,
    pub content_type: String,
    pub metadata: HashMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkPublishFailure {
    pub entry_id: String,
    pub error: String,
}

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

/// The client for one sidecar. Cheap to clone: clones share one HTTP/2 channel, on which any
/// number of calls may be in flight at once. Clients made for the same endpoint in one process
/// share that channel too, so a client per message costs no new connection.
#[derive(Clone)]
pub struct DaprClient {
    inner: Arc<Inner>,
}

struct Inner {
    options: ClientOptions,
    grpc: Grpc,
    /// Set once the sidecar answered Unimplemented to the stable bulk RPC (daprd < 1.17).
    bulk_alpha_only: AtomicBool,
}

/// Calls in flight on one channel; more wait their turn. Far above what saturates a sidecar
/// (100 in flight does), far below the ~2,000 unread small frames h2 servers accept by default.
const MAX_CALLS_IN_FLIGHT: usize = 1000;

/// A shared channel and a liveness token of the runtime that drives it.
struct SharedChannel {
    channel: Channel,
    /// Dangles once that runtime is dropped (its tasks, holding the `Arc`, are dropped with it).
    runtime_alive: std::sync::Weak<()>,
}

/// Channels by endpoint, shared by every client of the process. A channel is only reused while
/// the runtime that drives it lives (tests and apps may drop a runtime and start another); a
/// forked child starts afresh: the parent's channels are driven by threads the child lacks.
fn channel_for(endpoint: &str) -> Result<Channel> {
    static CHANNELS: OnceLock<Mutex<(u32, HashMap<String, SharedChannel>)>> = OnceLock::new();
    let mut guard = CHANNELS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    let (owner, channels) = &mut *guard;
    if *owner != std::process::id() {
        // Forgotten, not dropped: dropping would wake tasks of the parent's runtime.
        std::mem::forget(std::mem::take(channels));
        *owner = std::process::id();
    }
    if let Some(shared) = channels.get(endpoint).filter(|s| s.runtime_alive.strong_count() > 0) {
        return Ok(shared.channel.clone());
    }
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
    let channel = ep.connect_lazy();
    let alive = Arc::new(());
    let runtime_alive = Arc::downgrade(&alive);
    tokio::spawn(async move {
        let _alive = alive;
        std::future::pending::<()>().await
    });
    channels.insert(endpoint.to_string(), SharedChannel { channel: channel.clone(), runtime_alive });
    Ok(channel)
}

impl DaprClient {
    /// A client for the sidecar `options` names. Does not connect: the first call does, and
    /// [`DaprClient::wait_for_sidecar`] waits for it. Must be called inside a tokio runtime.
    pub fn new(options: ClientOptions) -> Result<Self> {
        let channel = channel_for(&options.endpoint)?;
        let token = match &options.api_token {
            Some(t) => Some(t.parse().map_err(|_| Error::InvalidArgument("the API token is not a valid header value".into()))?),
            None => None,
        };
        let grpc = GrpcClient::with_interceptor(channel, ApiToken(token))
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        Ok(Self { inner: Arc::new(Inner { options, grpc, bulk_alpha_only: AtomicBool::new(false) }) })
    }

    /// A client configured from the environment (see [`ClientOptions::from_env`]).
    pub fn from_env() -> Result<Self> {
        Self::new(ClientOptions::from_env())
    }

    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    pub(crate) fn grpc(&self) -> Grpc {
        self.inner.grpc.clone()
    }

    pub(crate) fn status_error(&self, status: tonic::Status) -> Error {
        Error::from_status(status, &self.inner.options.endpoint)
    }

    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        if let Some(t) = self.inner.options.timeout {
            req.set_timeout(t);
        }
        req
    }

    /// Publishes one event. The sidecar wraps it in a CloudEvent unless it already is one
    /// (`application/cloudevents+json`) or `rawPayload=true` is in the metadata.
    pub async fn publish_event(&self, req: PublishRequest) -> Result<()> {
        self.publish_event_traced(req, &TraceContext::default()).await
    }

    /// [`DaprClient::publish_event`] continuing `trace`: the sidecar's publish span becomes its
    /// child (or, when the sidecar does not trace, the CloudEvent carries `trace` itself).
    pub async fn publish_event_traced(&self, req: PublishRequest, trace: &TraceContext) -> Result<()> {
        if req.pubsub_name.is_empty() {
            return Err(Error::InvalidArgument("pubsub_name must not be empty".into()));
        }
        if req.topic.is_empty() {
            return Err(Error::InvalidArgument("topic must not be empty".into()));
        }
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

    /// Publishes many events in one call; returns the entries the sidecar could not publish.
    /// Uses `BulkPublishEvent`, falling back to `BulkPublishEventAlpha1` on older sidecars.
    pub async fn bulk_publish(
        &self,
        pubsub_name: &str,
        topic: &str,
        entries: Vec<BulkPublishEntry>,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<BulkPublishFailure>> {
        self.bulk_publish_traced(pubsub_name, topic, entries, metadata, &TraceContext::default()).await
    }

    /// [`DaprClient::bulk_publish`] continuing `trace`, as [`DaprClient::publish_event_traced`]
    /// does: every entry's CloudEvent carries it (or the sidecar's child of it).
    #[allow(deprecated)] // the Alpha1 RPC is still what daprd < 1.17 serves
    pub async fn bulk_publish_traced(
        &self,
        pubsub_name: &str,
        topic: &str,
        entries: Vec<BulkPublishEntry>,
        metadata: HashMap<String, String>,
        trace: &TraceContext,
    ) -> Result<Vec<BulkPublishFailure>> {
        let msg = BulkPublishRequest {
            pubsub_name: pubsub_name.into(),
            topic: topic.into(),
            entries: entries
                .into_iter()
                .map(|e| BulkPublishRequestEntry {
                    entry_id: e.entry_id,
                    event: e.event.to_vec(),
                    content_type: e.content_type,
                    metadata: e.metadata,
                })
                .collect(),
            metadata,
        };
        let traced = |msg| -> Result<tonic::Request<BulkPublishRequest>> {
            let mut request = self.request(msg);
            trace.add_to(request.metadata_mut())?;
            Ok(request)
        };
        let mut grpc = self.grpc();
        let result = if self.inner.bulk_alpha_only.load(Ordering::Relaxed) {
            grpc.bulk_publish_event_alpha1(traced(msg)?).await
        } else {
            match grpc.bulk_publish_event(traced(msg.clone())?).await {
                Err(s) if s.code() == tonic::Code::Unimplemented => {
                    self.inner.bulk_alpha_only.store(true, Ordering::Relaxed);
                    grpc.bulk_publish_event_alpha1(traced(msg)?).await
                }
                other => other,
            }
        };
        let resp = result.map_err(|s| self.status_error(s))?.into_inner();
        Ok(resp.failed_entries.into_iter().map(|f| BulkPublishFailure { entry_id: f.entry_id, error: f.error }).collect())
    }

    /// The sidecar's metadata (app id, components, subscriptions…).
    pub async fn metadata(&self) -> Result<GetMetadataResponse> {
        let resp = self.grpc().get_metadata(self.request(GetMetadataRequest {})).await.map_err(|s| self.status_error(s))?;
        Ok(resp.into_inner())
    }

    /// Asks the sidecar to shut down.
    pub async fn shutdown_sidecar(&self) -> Result<()> {
        self.grpc().shutdown(self.request(ShutdownRequest {})).await.map_err(|s| self.status_error(s))?;
        Ok(())
    }

    /// Probes the sidecar once (its gRPC metadata), for at most `timeout`: `Ok(false)` when it is
    /// not there (yet), `Err` when it answered with an error we must not hide (a wrong API token…).
    pub async fn probe_sidecar(&self, timeout: Duration) -> Result<bool> {
        let timeout = timeout.max(Duration::from_millis(1));
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

    /// Waits until the sidecar answers, probing its gRPC API; fails with [`Error::Timeout`].
    pub async fn wait_for_sidecar(&self, timeout: Duration) -> Result<()> {
        // A caller's "forever" (C#'s TimeSpan.MaxValue, u64::MAX ms) would overflow `Instant + d`
        // and panic across the binding; Go's longest duration (292 years) is forever enough.
        let deadline = Instant::now() + timeout.min(dapr_rs_proto::go_value::MAX_GO_DURATION);
        let mut delay = Duration::from_millis(5);
        loop {
            // The whole remaining time, not a slice of it: a sidecar that is up but slow to answer
            // (starting a thousand subscriptions on a busy machine) answers late, and a probe cut
            // at one second would never see it. One that is not up yet refuses at once.
            let remaining = deadline.saturating_duration_since(Instant::now());
            if self.probe_sidecar(remaining).await? {
                return Ok(());
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Error::Timeout { endpoint: self.inner.options.endpoint.clone(), after: timeout });
            }
            tokio::time::sleep(delay.min(remaining)).await;
            delay = (delay * 2).min(Duration::from_millis(250));
        }
    }

    /// Opens a streaming subscription (`SubscribeTopicEventsAlpha1`): no app port needed. The
    /// stream reconnects by itself when the sidecar restarts.
    pub async fn subscribe(&self, pubsub_name: &str, topic: &str, options: SubscriptionOptions) -> Result<SubscriptionStream> {
        SubscriptionStream::open(self.clone(), pubsub_name.into(), topic.into(), options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_forever_for_a_sidecar_is_a_wait_not_a_panic() {
        let client = DaprClient::new(ClientOptions::default().with_address("127.0.0.1:1")).unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(300), client.wait_for_sidecar(Duration::MAX)).await;
        assert!(waited.is_err(), "still waiting for a sidecar that never comes: {waited:?}");
    }
}

//! [`DaprClient`]: the calls an app makes to its sidecar, over Dapr's gRPC API (`grpc.rs`, the
//! default) or its HTTP API (`http.rs`), as [`ClientOptions::protocol`] says. Either way clients
//! of one endpoint share its connections, and the same call gives the same result and errors.

mod grpc;
mod http;
mod http_metadata;
mod http_wire;
mod per_endpoint;

pub(crate) use grpc::GrpcTransport;

use self::http::HttpTransport;
use crate::streaming::SubscriptionStream;
use crate::{ClientOptions, ClientProtocol, Error, Result, SubscriptionOptions, TraceContext};
use bytes::Bytes;
use dapr_rs_proto::runtime::GetMetadataResponse;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

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

/// The client for one sidecar. Cheap to clone: clones share its connections. Over gRPC that is
/// one HTTP/2 channel, on which any number of calls may be in flight at once; over HTTP, a pool
/// of keep-alive HTTP/1.1 connections. Clients made for the same endpoint in one process share
/// them too, so a client per message costs no new connection.
#[derive(Clone)]
pub struct DaprClient {
    inner: Arc<Inner>,
}

struct Inner {
    options: ClientOptions,
    transport: Transport,
    /// Over HTTP, the gRPC API that streaming subscriptions need, made on the first one.
    streaming: OnceLock<GrpcTransport>,
}

/// The API the client's calls go to.
enum Transport {
    Grpc(GrpcTransport),
    Http(HttpTransport),
}

/// One bulk publish, as the transports take it.
struct BulkPublish<'a> {
    pubsub_name: &'a str,
    topic: &'a str,
    entries: Vec<BulkPublishEntry>,
    metadata: HashMap<String, String>,
}

fn invalid_token() -> Error {
    Error::InvalidArgument("the API token is not a valid header value".into())
}

impl DaprClient {
    /// A client for the sidecar `options` names. Does not connect: the first call does, and
    /// [`DaprClient::wait_for_sidecar`] waits for it. Must be called inside a tokio runtime.
    pub fn new(options: ClientOptions) -> Result<Self> {
        let transport = match options.protocol {
            ClientProtocol::Grpc => Transport::Grpc(GrpcTransport::new(&options)?),
            ClientProtocol::Http => Transport::Http(HttpTransport::new(&options)?),
        };
        Ok(Self { inner: Arc::new(Inner { options, transport, streaming: OnceLock::new() }) })
    }

    /// A client configured from the environment (see [`ClientOptions::from_env`]).
    pub fn from_env() -> Result<Self> {
        Self::new(ClientOptions::from_env())
    }

    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
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
        match &self.inner.transport {
            Transport::Grpc(grpc) => grpc.publish_event(req, trace).await,
            Transport::Http(http) => http.publish_event(req, trace).await,
        }
    }

    /// Publishes many events in one call; returns the entries the sidecar could not publish.
    /// Over gRPC uses `BulkPublishEvent`, falling back to `BulkPublishEventAlpha1` on older
    /// sidecars; over HTTP `/v1.0-alpha1/publish/bulk`.
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
    pub async fn bulk_publish_traced(
        &self,
        pubsub_name: &str,
        topic: &str,
        entries: Vec<BulkPublishEntry>,
        metadata: HashMap<String, String>,
        trace: &TraceContext,
    ) -> Result<Vec<BulkPublishFailure>> {
        let bulk = BulkPublish { pubsub_name, topic, entries, metadata };
        match &self.inner.transport {
            Transport::Grpc(grpc) => grpc.bulk_publish(bulk, trace).await,
            Transport::Http(http) => http.bulk_publish(bulk, trace).await,
        }
    }

    /// The sidecar's metadata (app id, components, subscriptions…), in the gRPC API's shape
    /// whichever API answered.
    pub async fn metadata(&self) -> Result<GetMetadataResponse> {
        match &self.inner.transport {
            Transport::Grpc(grpc) => grpc.metadata().await,
            Transport::Http(http) => http.metadata().await,
        }
    }

    /// Asks the sidecar to shut down.
    pub async fn shutdown_sidecar(&self) -> Result<()> {
        match &self.inner.transport {
            Transport::Grpc(grpc) => grpc.shutdown().await,
            Transport::Http(http) => http.shutdown().await,
        }
    }

    /// Probes the sidecar once (gRPC: its metadata; HTTP: `GET /v1.0/healthz/outbound`), for at
    /// most `timeout`: `Ok(false)` when it is not there (yet), `Err` when it answered with an
    /// error we must not hide (a wrong API token…).
    pub async fn probe_sidecar(&self, timeout: Duration) -> Result<bool> {
        let timeout = timeout.max(Duration::from_millis(1));
        match &self.inner.transport {
            Transport::Grpc(grpc) => grpc.probe(timeout).await,
            Transport::Http(http) => http.probe(timeout).await,
        }
    }

    /// Waits until the sidecar answers [`DaprClient::probe_sidecar`]; fails with [`Error::Timeout`].
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
                return Err(Error::Timeout { endpoint: self.inner.options.api_endpoint().to_owned(), after: timeout });
            }
            tokio::time::sleep(delay.min(remaining)).await;
            delay = (delay * 2).min(Duration::from_millis(250));
        }
    }

    /// Opens a streaming subscription (`SubscribeTopicEventsAlpha1`): no app port needed. The
    /// stream reconnects by itself when the sidecar restarts. Streaming exists only on Dapr's
    /// gRPC API: a client of the HTTP API opens it at [`ClientOptions::endpoint`] all the same.
    pub async fn subscribe(&self, pubsub_name: &str, topic: &str, options: SubscriptionOptions) -> Result<SubscriptionStream> {
        SubscriptionStream::open(self.streaming_transport()?, pubsub_name.into(), topic.into(), options).await
    }

    fn streaming_transport(&self) -> Result<GrpcTransport> {
        match &self.inner.transport {
            Transport::Grpc(grpc) => Ok(grpc.clone()),
            Transport::Http(_) => {
                if let Some(grpc) = self.inner.streaming.get() {
                    return Ok(grpc.clone());
                }
                // Made here, not with the client: a gRPC endpoint it never uses must not fail it.
                let grpc = GrpcTransport::new(&self.inner.options)?;
                Ok(self.inner.streaming.get_or_init(|| grpc).clone())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_forever_for_a_sidecar_is_a_wait_not_a_panic() {
        for protocol in [ClientProtocol::Grpc, ClientProtocol::Http] {
            let options = ClientOptions::default().with_address("127.0.0.1:1").with_http_address("127.0.0.1:1").with_protocol(protocol);
            let client = DaprClient::new(options).unwrap();
            let waited = tokio::time::timeout(Duration::from_millis(300), client.wait_for_sidecar(Duration::MAX)).await;
            assert!(waited.is_err(), "{protocol:?}: still waiting for a sidecar that never comes: {waited:?}");
        }
    }

    #[tokio::test]
    async fn an_http_client_is_not_failed_by_a_grpc_endpoint_it_does_not_call() {
        let options = ClientOptions::from_lookup(|_| None).with_address("https://tls.example:443").with_protocol(ClientProtocol::Http);
        let client = DaprClient::new(options).expect("the gRPC endpoint is not used for calls");
        let refused = client.subscribe("pubsub", "orders", SubscriptionOptions::default()).await.err().expect("a TLS gRPC endpoint");
        assert!(matches!(refused, Error::InvalidEndpoint { .. }), "{refused}");
        let bad = ClientOptions::from_lookup(|_| None).with_http_address("https://tls.example:443").with_protocol(ClientProtocol::Http);
        assert!(matches!(DaprClient::new(bad), Err(Error::InvalidEndpoint { .. })));
    }
}

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
/// `ttlInSeconds`, `cloudevent.*`, component keys). Fill the fields and take the rest from
/// `Default`; [`crate::PublishPayload`] picks the content type of a value when the app names none.
///
/// ```
/// use dapr_rs_core::{PublishRequest, content_type};
///
/// let request = PublishRequest {
///     pubsub_name: "order_pub_sub".into(),
///     topic: "orders".into(),
///     data: r#"{"orderId":1}"#.into(),
///     data_content_type: content_type::JSON.into(),
///     metadata: [("ttlInSeconds".to_owned(), "60".to_owned())].into(),
/// };
/// assert_eq!(request.data_content_type, "application/json");
/// ```
#[derive(Debug, Clone, Default)]
pub struct PublishRequest {
    /// The pubsub component's `metadata.name`.
    pub pubsub_name: String,
    /// The topic to publish to.
    pub topic: String,
    /// The payload, as is: the sidecar wraps it in a CloudEvent (see [`DaprClient::publish_event`]).
    pub data: Bytes,
    /// The payload's content type, the CloudEvent's `datacontenttype`; when empty none is sent
    /// and the sidecar picks its default.
    pub data_content_type: String,
    /// Publish metadata: `rawPayload`, `ttlInSeconds`, `cloudevent.*` overrides, the component's
    /// own keys (`partitionKey`…).
    pub metadata: HashMap<String, String>,
}

/// One event of a [`DaprClient::bulk_publish`], named by an id its failure is reported under.
#[derive(Debug, Clone, Default)]
pub struct BulkPublishEntry {
    /// Unique within the call: a [`BulkPublishFailure`] names the entry by it.
    pub entry_id: String,
    /// The payload, as [`PublishRequest::data`].
    pub event: Bytes,
    /// The payload's content type, as [`PublishRequest::data_content_type`].
    pub content_type: String,
    /// This entry's own publish metadata (the call's `metadata` applies to every entry).
    pub metadata: HashMap<String, String>,
}

/// An entry the sidecar could not publish; the others were published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkPublishFailure {
    /// The failed entry's [`BulkPublishEntry::entry_id`].
    pub entry_id: String,
    /// Why, as the sidecar said it.
    pub error: String,
}

/// The client for one sidecar. Cheap to clone: clones share its connections. Over gRPC that is
/// one HTTP/2 channel, on which any number of calls may be in flight at once; over HTTP, a pool
/// of keep-alive HTTP/1.1 connections. Clients made for the same endpoint in one process share
/// them too, so a client per message costs no new connection.
///
/// Made from the environment `dapr-rs run` (or `dapr run`) sets, with [`DaprClient::from_env`],
/// or from [`ClientOptions`]; calls go to Dapr's gRPC API unless [`ClientOptions::protocol`] says
/// HTTP.
///
/// ```no_run
/// use dapr_rs_core::{DaprClient, PublishRequest};
/// use std::time::Duration;
///
/// # #[tokio::main]
/// # async fn main() -> dapr_rs_core::Result<()> {
/// let client = DaprClient::from_env()?;
/// client.wait_for_sidecar(Duration::from_secs(30)).await?;
/// let request = PublishRequest { pubsub_name: "pubsub".into(), topic: "orders".into(), data: "hello".into(), ..Default::default() };
/// client.publish_event(request).await?;
/// # Ok(())
/// # }
/// ```
///
/// Over Dapr's HTTP API (`DAPR_HTTP_PORT`, default 3500), as the official SDKs'
/// `communicationProtocol: HTTP`:
///
/// ```no_run
/// use dapr_rs_core::{ClientOptions, ClientProtocol, DaprClient};
/// use std::time::Duration;
///
/// # #[tokio::main]
/// # async fn main() -> dapr_rs_core::Result<()> {
/// let options = ClientOptions::from_env().with_protocol(ClientProtocol::Http).with_timeout(Some(Duration::from_secs(10)));
/// let client = DaprClient::new(options)?;
/// let metadata = client.metadata().await?;
/// println!("app id {}", metadata.id);
/// # Ok(())
/// # }
/// ```
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

    /// A client configured from the environment (see [`ClientOptions::from_env`]): the usual way
    /// for an app that `dapr-rs run` or `dapr run` starts.
    pub fn from_env() -> Result<Self> {
        Self::new(ClientOptions::from_env())
    }

    /// The options this client was made with (its endpoints, protocol, token and deadline).
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// Publishes one event. The sidecar wraps it in a CloudEvent unless it already is one
    /// (`application/cloudevents+json`) or `rawPayload=true` is in the metadata.
    ///
    /// ```no_run
    /// use dapr_rs_core::{DaprClient, ErrorKind, PublishRequest, content_type};
    ///
    /// # #[tokio::main]
    /// # async fn main() -> dapr_rs_core::Result<()> {
    /// let client = DaprClient::from_env()?;
    /// let request = PublishRequest {
    ///     pubsub_name: "order_pub_sub".into(),
    ///     topic: "orders".into(),
    ///     data: r#"{"orderId":1}"#.into(),
    ///     data_content_type: content_type::JSON.into(),
    ///     ..Default::default()
    /// };
    /// match client.publish_event(request).await {
    ///     Ok(()) => {}
    ///     // A component missing from the sidecar's resources will not appear by retrying.
    ///     Err(err) if err.kind() == ErrorKind::PubsubNotFound => eprintln!("check --resources-path: {err}"),
    ///     Err(err) => return Err(err),
    /// }
    /// # Ok(())
    /// # }
    /// ```
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
    /// sidecars; over HTTP `/v1.0-alpha1/publish/bulk`. An `Err` means the call itself failed
    /// (no entry is known to be published); an entry that failed alone is in the `Ok` list, to
    /// publish again or report.
    ///
    /// ```no_run
    /// use dapr_rs_core::{BulkPublishEntry, DaprClient, content_type};
    /// use std::collections::HashMap;
    ///
    /// # #[tokio::main]
    /// # async fn main() -> dapr_rs_core::Result<()> {
    /// let client = DaprClient::from_env()?;
    /// let entries = (1..=3)
    ///     .map(|order_id| BulkPublishEntry {
    ///         entry_id: order_id.to_string(),
    ///         event: format!(r#"{{"orderId":{order_id}}}"#).into(),
    ///         content_type: content_type::JSON.into(),
    ///         ..Default::default()
    ///     })
    ///     .collect();
    /// let failed = client.bulk_publish("order_pub_sub", "orders", entries, HashMap::new()).await?;
    /// for failure in failed {
    ///     eprintln!("order {} not published: {}", failure.entry_id, failure.error);
    /// }
    /// # Ok(())
    /// # }
    /// ```
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

    /// Asks the sidecar to shut down (its graceful shutdown: deliveries in flight finish first).
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
    /// Call it first in an app started beside its sidecar: the two start together, and a publish
    /// before the sidecar listens fails with [`ErrorKind::SidecarUnavailable`](crate::ErrorKind::SidecarUnavailable).
    ///
    /// ```no_run
    /// use dapr_rs_core::{DaprClient, Error};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main]
    /// # async fn main() -> dapr_rs_core::Result<()> {
    /// let client = DaprClient::from_env()?;
    /// if let Err(Error::Timeout { endpoint, after }) = client.wait_for_sidecar(Duration::from_secs(60)).await {
    ///     panic!("no sidecar at {endpoint} after {after:?}: is the app running under `dapr-rs run`?");
    /// }
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// ```no_run
    /// use dapr_rs_core::{DaprClient, SubscriptionOptions, TopicEventStatus};
    ///
    /// # #[tokio::main]
    /// # async fn main() -> dapr_rs_core::Result<()> {
    /// let client = DaprClient::from_env()?;
    /// let mut stream = client.subscribe("order_pub_sub", "orders", SubscriptionOptions::default()).await?;
    /// while let Some(message) = stream.next().await {
    ///     let message = message?; // an error ends the stream for good
    ///     println!("received {}", String::from_utf8_lossy(&message.event.data));
    ///     message.respond(TopicEventStatus::Success)?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
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

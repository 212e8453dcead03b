//! The client over Dapr's HTTP API (contract §3): publish, bulk publish, metadata, shutdown and
//! the outbound health probe, on one pool of keep-alive HTTP/1.1 connections per endpoint.

use super::per_endpoint::PerEndpoint;
use super::{BulkPublish, BulkPublishFailure, PublishRequest, http_metadata, http_wire};
use crate::{ClientOptions, Error, Result, TraceContext};
use bytes::Bytes;
use dapr_rs_proto::runtime::GetMetadataResponse;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Requests in flight to one endpoint; more wait their turn. An HTTP/1.1 request holds a
/// connection of its own until answered, so this bounds the sockets a burst of publishes opens.
const MAX_REQUESTS_IN_FLIGHT: usize = 256;

/// How long an unused pooled connection is kept open.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(90);

/// One endpoint's pooled connections and the turns to use them.
#[derive(Clone)]
struct ConnectionPool {
    client: Client<HttpConnector, Full<Bytes>>,
    turns: Arc<Semaphore>,
}

static POOLS: PerEndpoint<ConnectionPool> = PerEndpoint::new();

fn pool_for(endpoint: &str) -> Result<ConnectionPool> {
    POOLS.get_or_make(endpoint, || {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client =
            Client::builder(TokioExecutor::new()).pool_timer(TokioTimer::new()).pool_idle_timeout(IDLE_CONNECTION_TIMEOUT).build(connector);
        Ok(ConnectionPool { client, turns: Arc::new(Semaphore::new(MAX_REQUESTS_IN_FLIGHT)) })
    })
}

/// The HTTP API of one sidecar. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub(super) struct HttpTransport {
    pool: ConnectionPool,
    /// `http://host:port`, no trailing `/`.
    endpoint: Arc<str>,
    api_token: Option<HeaderValue>,
    timeout: Option<Duration>,
}

/// One call's answer: its status and whole body.
struct Answer {
    status: StatusCode,
    body: Bytes,
}

impl HttpTransport {
    /// The transport for [`ClientOptions::http_endpoint`]; does not connect. Must be called
    /// inside a tokio runtime.
    pub(super) fn new(options: &ClientOptions) -> Result<Self> {
        let endpoint = options.http_endpoint.trim_end_matches('/');
        let invalid = |message: &str| Error::InvalidEndpoint { endpoint: endpoint.into(), message: message.into() };
        if endpoint.starts_with("https://") {
            return Err(invalid("TLS endpoints are not supported yet; use http://"));
        }
        let uri: http::Uri = endpoint.parse().map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() || !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(invalid("the HTTP endpoint must be http://host:port"));
        }
        let api_token = match &options.api_token {
            Some(t) => {
                let mut value = HeaderValue::from_str(t).map_err(|_| super::invalid_token())?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Self { pool: pool_for(endpoint)?, endpoint: endpoint.into(), api_token, timeout: options.timeout })
    }

    pub(super) async fn publish_event(&self, req: PublishRequest, trace: &TraceContext) -> Result<()> {
        let path = http_wire::publish_path("/v1.0/publish", &req.pubsub_name, &req.topic, &req.metadata);
        let content_type = Some(req.data_content_type.as_str()).filter(|c| !c.is_empty());
        let answer = self.call(Method::POST, &path, content_type, req.data, trace, self.timeout).await?;
        if answer.status.is_success() {
            return Ok(());
        }
        Err(Error::from_http(answer.status.as_u16(), &answer.body))
    }

    /// `/v1.0-alpha1/publish/bulk`, which every daprd since 1.10 serves; entries that failed come
    /// back as `failedEntries` of a 500.
    pub(super) async fn bulk_publish(&self, bulk: BulkPublish<'_>, trace: &TraceContext) -> Result<Vec<BulkPublishFailure>> {
        if bulk.pubsub_name.is_empty() || bulk.topic.is_empty() {
            return Err(Error::InvalidArgument("a bulk publish needs a pubsub name and a topic".into()));
        }
        let path = http_wire::publish_path("/v1.0-alpha1/publish/bulk", bulk.pubsub_name, bulk.topic, &bulk.metadata);
        let body = http_wire::bulk_body(&bulk.entries)?;
        let answer = self.call(Method::POST, &path, Some(crate::content_type::JSON), body.into(), trace, self.timeout).await?;
        match http_wire::bulk_failures(&answer.body) {
            Some(failures) => Ok(failures),
            None if answer.status.is_success() => Ok(Vec::new()),
            None => Err(Error::from_http(answer.status.as_u16(), &answer.body)),
        }
    }

    pub(super) async fn metadata(&self) -> Result<GetMetadataResponse> {
        let answer = self.call(Method::GET, "/v1.0/metadata", None, Bytes::new(), &TraceContext::default(), self.timeout).await?;
        if !answer.status.is_success() {
            return Err(Error::from_http(answer.status.as_u16(), &answer.body));
        }
        http_metadata::from_json(&answer.body)
    }

    pub(super) async fn shutdown(&self) -> Result<()> {
        let answer = self.call(Method::POST, "/v1.0/shutdown", None, Bytes::new(), &TraceContext::default(), self.timeout).await?;
        if answer.status.is_success() {
            return Ok(());
        }
        Err(Error::from_http(answer.status.as_u16(), &answer.body))
    }

    /// One `GET /v1.0/healthz/outbound` within `timeout`: `Ok(false)` when the sidecar is not
    /// there, or not ready (5xx), yet. (daprd answers it without the API token, as for the official SDKs.)
    pub(super) async fn probe(&self, timeout: Duration) -> Result<bool> {
        let answer = self.call(Method::GET, "/v1.0/healthz/outbound", None, Bytes::new(), &TraceContext::default(), Some(timeout)).await;
        match answer {
            Ok(a) if a.status.is_success() => Ok(true),
            Ok(a) if a.status.is_server_error() => Ok(false),
            Ok(a) => Err(Error::from_http(a.status.as_u16(), &a.body)),
            Err(Error::Unavailable { .. }) => Ok(false),
            Err(e) if e.grpc_code() == tonic::Code::DeadlineExceeded => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sends one request and reads its whole answer, within `timeout` (waiting for a turn included).
    async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        content_type: Option<&str>,
        body: Bytes,
        trace: &TraceContext,
        timeout: Option<Duration>,
    ) -> Result<Answer> {
        let mut request = http::Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = format!("{}{path_and_query}", self.endpoint)
            .parse()
            .map_err(|e: http::uri::InvalidUri| Error::InvalidArgument(format!("{path_and_query:?} is no request path: {e}")))?;
        let headers = request.headers_mut();
        if let Some(content_type) = content_type {
            let value = HeaderValue::from_str(content_type)
                .map_err(|_| Error::InvalidArgument(format!("the content type {content_type:?} is not a valid header value")))?;
            headers.insert(header::CONTENT_TYPE, value);
        }
        if let Some(token) = &self.api_token {
            headers.insert(dapr_rs_proto::API_TOKEN_HEADER, token.clone());
        }
        trace.add_to_headers(headers)?;
        let exchange = async {
            let _turn = self.pool.turns.acquire().await.map_err(|_| Error::Cancelled)?;
            let response = self.pool.client.request(request).await.map_err(|e| self.unavailable(&e))?;
            let status = response.status();
            let body = response.into_body().collect().await.map_err(|e| self.unavailable(&e))?.to_bytes();
            Ok(Answer { status, body })
        };
        match timeout {
            Some(after) => tokio::time::timeout(after, exchange).await.unwrap_or_else(|_| Err(Error::deadline_exceeded(after))),
            None => exchange.await,
        }
    }

    /// A request the sidecar never answered (refused, reset, cut short): unavailable, as gRPC says.
    fn unavailable(&self, error: &(dyn std::error::Error + 'static)) -> Error {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        Error::Unavailable { endpoint: self.endpoint.to_string(), message }
    }
}

//! App-side delivery: servers the sidecar calls to learn the app's subscriptions and deliver its
//! events, over gRPC (`AppCallback`) or HTTP (`/dapr/subscribe` + routes).
//! The HTTP side's reading of a call and its reply are public too ([`read_delivery`],
//! [`subscribe_reply`]), for an app whose own web framework serves the routes.

mod grpc;
mod http;

pub(crate) use http::HEALTH_PATH;
pub use http::{DeliveryAnswer, HttpDelivery, HttpReply, read_delivery, subscribe_reply};

use crate::handler::run_handler;
use crate::{Error, Result, Subscription, TopicEvent, TopicEventStatus, TopicHandler};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long [`AppServer::stop`] lets deliveries in flight finish: daprd's default grace period.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(5);

/// The protocol the sidecar uses to reach the app (`--app-protocol`), which `dapr-rs run` exports
/// as `APP_PROTOCOL`: parse it (`"grpc"`, `"http"`) to serve what the sidecar will call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppProtocol {
    /// Dapr's `AppCallback` gRPC service (`--app-protocol grpc`).
    Grpc,
    /// `GET /dapr/subscribe` and a POST route per subscription (`--app-protocol http`).
    Http,
}

impl std::str::FromStr for AppProtocol {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "grpc" => Ok(Self::Grpc),
            "http" => Ok(Self::Http),
            other => Err(Error::InvalidArgument(format!("unknown app protocol {other:?}; expected \"grpc\" or \"http\""))),
        }
    }
}

/// The app's subscriptions, and which handler gets an event delivered to a route.
pub(crate) struct Router {
    subscriptions: Vec<Subscription>,
    /// `APP_API_TOKEN`: when set, deliveries must carry it as `dapr-api-token`.
    app_api_token: Option<String>,
}

impl Router {
    fn handler_for(&self, pubsub: &str, topic: &str, path: &str) -> Option<&Arc<dyn TopicHandler>> {
        let same_topic = |s: &&Subscription| s.pubsub_name == pubsub && s.topic == topic;
        let by_path = |s: &&Subscription| s.route() == path || s.route() == dapr_rs_proto::route_path(path);
        // An empty path means the sidecar saw no routes: the topic's default (rule-less) handler.
        let found = if path.is_empty() {
            self.subscriptions.iter().filter(same_topic).find(|s| s.options.rule.is_none())
        } else {
            self.subscriptions.iter().filter(same_topic).find(by_path).or_else(|| self.subscriptions.iter().find(by_path))
        };
        found.map(|s| &s.handler)
    }

    async fn deliver(&self, event: TopicEvent) -> Option<TopicEventStatus> {
        let handler = self.handler_for(&event.pubsub_name, &event.topic, &event.path)?.clone();
        Some(run_handler(handler.as_ref(), event).await)
    }

    fn token_ok(&self, presented: Option<&[u8]>) -> bool {
        app_token_ok(self.app_api_token.as_deref(), presented)
    }
}

/// The app's `APP_API_TOKEN` from the environment; unset or empty means none is required.
pub fn app_api_token_from_env() -> Option<String> {
    std::env::var("APP_API_TOKEN").ok().filter(|t| !t.is_empty())
}

/// Whether a call to the app may go on: no token is expected, or it `presented` the expected one.
fn app_token_ok(expected: Option<&str>, presented: Option<&[u8]>) -> bool {
    expected.is_none_or(|expected| dapr_rs_proto::api_token_matches(expected, presented))
}

/// The message metadata a delivery's call carried, for both servers: its gRPC metadata or HTTP
/// headers but the transport's own (`dapr_rs_proto::delivery_metadata`).
fn delivered_metadata(headers: &::http::HeaderMap) -> HashMap<String, String> {
    dapr_rs_proto::delivery_metadata::from_headers(headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes())))
}

/// A running app callback server. [`AppServer::stop`] shuts it down gracefully.
///
/// The sidecar asks it for the app's subscriptions when it starts and delivers their events to
/// it; each event goes to its [`Subscription`]'s handler, and the handler's answer back to the
/// sidecar ([`crate::answer_of`]: a failure or a panic is RETRY). A bulk subscription's batches go
/// to [`TopicHandler::handle_batch`]. Starting one needs no sidecar:
///
/// ```
/// use dapr_rs_core::app::{AppProtocol, AppServer};
/// use dapr_rs_core::{BulkSubscribeOptions, Subscription, SubscriptionOptions, TopicEvent, TopicEventStatus, handler_fn};
/// use std::net::SocketAddr;
///
/// # #[tokio::main]
/// # async fn main() -> dapr_rs_core::Result<()> {
/// let orders = handler_fn(|event: TopicEvent| async move {
///     println!("order: {}", event.data_json()?);
///     Ok(TopicEventStatus::Success)
/// });
/// // Batches of up to 100 events, each handed to the same handler (or to its handle_batch).
/// let batches = BulkSubscribeOptions { max_messages_count: 100, ..Default::default() };
/// let bulk = SubscriptionOptions { bulk_subscribe: Some(batches), ..Default::default() };
/// let subscriptions = vec![
///     Subscription::new("order_pub_sub", "orders", orders.clone()),
///     Subscription::new("order_pub_sub", "returns", orders).with_options(bulk),
/// ];
/// // The app port the sidecar was given (`--app-port`); port 0 picks a free one.
/// let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
/// let server = AppServer::start(AppProtocol::Http, addr, subscriptions).await?;
/// println!("serving on {}", server.local_addr());
/// server.stop().await?; // in an app: on SIGTERM, after `take_stop_handle` / `wait`
/// # Ok(())
/// # }
/// ```
pub struct AppServer {
    local_addr: SocketAddr,
    protocol: AppProtocol,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<()>>>,
}

impl AppServer {
    /// Binds `addr` (port 0 picks a free port) and serves `subscriptions` until stopped.
    /// `APP_API_TOKEN` from the environment, when set, is required on every delivery.
    pub async fn start(protocol: AppProtocol, addr: SocketAddr, subscriptions: Vec<Subscription>) -> Result<Self> {
        Self::start_with_token(protocol, addr, subscriptions, app_api_token_from_env()).await
    }

    /// As [`AppServer::start`], requiring `app_api_token` (instead of `APP_API_TOKEN`) on every
    /// call, or none.
    pub async fn start_with_token(
        protocol: AppProtocol,
        addr: SocketAddr,
        subscriptions: Vec<Subscription>,
        app_api_token: Option<String>,
    ) -> Result<Self> {
        for (i, sub) in subscriptions.iter().enumerate() {
            crate::check_route_is_free(&subscriptions[..i], sub)?;
        }
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| Error::Server(format!("cannot listen on {addr}: {e}")))?;
        let local_addr = listener.local_addr().map_err(|e| Error::Server(e.to_string()))?;
        let router = Arc::new(Router { subscriptions, app_api_token });
        let (tx, rx) = oneshot::channel::<()>();
        let stop = futures::FutureExt::shared(async move {
            let _ = rx.await;
        });
        let serve: std::pin::Pin<Box<dyn Future<Output = Result<()>> + Send>> = match protocol {
            AppProtocol::Grpc => Box::pin(grpc::serve(listener, router, stop.clone())),
            AppProtocol::Http => Box::pin(http::serve(listener, router, stop.clone())),
        };
        // However it is asked to stop (stop(), a stop handle, drop), the server ends at most
        // DEFAULT_STOP_GRACE later: a handler that never returns cannot hold it.
        let task = tokio::spawn(async move {
            tokio::select! {
                ended = serve => ended,
                () = async { stop.await; tokio::time::sleep(DEFAULT_STOP_GRACE).await } => {
                    tracing::warn!(grace = ?DEFAULT_STOP_GRACE, "deliveries still running when the app server's stop grace ran out; given up");
                    Ok(())
                }
            }
        });
        tracing::info!(%local_addr, ?protocol, "app callback server listening");
        Ok(Self { local_addr, protocol, shutdown: Some(tx), task: Some(task) })
    }

    /// The address it listens on: the port chosen when `addr`'s was 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The protocol it serves.
    pub fn protocol(&self) -> AppProtocol {
        self.protocol
    }

    /// Stops taking new deliveries, lets those in flight finish within [`DEFAULT_STOP_GRACE`], and
    /// returns.
    pub async fn stop(self) -> Result<()> {
        self.stop_within(DEFAULT_STOP_GRACE).await
    }

    /// Stops taking new deliveries and lets those in flight finish within `grace`; a handler still
    /// running then is given up (the sidecar hands its event out again), so a stop always ends.
    pub async fn stop_within(mut self, grace: Duration) -> Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let Some(mut task) = self.task.take() else { return Ok(()) };
        match tokio::time::timeout(grace, &mut task).await {
            Ok(joined) => joined.map_err(|e| Error::Server(e.to_string()))?,
            Err(_) => {
                task.abort();
                tracing::warn!(?grace, "deliveries still running when the app server's stop grace ran out; given up");
                Ok(())
            }
        }
    }

    /// Waits until the server ends (after [`AppServer::stop`] or a fatal error).
    pub async fn wait(&mut self) -> Result<()> {
        match self.task.take() {
            Some(task) => task.await.map_err(|e| Error::Server(e.to_string()))?,
            None => Ok(()),
        }
    }

    /// A handle that stops this server from elsewhere (e.g. a signal handler).
    pub fn take_stop_handle(&mut self) -> Option<oneshot::Sender<()>> {
        self.shutdown.take()
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

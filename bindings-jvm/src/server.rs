//! `AppServer`: core's [`CoreAppServer`] serving the app's subscriptions over gRPC `AppCallback`
//! (or HTTP) to JVM handlers ([`crate::handler`]).

use crate::errors::{DaprError, invalid_argument};
use crate::handler::{EventHandler, ForeignHandler};
use crate::runtime::in_runtime;
use dapr_rs_core::app::{AppProtocol, AppServer as CoreAppServer};
use dapr_rs_core::{BulkSubscribeOptions, RoutingRule, Subscription, SubscriptionOptions};
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use tokio::sync::Mutex;

/// One handler's subscription.
#[derive(uniffi::Record)]
pub struct TopicSubscription {
    pub pubsub_name: String,
    pub topic: String,
    pub handler: Arc<dyn EventHandler>,
    #[uniffi(default = None)]
    pub route: Option<String>,
    /// A CEL expression: only matching events reach this handler.
    #[uniffi(default = None)]
    pub match_expr: Option<String>,
    /// Order of this rule among the topic's rules (ascending).
    #[uniffi(default = 0)]
    pub priority: i32,
    #[uniffi(default = None)]
    pub dead_letter_topic: Option<String>,
    #[uniffi(default)]
    pub metadata: HashMap<String, String>,
    /// Ask the sidecar for batches (`bulkSubscribe`); 0 takes its defaults.
    #[uniffi(default = false)]
    pub bulk: bool,
    #[uniffi(default = 0)]
    pub max_messages_count: i32,
    #[uniffi(default = 0)]
    pub max_await_duration_ms: i32,
}

fn subscription(spec: TopicSubscription) -> Subscription {
    let bulk_subscribe = spec
        .bulk
        .then_some(BulkSubscribeOptions { max_messages_count: spec.max_messages_count, max_await_duration_ms: spec.max_await_duration_ms });
    let options = SubscriptionOptions {
        dead_letter_topic: spec.dead_letter_topic.filter(|t| !t.is_empty()),
        metadata: spec.metadata,
        rule: spec.match_expr.filter(|m| !m.is_empty()).map(|match_expr| RoutingRule { match_expr, priority: spec.priority }),
        route: spec.route.filter(|r| !r.is_empty()),
        bulk_subscribe,
    };
    let label = format!("{}/{}{}", spec.pubsub_name, spec.topic, options.route.as_deref().map(|r| format!(" {r}")).unwrap_or_default());
    Subscription::new(spec.pubsub_name, spec.topic, ForeignHandler::new(spec.handler, label)).with_options(options)
}

#[derive(uniffi::Object)]
pub struct AppServer {
    port: u16,
    server: Mutex<Option<CoreAppServer>>,
}

#[uniffi::export]
impl AppServer {
    /// Starts serving `subscriptions` on `host:port` (port 0 picks a free one); `protocol` is
    /// `"grpc"` (the sidecar's `--app-protocol grpc`) or `"http"`.
    #[uniffi::constructor]
    pub async fn start(protocol: String, host: String, port: i32, subscriptions: Vec<TopicSubscription>) -> Result<Arc<Self>, DaprError> {
        let protocol: AppProtocol = protocol.parse()?;
        let port = u16::try_from(port).map_err(|_| invalid_argument(format!("the app port must be 0-65535, not {port}")))?;
        let addr: SocketAddr = (host.as_str(), port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| invalid_argument(format!("cannot resolve the listen address {host}:{port}")))?;
        let subscriptions = subscriptions.into_iter().map(subscription).collect();
        let server = in_runtime(async move { CoreAppServer::start(protocol, addr, subscriptions).await }).await?;
        Ok(Arc::new(Self { port: server.local_addr().port(), server: Mutex::new(Some(server)) }))
    }

    /// The bound port.
    pub fn port(&self) -> i32 {
        self.port.into()
    }

    /// Stops taking deliveries and returns once those in flight are answered.
    pub async fn stop(&self) -> Result<(), DaprError> {
        let Some(server) = self.server.lock().await.take() else { return Ok(()) };
        Ok(in_runtime(async move { server.stop().await }).await?)
    }
}

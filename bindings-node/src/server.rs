//! `startAppServer`: core's [`AppServer`] (HTTP `/dapr/subscribe` + routes, or gRPC
//! `AppCallback`) delivering to JS handlers through one dispatcher ([`crate::handler`]).

use crate::errors::{invalid_argument, promise, to_js_error};
use crate::handler::{Dispatch, DispatchOf, JsHandler};
use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::{BulkSubscribeOptions, Error, RoutingRule, Subscription, SubscriptionOptions};
use napi::Env;
use napi::bindgen_prelude::PromiseRaw;
use napi_derive::napi;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use tokio::sync::Mutex;

/// One handler's subscription, as the facade lays it out.
#[napi(object, object_to_js = false)]
pub struct NativeSubscription {
    pub pubsub_name: String,
    pub topic: String,
    /// Index of the handler in the facade's table.
    pub handler: u32,
    pub route: Option<String>,
    /// A CEL expression: only matching events reach this handler.
    #[napi(js_name = "match")]
    pub match_expr: Option<String>,
    /// Order of this rule among the topic's rules (ascending).
    pub priority: Option<i32>,
    pub dead_letter_topic: Option<String>,
    pub metadata: Option<HashMap<String, String>>,
    /// Ask the sidecar for batches (`bulkSubscribe`); 0 takes its defaults.
    pub bulk: Option<bool>,
    pub max_messages_count: Option<i32>,
    pub max_await_duration_ms: Option<i32>,
}

pub(crate) fn subscription<const WEAK: bool>(spec: NativeSubscription, dispatch: &Arc<DispatchOf<WEAK>>) -> Subscription {
    let bulk_subscribe = spec.bulk.unwrap_or(false).then(|| BulkSubscribeOptions {
        max_messages_count: spec.max_messages_count.unwrap_or(0),
        max_await_duration_ms: spec.max_await_duration_ms.unwrap_or(0),
    });
    let options = SubscriptionOptions {
        dead_letter_topic: spec.dead_letter_topic.filter(|t| !t.is_empty()),
        metadata: spec.metadata.unwrap_or_default(),
        rule: spec.match_expr.map(|match_expr| RoutingRule { match_expr, priority: spec.priority.unwrap_or(0) }),
        route: spec.route.filter(|r| !r.is_empty()),
        bulk_subscribe,
    };
    let label = format!("{}/{}{}", spec.pubsub_name, spec.topic, options.route.as_deref().map(|r| format!(" {r}")).unwrap_or_default());
    let handler = Arc::new(JsHandler::<WEAK>::new(dispatch.clone(), spec.handler, label));
    Subscription::new(spec.pubsub_name, spec.topic, handler).with_options(options)
}

fn listen_address(env: &Env, host: &str, port: u32) -> napi::Result<SocketAddr> {
    let port = u16::try_from(port).map_err(|_| invalid_argument(env, format!("serverPort must be 0-65535, not {port}")))?;
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| invalid_argument(env, format!("cannot resolve the listen address {host}:{port}")))
}

/// Starts serving `subscriptions` on `host:port` (port 0 picks a free one) over `protocol`
/// (`"http"` or `"grpc"`). Bad arguments throw at once; a failure to start rejects.
#[napi(ts_return_type = "Promise<NativeAppServer>")]
pub fn start_app_server<'env>(
    env: &'env Env,
    protocol: String,
    host: String,
    port: u32,
    subscriptions: Vec<NativeSubscription>,
    #[napi(ts_arg_type = "(delivery: Delivery) => Promise<unknown>")] dispatch: Dispatch,
) -> napi::Result<PromiseRaw<'env, NativeAppServer>> {
    let protocol: AppProtocol = protocol.parse().map_err(|e: Error| to_js_error(env, &e))?;
    let addr = listen_address(env, &host, port)?;
    let dispatch: Arc<Dispatch> = Arc::new(dispatch);
    let subscriptions = subscriptions.into_iter().map(|spec| subscription(spec, &dispatch)).collect();
    // The server's subscriptions hold the only other references to the dispatcher, so the event
    // loop stays alive exactly while the server serves.
    drop(dispatch);
    promise(env, async move {
        let server = AppServer::start(protocol, addr, subscriptions).await?;
        Ok(NativeAppServer { port: server.local_addr().port(), server: Arc::new(Mutex::new(Some(server))) })
    })
}

#[napi]
pub struct NativeAppServer {
    port: u16,
    server: Arc<Mutex<Option<AppServer>>>,
}

#[napi]
impl NativeAppServer {
    /// The bound port.
    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.port.into()
    }

    /// Stops taking deliveries and resolves once those in flight are answered.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn stop<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let server = self.server.clone();
        promise(env, async move {
            match server.lock().await.take() {
                Some(server) => server.stop().await,
                None => Ok(()),
            }
        })
    }
}

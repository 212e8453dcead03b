//! `startAppServer`: core's [`AppServer`] (HTTP `/dapr/subscribe` + routes, or gRPC
//! `AppCallback`) delivering to JS handlers. Each delivery calls one ThreadsafeFunction, the
//! facade's dispatcher, with the handler's index and the event; its Promise settles the status.

use crate::errors::{invalid_argument, to_js_error};
use crate::event::DeliveredEvent;
use crate::stream::status_from_word;
use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::{
    BulkSubscribeOptions, HandlerError, RoutingRule, Subscription, SubscriptionOptions, TopicEvent, TopicEventStatus, TopicHandler,
};
use napi::Status;
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;
use std::collections::HashMap;
use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::Mutex;

/// What the dispatcher is called with: which handler, and the event.
#[napi(object)]
pub struct Delivery {
    pub handler: u32,
    pub event: DeliveredEvent,
}

/// The facade's dispatcher: resolves to a status word, or `undefined` for SUCCESS. (Spelled out
/// where it is a parameter: napi's type generator does not follow type aliases.)
type Dispatch = ThreadsafeFunction<Delivery, Promise<Option<String>>, Delivery, Status, false>;

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

struct JsHandler {
    dispatch: Arc<Dispatch>,
    index: u32,
}

impl TopicHandler for JsHandler {
    fn handle(&self, event: TopicEvent) -> Pin<Box<dyn Future<Output = Result<TopicEventStatus, HandlerError>> + Send + '_>> {
        let delivery = Delivery { handler: self.index, event: DeliveredEvent::from(event) };
        let dispatch = self.dispatch.clone();
        Box::pin(async move {
            let answer = dispatch.call_async_catch(delivery).await.map_err(|e| -> HandlerError { e.to_string().into() })?;
            match answer.await.map_err(|e| -> HandlerError { e.to_string().into() })? {
                None => Ok(TopicEventStatus::Success),
                Some(word) => status_from_word(&word).map_err(|e| -> HandlerError { e.to_string().into() }),
            }
        })
    }
}

fn subscription(spec: NativeSubscription, dispatch: &Arc<Dispatch>) -> Subscription {
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
    let handler = Arc::new(JsHandler { dispatch: dispatch.clone(), index: spec.handler });
    Subscription::new(spec.pubsub_name, spec.topic, handler).with_options(options)
}

fn listen_address(host: &str, port: u32) -> napi::Result<SocketAddr> {
    let port = u16::try_from(port).map_err(|_| invalid_argument(format!("serverPort must be 0-65535, not {port}")))?;
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| invalid_argument(format!("cannot resolve the listen address {host}:{port}")))
}

/// Starts serving `subscriptions` on `host:port` (port 0 picks a free one) over `protocol`
/// (`"http"` or `"grpc"`).
#[napi]
pub async fn start_app_server(
    protocol: String,
    host: String,
    port: u32,
    subscriptions: Vec<NativeSubscription>,
    dispatch: ThreadsafeFunction<Delivery, Promise<Option<String>>, Delivery, Status, false>,
) -> napi::Result<NativeAppServer> {
    let protocol: AppProtocol = protocol.parse().map_err(to_js_error)?;
    let addr = listen_address(&host, port)?;
    let dispatch = Arc::new(dispatch);
    let subscriptions = subscriptions.into_iter().map(|spec| subscription(spec, &dispatch)).collect();
    // The server's subscriptions hold the only other references to the dispatcher, so the event
    // loop stays alive exactly while the server serves.
    drop(dispatch);
    let server = AppServer::start(protocol, addr, subscriptions).await.map_err(to_js_error)?;
    Ok(NativeAppServer { port: server.local_addr().port(), server: Mutex::new(Some(server)) })
}

#[napi]
pub struct NativeAppServer {
    port: u16,
    server: Mutex<Option<AppServer>>,
}

#[napi]
impl NativeAppServer {
    /// The bound port.
    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.port.into()
    }

    /// Stops taking deliveries and resolves once those in flight are answered.
    #[napi]
    pub async fn stop(&self) -> napi::Result<()> {
        match self.server.lock().await.take() {
            Some(server) => server.stop().await.map_err(to_js_error),
            None => Ok(()),
        }
    }
}

//! The app host: core's [`AppServer`] (gRPC `AppCallback` or HTTP `/dapr/subscribe` + routes)
//! whose handlers hand each event to the caller through one queue and wait for its answer.

use crate::abi::{DaprError, metadata_arg, optional_str, required_str};
use crate::delivery::{Ack, PulledEvent};
use crate::runtime::{Completed, runtime, start};
use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::{
    Error, HandlerError, Result, RoutingRule, Subscription, SubscriptionOptions, TopicEvent, TopicEventStatus, TopicHandler,
};
use std::ffi::c_void;
use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

type Queue = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Box<PulledEvent>>>>;

/// An app host: its subscriptions until it starts, then its server.
struct AppHost {
    subscriptions: Mutex<Vec<Subscription>>,
    /// Handlers hold the sending side; once the server (and so every handler) is gone the queue ends.
    sender: Mutex<Option<mpsc::UnboundedSender<Box<PulledEvent>>>>,
    queue: Queue,
    server: Arc<tokio::sync::Mutex<Option<AppServer>>>,
}

/// Hands each event to the caller and answers what the caller acknowledges.
struct PulledHandler {
    index: i32,
    queue: mpsc::UnboundedSender<Box<PulledEvent>>,
}

impl TopicHandler for PulledHandler {
    fn handle(&self, event: TopicEvent) -> Pin<Box<dyn Future<Output = Result<TopicEventStatus, HandlerError>> + Send + '_>> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            self.queue
                .send(PulledEvent::new(event, self.index, Ack::App(tx)))
                .map_err(|_| -> HandlerError { "the app host is stopping".into() })?;
            // Dropped unanswered (the caller freed it or shut down): a RETRY.
            rx.await.map_err(|_| -> HandlerError { "the app dropped the event without answering it".into() })
        })
    }
}

/// # Safety
/// `app` is a live app host handle.
unsafe fn host<'a>(app: *mut c_void) -> &'a AppHost {
    // SAFETY: the caller's contract.
    unsafe { &*(app as *const AppHost) }
}

/// Makes an app host with no subscriptions.
#[unsafe(no_mangle)]
pub extern "C" fn dapr_rs_app_new() -> *mut c_void {
    let (tx, rx) = mpsc::unbounded_channel();
    let host = AppHost {
        subscriptions: Mutex::new(Vec::new()),
        sender: Mutex::new(Some(tx)),
        queue: Arc::new(tokio::sync::Mutex::new(rx)),
        server: Arc::new(tokio::sync::Mutex::new(None)),
    };
    Box::into_raw(Box::new(host)) as *mut c_void
}

/// Adds a subscription before the host starts; its events carry `subscription` = the number of
/// subscriptions added before it. `route` (not given: derived), `match_expr` with `priority` (a
/// routing rule; not given: the topic's default route), `dead_letter_topic`, `metadata` (JSON
/// object of strings, e.g. `{"rawPayload":"true"}`) are optional.
///
/// # Safety
/// `app` is a live app host handle; the pairs are readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_app_subscribe(
    app: *mut c_void,
    pubsub_name: *const u8,
    pubsub_name_len: i32,
    topic: *const u8,
    topic_len: i32,
    route: *const u8,
    route_len: i32,
    match_expr: *const u8,
    match_expr_len: i32,
    priority: i32,
    dead_letter_topic: *const u8,
    dead_letter_topic_len: i32,
    metadata: *const u8,
    metadata_len: i32,
) -> *mut DaprError {
    // SAFETY: the caller's contract.
    let host = unsafe { host(app) };
    let made = unsafe {
        (|| -> Result<_> {
            let options = SubscriptionOptions {
                dead_letter_topic: optional_str(dead_letter_topic, dead_letter_topic_len, "dead_letter_topic")?,
                metadata: metadata_arg(metadata, metadata_len)?,
                rule: optional_str(match_expr, match_expr_len, "match")?.map(|match_expr| RoutingRule { match_expr, priority }),
                route: optional_str(route, route_len, "route")?,
                bulk_subscribe: None,
            };
            let pubsub_name = required_str(pubsub_name, pubsub_name_len, "pubsub_name")?;
            let topic = required_str(topic, topic_len, "topic")?;
            if pubsub_name.is_empty() || topic.is_empty() {
                return Err(Error::InvalidArgument("a subscription needs a pubsub_name and a topic".into()));
            }
            Ok((pubsub_name, topic, options))
        })()
    };
    DaprError::from_result(made.and_then(|(pubsub_name, topic, options)| {
        let sender = host.sender.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let queue = sender.ok_or_else(|| Error::InvalidArgument("the app host has already started".into()))?;
        let mut subscriptions = host.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        let handler = Arc::new(PulledHandler { index: subscriptions.len() as i32, queue });
        subscriptions.push(Subscription::new(pubsub_name, topic, handler).with_options(options));
        Ok(())
    }))
}

/// Starts serving the subscriptions over `protocol` (`grpc` or `http`) on `host:port` (port 0
/// picks a free one, written to `out_port`). Blocks until the port is bound; call it from a
/// thread that is not a runtime thread.
///
/// # Safety
/// `app` is a live app host handle; the pairs are readable; `out_port` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_app_start(
    app: *mut c_void,
    protocol: *const u8,
    protocol_len: i32,
    listen_host: *const u8,
    listen_host_len: i32,
    port: i32,
    out_port: *mut i32,
) -> *mut DaprError {
    // SAFETY: the caller's contract.
    let host = unsafe { host(app) };
    let args = unsafe {
        (|| -> Result<(AppProtocol, SocketAddr)> {
            let protocol: AppProtocol = required_str(protocol, protocol_len, "protocol")?.parse()?;
            let listen_host = optional_str(listen_host, listen_host_len, "host")?.unwrap_or_else(|| "127.0.0.1".into());
            let port = u16::try_from(port).map_err(|_| Error::InvalidArgument(format!("port must be 0-65535, not {port}")))?;
            let addr = (listen_host.as_str(), port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| Error::InvalidArgument(format!("cannot resolve the listen address {listen_host}:{port}")))?;
            Ok((protocol, addr))
        })()
    };
    let started = args.and_then(|(protocol, addr)| {
        // The handlers take the only senders, so the queue ends when the server is gone.
        let sender = host.sender.lock().unwrap_or_else(|e| e.into_inner()).take();
        sender.ok_or_else(|| Error::InvalidArgument("the app host has already started".into()))?;
        let subscriptions = std::mem::take(&mut *host.subscriptions.lock().unwrap_or_else(|e| e.into_inner()));
        let server = runtime().block_on(AppServer::start(protocol, addr, subscriptions))?;
        let port = server.local_addr().port();
        *host.server.blocking_lock() = Some(server);
        Ok(port)
    });
    match started {
        Ok(port) => {
            // SAFETY: writable by the caller's contract.
            unsafe { *out_port = i32::from(port) };
            std::ptr::null_mut()
        }
        Err(e) => DaprError::boxed(&e),
    }
}

/// Completes with the next delivered event (an event handle), or null once the host stopped.
///
/// # Safety
/// `app` is a live app host handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_app_next(app: *mut c_void, user_data: *mut c_void) -> *mut c_void {
    // SAFETY: the caller's contract.
    let queue = unsafe { host(app) }.queue.clone();
    start(user_data, async move {
        match queue.lock().await.recv().await {
            Some(event) => Ok(Completed(Box::into_raw(event) as *mut c_void)),
            None => Ok(Completed::NOTHING),
        }
    })
}

/// Stops the server: no new deliveries; completes once those in flight are answered. Pending
/// `dapr_rs_app_next` calls then complete with null.
///
/// # Safety
/// `app` is a live app host handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_app_stop(app: *mut c_void, user_data: *mut c_void) -> *mut c_void {
    // SAFETY: the caller's contract.
    let host = unsafe { host(app) };
    // Never started: dropping the last sender ends the queue.
    host.sender.lock().unwrap_or_else(|e| e.into_inner()).take();
    host.subscriptions.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let server = host.server.clone();
    start(user_data, async move {
        if let Some(server) = server.lock().await.take() {
            server.stop().await?;
        }
        Ok(Completed::NOTHING)
    })
}

/// Frees an app host (a running server is told to stop).
///
/// # Safety
/// `app` is null or an app host handle not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_app_free(app: *mut c_void) {
    if !app.is_null() {
        // SAFETY: made by `dapr_rs_app_new`, freed once; dropping an `AppServer` stops it.
        drop(unsafe { Box::from_raw(app as *mut AppHost) });
    }
}

//! The app host: core's [`AppServer`] (gRPC `AppCallback` or HTTP `/dapr/subscribe` + routes)
//! whose handlers hand each event to the caller through one queue, and each batch of a batch
//! handler through another (as Temporal polls each kind of work on its own), and wait for the answer.

use crate::abi::{DaprError, request_bytes};
use crate::batch::{PulledBatch, PulledBatchHandler};
use crate::delivery::{Ack, PulledEvent};
use crate::requests;
use crate::runtime::{Completed, runtime, start};
use dapr_rs_core::app::AppServer;
use dapr_rs_core::{Error, HandlerError, Result, Subscription, TopicEvent, TopicEventStatus, TopicHandler};
use std::ffi::c_void;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

type Queue<T> = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Box<T>>>>;

/// An app host: its subscriptions until it starts, then its server.
struct AppHost {
    subscriptions: Mutex<Vec<Subscription>>,
    /// Handlers hold the sending sides; once the server (and so every handler) is gone the queues end.
    senders: Mutex<Option<Senders>>,
    queue: Queue<PulledEvent>,
    batches: Queue<PulledBatch>,
    server: Arc<tokio::sync::Mutex<Option<AppServer>>>,
}

#[derive(Clone)]
struct Senders {
    events: mpsc::UnboundedSender<Box<PulledEvent>>,
    batches: mpsc::UnboundedSender<Box<PulledBatch>>,
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
            // What the caller answered (a status, or its handler's failure) goes to core's one
            // rule; dropped unanswered (the caller freed it or shut down) is a failure too.
            rx.await.map_err(|_| -> HandlerError { "the app dropped the event without answering it".into() })?
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
    let (events, queue) = mpsc::unbounded_channel();
    let (batches, batch_queue) = mpsc::unbounded_channel();
    let host = AppHost {
        subscriptions: Mutex::new(Vec::new()),
        senders: Mutex::new(Some(Senders { events, batches })),
        queue: Arc::new(tokio::sync::Mutex::new(queue)),
        batches: Arc::new(tokio::sync::Mutex::new(batch_queue)),
        server: Arc::new(tokio::sync::Mutex::new(None)),
    };
    Box::into_raw(Box::new(host)) as *mut c_void
}

/// Adds a subscription before the host starts, from an encoded `AppSubscribeRequest`; its events
/// (or, for a batch handler, its batches) carry `subscription` = the number of subscriptions
/// added before it.
///
/// # Safety
/// `app` is a live app host handle; `request` points at `request_len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_app_subscribe(app: *mut c_void, request: *const u8, request_len: i32) -> *mut DaprError {
    // SAFETY: the caller's contract.
    let host = unsafe { host(app) };
    // SAFETY: the caller's contract.
    let request = unsafe { request_bytes(request, request_len) }.and_then(requests::app_subscription);
    DaprError::from_result(request.and_then(|subscription| {
        let senders = host.senders.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let senders = senders.ok_or_else(|| Error::InvalidArgument("the app host has already started".into()))?;
        let mut subscriptions = host.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        let index = subscriptions.len() as i32;
        let handler: Arc<dyn TopicHandler> = if subscription.batch_handler {
            Arc::new(PulledBatchHandler { index, queue: senders.batches })
        } else {
            Arc::new(PulledHandler { index, queue: senders.events })
        };
        subscriptions.push(Subscription::new(subscription.pubsub_name, subscription.topic, handler).with_options(subscription.options));
        Ok(())
    }))
}

/// Starts serving the subscriptions as an encoded `AppStartRequest` says (protocol, host, port;
/// port 0 picks a free one, written to `out_port`). Blocks until the port is bound; call it from
/// a thread that is not a runtime thread.
///
/// # Safety
/// `app` is a live app host handle; `request` points at `request_len` readable bytes; `out_port`
/// is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_app_start(app: *mut c_void, request: *const u8, request_len: i32, out_port: *mut i32) -> *mut DaprError {
    // SAFETY: the caller's contract.
    let host = unsafe { host(app) };
    // SAFETY: the caller's contract.
    let request = unsafe { request_bytes(request, request_len) }.and_then(requests::app_start);
    let started = request.and_then(|(protocol, addr)| {
        // The handlers take the only senders, so the queue ends when the server is gone.
        let senders = host.senders.lock().unwrap_or_else(|e| e.into_inner()).take();
        senders.ok_or_else(|| Error::InvalidArgument("the app host has already started".into()))?;
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

/// Completes with the next batch for a batch handler (a batch handle, read with
/// `dapr_rs_batch_view` and answered with `dapr_rs_batch_ack`), or null once the host stopped.
///
/// # Safety
/// `app` is a live app host handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_app_next_batch(app: *mut c_void, user_data: *mut c_void) -> *mut c_void {
    // SAFETY: the caller's contract.
    let queue = unsafe { host(app) }.batches.clone();
    start(user_data, async move {
        match queue.lock().await.recv().await {
            Some(batch) => Ok(Completed(Box::into_raw(batch) as *mut c_void)),
            None => Ok(Completed::NOTHING),
        }
    })
}

/// Stops the server: no new deliveries; completes once those in flight are answered. Pending
/// `dapr_rs_app_next` and `dapr_rs_app_next_batch` calls then complete with null.
///
/// # Safety
/// `app` is a live app host handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dapr_rs_app_stop(app: *mut c_void, user_data: *mut c_void) -> *mut c_void {
    // SAFETY: the caller's contract.
    let host = unsafe { host(app) };
    // Never started: dropping the last senders ends the queues.
    host.senders.lock().unwrap_or_else(|e| e.into_inner()).take();
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

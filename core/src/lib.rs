//! dapr-rs-core: the one client every dapr-rs binding wraps, and the Rust SDK.
//!
//! - [`DaprClient`]: publish (single, bulk, many in flight on one HTTP/2 channel, or on pooled
//!   HTTP/1.1 connections over Dapr's HTTP API), wait for the sidecar, read its metadata, open
//!   streaming subscriptions ([`SubscriptionStream`]).
//! - [`app`]: the app-side callback servers (gRPC `AppCallback`, HTTP `/dapr/subscribe`) that
//!   deliver events to [`TopicHandler`]s ([`handler_fn`] makes one of a closure).
//!
//! Every client-side protocol rule lives here once: which content type a value gets, what a
//! handler's answer means ([`answer_of`]), which exception class an error becomes ([`ErrorKind`]),
//! which routes an app may serve. Wire facts (CloudEvent shape, content types, error codes, reply
//! mapping) come from `dapr-rs-proto`; nothing here restates them. Never here: anything of the
//! sidecar or the components (a separate program), or of a binding (core never knows one exists).
//!
//! # Quickstart
//!
//! Dapr's pub/sub quickstart (samples/pub_sub/rust) in two programs, each run beside its own
//! sidecar by `dapr-rs run`, which exports the ports they read. The subscriber serves topic
//! `orders` of the pubsub component `order_pub_sub` on its app port:
//!
//! ```no_run
//! use dapr_rs_core::app::{AppProtocol, AppServer};
//! use dapr_rs_core::{Subscription, TopicEvent, TopicEventStatus, handler_fn};
//! use std::net::{Ipv4Addr, SocketAddr};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // dapr-rs run --app-id checkout --app-port 6002 --app-protocol grpc -- <this program>
//! let handler = handler_fn(|event: TopicEvent| async move {
//!     let Ok(order) = event.data_json() else {
//!         return Ok(TopicEventStatus::Drop); // never an order: not worth delivering again
//!     };
//!     println!("Subscriber received: {order}");
//!     Ok(TopicEventStatus::Success)
//! });
//! let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 6002));
//! let mut server = AppServer::start(AppProtocol::Grpc, addr, vec![Subscription::new("order_pub_sub", "orders", handler)]).await?;
//! server.wait().await?; // until stopped (see AppServer::take_stop_handle) or failed
//! # Ok(())
//! # }
//! ```
//!
//! The publisher waits for its sidecar, then publishes:
//!
//! ```no_run
//! use dapr_rs_core::{DaprClient, PublishRequest, content_type};
//! use std::time::Duration;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // dapr-rs run --app-id orderprocessing -- <this program>
//! let client = DaprClient::from_env()?; // DAPR_GRPC_PORT, set by `dapr-rs run`
//! client.wait_for_sidecar(Duration::from_secs(60)).await?;
//! for order_id in 1..=10 {
//!     let order = format!(r#"{{"orderId":{order_id}}}"#);
//!     let request = PublishRequest {
//!         pubsub_name: "order_pub_sub".into(),
//!         topic: "orders".into(),
//!         data: order.clone().into(),
//!         data_content_type: content_type::JSON.into(),
//!         ..Default::default()
//!     };
//!     client.publish_event(request).await?;
//!     println!("Published data: {order}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Without an app port, [`DaprClient::subscribe`] opens a streaming subscription instead.
//! Every call fails with one [`Error`]; match on [`Error::kind`] to tell its causes apart.

#![warn(missing_docs)]

pub mod app;
mod binding_runtime;
mod client;
mod config;
mod error;
mod event;
mod handler;
mod payload;
mod streaming;
mod subscription;
mod trace_context;

pub use binding_runtime::{FLOOR_CALL_MAX_BUSY, binding_runtime, binding_worker_threads, floor_call};
pub use client::{BulkPublishEntry, BulkPublishFailure, DaprClient, PublishRequest};
pub use config::{ClientOptions, ClientProtocol};
pub use error::{Error, ErrorKind, Result};
pub use event::{EventData, TopicEvent};
pub use handler::{HandlerError, TopicHandler, answer_of, handle_as_batch_of_one, handler_fn, statuses_by_entry_id};
pub use payload::PublishPayload;
pub use streaming::{StreamCloser, StreamMessage, StreamResponder, SubscriptionStream};
pub use subscription::{BulkSubscribeOptions, RoutingRule, Subscription, SubscriptionOptions, check_route_is_free};
pub use trace_context::TraceContext;

/// The wire types (`runtime`, `common`) and wire rules core shares with the sidecar.
pub use dapr_rs_proto as proto;
/// The content types a publish names and an event carries (`content_type::JSON`…).
pub use dapr_rs_proto::content_type;
/// Dapr's `errorCode`s (`ERR_PUBSUB_NOT_FOUND`…): what [`Error::error_code`] gives, by name.
pub use dapr_rs_proto::error_code::ErrorCode;
/// What a handler answers: ack, redeliver later, or drop (dead-letter if configured).
pub use dapr_rs_proto::outcome::DeliveryOutcome as TopicEventStatus;

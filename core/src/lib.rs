//! dapr-rs-core: the one client every dapr-rs binding wraps.
//!
//! - [`DaprClient`]: publish (single, bulk, many in flight on one HTTP/2 channel, or on pooled
//!   HTTP/1.1 connections over Dapr's HTTP API), wait for the sidecar, read its metadata, open
//!   streaming subscriptions.
//! - [`app`]: the app-side callback servers (gRPC `AppCallback`, HTTP `/dapr/subscribe`) that
//!   deliver events to [`TopicHandler`]s.
//!
//! Every client-side protocol rule lives here once: which content type a value gets, what a
//! handler's answer means ([`answer_of`]), which exception class an error becomes ([`ErrorKind`]),
//! which routes an app may serve. Wire facts (CloudEvent shape, content types, error codes, reply
//! mapping) come from `dapr-rs-proto`; nothing here restates them. Never here: anything of the
//! sidecar or the components (a separate program), or of a binding (core never knows one exists).

pub mod app;
mod client;
mod config;
mod error;
mod event;
mod handler;
mod payload;
mod streaming;
mod subscription;
mod trace_context;

pub use client::{BulkPublishEntry, BulkPublishFailure, DaprClient, PublishRequest};
pub use config::{ClientOptions, ClientProtocol};
pub use error::{Error, ErrorKind, Result};
pub use event::{EventData, TopicEvent};
pub use handler::{HandlerError, TopicHandler, answer_of, handler_fn};
pub use payload::PublishPayload;
pub use streaming::{StreamCloser, StreamMessage, StreamResponder, SubscriptionStream};
pub use subscription::{BulkSubscribeOptions, RoutingRule, Subscription, SubscriptionOptions, check_route_is_free};
pub use trace_context::TraceContext;

pub use dapr_rs_proto as proto;
pub use dapr_rs_proto::content_type;
pub use dapr_rs_proto::error_code::ErrorCode;
/// What a handler answers: ack, redeliver later, or drop (dead-letter if configured).
pub use dapr_rs_proto::outcome::DeliveryOutcome as TopicEventStatus;

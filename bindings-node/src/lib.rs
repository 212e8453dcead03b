//! dapr-rs for Node.js: core's client and app server (or its HTTP app rules, for routes the app's
//! own Express app serves) as a napi-rs addon. This crate only converts values between JavaScript
//! and core; the `dapr-rs` package's JavaScript facade (`index.js`) gives it the `@dapr/dapr`
//! shape. Every call that waits returns a Promise and runs on napi's tokio runtime, so nothing
//! blocks the event loop; JS handlers are called through a ThreadsafeFunction on the JS thread.

#[cfg(feature = "cli")]
mod cli;
mod client;
mod errors;
mod event;
mod handler;
mod http_routes;
mod log;
mod payload;
mod server;
mod stream;

#[cfg(feature = "cli")]
pub use cli::run_cli;
pub use client::NativeClient;
pub use errors::promise_round_trip;
pub use http_routes::{NativeHttpRoutes, http_routes};
pub use log::log_to_stderr;
pub use server::{NativeAppServer, start_app_server};
pub use stream::NativeSubscriptionStream;

//! dapr-rs for Node.js: core's client and app server (or its HTTP app rules, for routes the app's
//! own Express app serves) as a napi-rs addon. This crate only converts values between JavaScript
//! and core; the `dapr-rs` package's JavaScript facade (`index.js`) gives it the `@dapr/dapr`
//! shape. Every call that waits returns a Promise and runs on napi's tokio runtime, so nothing
//! blocks the event loop; JS handlers are called through a ThreadsafeFunction on the JS thread.
//! That runtime is core's `binding_runtime`, as the other bindings': JS code never runs on it. On
//! 2 cores its one worker published serially 7.1-7.5k/s against 5.8-6.7k/s with napi's default (a
//! worker per core, the second woken on every call) and 100 in flight 35-38k/s against 28-34k/s.
//! Promises settle through one threadsafe function per JS thread (`settle`), not napi's one per
//! promise: the bench's floor call (`promiseRoundTrip`) fell from 5.3-5.7 to 1.9-2.0 µs a call
//! with 100 in flight, and serially from 60-62 to 37-51 µs; with results taken in batches, 1.35 µs.

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
mod settle;
mod stream;

#[cfg(feature = "cli")]
pub use cli::run_cli;
pub use client::NativeClient;
pub use errors::promise_round_trip;
pub use http_routes::{NativeHttpRoutes, http_routes};
pub use log::log_to_stderr;
pub use server::{NativeAppServer, start_app_server};
pub use stream::NativeSubscriptionStream;

/// Rust's allocations in the addon go to mimalloc (see ARCHITECTURE.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[napi_derive::module_init]
fn init() {
    // Without a runtime of our own, napi builds its default one on first use.
    if let Ok(runtime) = dapr_rs_core::binding_runtime("dapr-rs-node") {
        napi::bindgen_prelude::create_custom_tokio_runtime(runtime);
    }
}

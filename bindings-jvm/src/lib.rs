//! dapr-rs for the JVM: core's client, app server and streaming subscriptions exported through
//! uniffi, whose bindgen generates the Kotlin (package `io.daprrs.core`: suspend functions,
//! `DaprException` subclasses) from the built library. This crate only converts values between
//! uniffi's types and core's; what a handler's answer or failure means is core's `answer_of`.
//! The hand-written Java-friendly layer (`io.daprrs`) lives in `src/main/kotlin`.

mod client;
mod completions;
mod errors;
mod event;
mod handler;
mod runtime;
mod server;
mod stream;

pub use client::{
    BulkEntry, BulkFailure, Client, ClientConfig, Payload, PublishRequest, SidecarComponent, SidecarMetadata, SidecarSubscription,
};
pub use completions::{Completion, Completions, completions};
pub use errors::{DaprError, HandlerError};
pub use event::{DataKind, Event, EventStatus};
pub use handler::EventHandler;
pub use server::{AppServer, TopicSubscription};
pub use stream::SubscriptionStream;

uniffi::setup_scaffolding!();

/// Rust's allocations in the library go to mimalloc (see ARCHITECTURE.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sends core's logs (`RUST_LOG`, default warnings) to stderr; later calls do nothing.
#[uniffi::export]
pub fn log_to_stderr() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

//! The Dapr-compatible pub/sub sidecar as a library: its APIs, the publish path, delivery to the
//! app, resources (components, subscriptions, resiliency), topic scopes. The brokers live behind
//! the `PubSub` trait in `dapr-rs-components`; nothing here knows a broker. The `dapr-rs` binary,
//! its launcher and its commands are `dapr-rs-cli`. Never a dependency of the client
//! (`dapr-rs-core`): the two share only `dapr-rs-proto`.

pub mod api;
pub mod config;
pub mod dead_letters;
pub mod delivery;
pub mod error;
pub mod metrics;
pub mod publisher;
pub mod resources;
pub mod retry;
pub mod routing;
pub mod scopes;
pub mod sidecar;
pub mod state;
pub mod subscription;
pub mod telemetry;

//! The Dapr-compatible pub/sub sidecar as a library: its APIs, the publish path, delivery to the
//! app, the brokers behind the `PubSub` trait, resources (components, subscriptions, resiliency),
//! and the `dapr-rs run` launcher. The `dapr-rs` binary (main.rs) only parses its command line.
//! Never a dependency of the client (`dapr-rs-core`): the two share only `dapr-rs-proto`.

pub mod api;
pub mod config;
pub mod control;
pub mod delivery;
pub mod launcher;
pub mod publisher;
pub mod pubsub;
pub mod resources;
pub mod scopes;
pub mod sidecar;
pub mod state;

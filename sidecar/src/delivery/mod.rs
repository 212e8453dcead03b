//! Inbound delivery: from a component's message to the app (over its app channel) or to a
//! streaming subscriber, one message at a time or in batches (`bulkSubscribe`), with the reply
//! mapping, retries and dead-lettering of the contract.

pub mod app_channel;
pub mod app_health;
pub mod app_subscriptions;
pub mod app_transport;
mod bulk_delivery;
mod event_delivery;
mod sink;
pub mod subscribe;

pub use bulk_delivery::BulkDelivery;
pub use event_delivery::EventDelivery;
pub use sink::{AppAnswer, BulkBatch, BulkEventSink, EventSink};

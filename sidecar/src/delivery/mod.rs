//! Inbound delivery: from a component's message to the app (over its app channel) or to a
//! streaming subscriber, one message at a time or in batches (`bulkSubscribe`), with the reply
//! mapping, retries and dead-lettering of the contract.

pub mod app_channel;
pub mod app_health;
pub mod app_transport;
mod bulk_delivery;
mod event_delivery;
pub mod programmatic;
pub mod retry;
mod routing;

pub use bulk_delivery::BulkDelivery;
pub use event_delivery::{EventDelivery, EventSink};
pub use retry::{InboundPolicy, RetryPolicy};
pub use routing::Routes;

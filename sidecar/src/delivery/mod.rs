//! Inbound delivery: from a component's message to the app (over its app channel) or to a
//! streaming subscriber, one message at a time or in batches (`bulkSubscribe`), with the reply
//! mapping, retries and dead-lettering of the contract.

pub mod app_channel;
mod bulk_delivery;
mod event_delivery;
pub mod programmatic;
mod routing;

pub use bulk_delivery::BulkDelivery;
pub use event_delivery::{EventDelivery, EventSink, RetryPolicy};
pub use routing::Routes;

//! A subscription as the sidecar knows it, whoever asked for it (a declarative `Subscription`
//! file, the app's programmatic list, a streaming subscriber), and one that is running on its
//! component.

use dapr_rs_components::Subscription;
use dapr_rs_proto::runtime::PubsubSubscriptionType;
use std::collections::HashMap;
use std::time::Duration;

/// `bulkSubscribe` (contract §3.3): the subscription's messages reach the app in batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkSubscribe {
    /// Most messages in one batch.
    pub max_messages_count: usize,
    /// Longest a message waits for its batch to fill.
    pub max_await: Duration,
}

impl BulkSubscribe {
    pub const DEFAULT_MAX_MESSAGES_COUNT: usize = 100;
    pub const DEFAULT_MAX_AWAIT: Duration = Duration::from_millis(1000);

    /// From the wire's `{enabled, maxMessagesCount, maxAwaitDurationMs}`: `None` unless enabled;
    /// a count or duration that is not positive takes the default, as in daprd.
    pub fn from_wire(enabled: bool, max_messages_count: i64, max_await_duration_ms: i64) -> Option<Self> {
        enabled.then(|| Self {
            max_messages_count: usize::try_from(max_messages_count).ok().filter(|n| *n > 0).unwrap_or(Self::DEFAULT_MAX_MESSAGES_COUNT),
            max_await: u64::try_from(max_await_duration_ms)
                .ok()
                .filter(|ms| *ms > 0)
                .map_or(Self::DEFAULT_MAX_AWAIT, Duration::from_millis),
        })
    }
}

/// A subscription as metadata reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubscriptionInfo {
    pub pubsub_name: String,
    pub topic: String,
    pub metadata: HashMap<String, String>,
    /// (CEL match, path), in evaluation order; the default route is last with an empty match.
    pub rules: Vec<(String, String)>,
    pub dead_letter_topic: String,
    pub kind: PubsubSubscriptionType,
    /// Set when the app asked for its messages in batches.
    pub bulk_subscribe: Option<BulkSubscribe>,
}

pub struct ActiveSubscription {
    pub info: SubscriptionInfo,
    pub handle: Box<dyn Subscription>,
}

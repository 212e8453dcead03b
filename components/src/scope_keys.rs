//! The four topic-scoping metadata keys (contract §8). Every component accepts them, so none may
//! call them unknown; the sidecar reads their values into its topic rules.

pub const PUBLISHING_SCOPES: &str = "publishingScopes";
pub const SUBSCRIPTION_SCOPES: &str = "subscriptionScopes";
pub const ALLOWED_TOPICS: &str = "allowedTopics";
pub const PROTECTED_TOPICS: &str = "protectedTopics";

/// Whether a component metadata key is one of the four topic-scoping keys.
pub fn is_scope_key(key: &str) -> bool {
    [PUBLISHING_SCOPES, SUBSCRIPTION_SCOPES, ALLOWED_TOPICS, PROTECTED_TOPICS].iter().any(|k| key.replace(' ', "").eq_ignore_ascii_case(k))
}

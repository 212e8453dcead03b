//! Which route an event goes to (contract §8): rules in order, first match wins, the default
//! route is a final unconditional rule.

use serde_json::{Map, Value as Json};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Routes {
    /// (CEL match, path); an empty match always matches.
    pub rules: Vec<(String, String)>,
}

impl Routes {
    /// The path for `event`, or `None` when no rule matches (the event is then dropped).
    /// With no rules at all the path is empty, as daprd sends for gRPC subscriptions without routes.
    pub fn select(&self, _event: &Map<String, Json>) -> Option<&str> {
        if self.rules.is_empty() {
            return Some("");
        }
        // Rules with a CEL match expression are not evaluated yet (the sidecar-semantics issue);
        // they were reported when the subscription was registered and never match.
        self.rules.iter().find(|(m, _)| m.trim().is_empty()).map(|(_, p)| p.as_str())
    }

    pub fn has_expressions(&self) -> bool {
        self.rules.iter().any(|(m, _)| !m.trim().is_empty())
    }
}

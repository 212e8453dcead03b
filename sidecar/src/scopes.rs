//! Topic scoping (contract §8): which topics of a pubsub component this app may publish to and
//! subscribe to, from the component's `publishingScopes`, `subscriptionScopes`, `allowedTopics`
//! and `protectedTopics` metadata. Parsed once per component when it is loaded.

use dapr_rs_components::scope_keys::{ALLOWED_TOPICS, PROTECTED_TOPICS, PUBLISHING_SCOPES, SUBSCRIPTION_SCOPES};
use std::collections::HashMap;

/// The topic rules of one component, as they apply to one app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicScopes {
    /// `allowedTopics`: when non-empty, no app may use any other topic.
    allowed: Vec<String>,
    /// `protectedTopics`: usable only by apps whose scope lists them.
    protected: Vec<String>,
    /// This app's entry in `publishingScopes` (empty: the app is not listed).
    publishing: Vec<String>,
    /// This app's entry in `subscriptionScopes`.
    subscribing: Vec<String>,
}

impl TopicScopes {
    /// Reads the four keys (names matched case-insensitively, spaces removed, as daprd does).
    pub fn from_metadata(metadata: &HashMap<String, String>, app_id: &str) -> Self {
        let value = |key: &str| {
            metadata
                .iter()
                .find(|(k, _)| k.replace(' ', "").eq_ignore_ascii_case(key))
                .map(|(_, v)| v.replace(' ', ""))
                .filter(|v| !v.is_empty())
        };
        Self {
            allowed: value(ALLOWED_TOPICS).map(|v| topic_list(&v)).unwrap_or_default(),
            protected: value(PROTECTED_TOPICS).map(|v| topic_list(&v)).unwrap_or_default(),
            publishing: value(PUBLISHING_SCOPES).map(|v| app_topics(&v, app_id)).unwrap_or_default(),
            subscribing: value(SUBSCRIPTION_SCOPES).map(|v| app_topics(&v, app_id)).unwrap_or_default(),
        }
    }

    pub fn may_publish(&self, topic: &str) -> bool {
        self.allows(topic, &self.publishing)
    }

    pub fn may_subscribe(&self, topic: &str) -> bool {
        self.allows(topic, &self.subscribing)
    }

    /// daprd's order: outside `allowedTopics` is denied for everyone; then a topic that is neither
    /// protected nor restricted by the app's scope is allowed; otherwise the scope must list it.
    fn allows(&self, topic: &str, scoped: &[String]) -> bool {
        if !self.allowed.is_empty() && !self.allowed.iter().any(|t| t == topic) {
            return false;
        }
        let protected = self.protected.iter().any(|t| t == topic);
        if !protected && scoped.is_empty() {
            return true;
        }
        scoped.iter().any(|t| t == topic)
    }
}

/// `t1,t2` → each topic once, in order.
fn topic_list(value: &str) -> Vec<String> {
    let mut topics: Vec<String> = Vec::new();
    for topic in value.split(',') {
        if !topics.iter().any(|t| t == topic) {
            topics.push(topic.to_owned());
        }
    }
    topics
}

/// `app1=t1,t2;app2=;app3=t3` → the topics listed for `app_id`, from every entry naming it.
/// `app2=` yields `[""]`, a list that matches no real topic: the app may use none.
fn app_topics(value: &str, app_id: &str) -> Vec<String> {
    let mut topics: Vec<String> = Vec::new();
    for entry in value.split(';') {
        let Some((app, list)) = entry.split_once('=') else { continue };
        if app == app_id {
            for topic in topic_list(list) {
                if !topics.contains(&topic) {
                    topics.push(topic);
                }
            }
        }
    }
    topics
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(pairs: &[(&str, &str)], app: &str) -> TopicScopes {
        TopicScopes::from_metadata(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), app)
    }

    #[test]
    fn an_app_not_listed_is_unrestricted_and_a_listed_one_gets_its_topics() {
        let md = [("publishingScopes", "app1=t1,t2;app2=;app3=t3"), ("subscriptionScopes", "app1=t1")];
        let app1 = scopes(&md, "app1");
        assert!(app1.may_publish("t1") && app1.may_publish("t2") && !app1.may_publish("t3"));
        assert!(app1.may_subscribe("t1") && !app1.may_subscribe("t2"));
        let app2 = scopes(&md, "app2");
        assert!(!app2.may_publish("t1") && !app2.may_publish("anything"));
        assert!(app2.may_subscribe("anything"), "app2 is not in subscriptionScopes");
        let other = scopes(&md, "someone-else");
        assert!(other.may_publish("t9") && other.may_subscribe("t9"));
    }

    #[test]
    fn allowed_topics_deny_everything_else_before_scopes_apply() {
        let md = [("allowedTopics", "t1, t2"), ("publishingScopes", "app1=t2,t3")];
        let app1 = scopes(&md, "app1");
        assert!(!app1.may_publish("t1"), "scoped to t2,t3");
        assert!(app1.may_publish("t2"));
        assert!(!app1.may_publish("t3"), "t3 is not an allowed topic");
        let app2 = scopes(&md, "app2");
        assert!(app2.may_publish("t1") && !app2.may_publish("t3"));
        assert!(app2.may_subscribe("t2") && !app2.may_subscribe("t4"));
    }

    #[test]
    fn protected_topics_need_an_explicit_scope() {
        let md = [("protectedTopics", "secret"), ("subscriptionScopes", "auditor=secret,log")];
        assert!(!scopes(&md, "app1").may_publish("secret"));
        assert!(scopes(&md, "app1").may_publish("orders"));
        assert!(scopes(&md, "auditor").may_subscribe("secret"));
        assert!(!scopes(&md, "auditor").may_publish("secret"), "publishing scope does not list it");
    }

    #[test]
    fn key_names_ignore_case_and_spaces_and_values_ignore_spaces() {
        let md = [("PUBLISHING SCOPES", " app1 = t1 , t2 ; app2 = t3 ")];
        let app1 = scopes(&md, "app1");
        assert!(app1.may_publish("t2") && !app1.may_publish("t3"));
        assert!(scopes(&md, "app2").may_publish("t3"));
        assert_eq!(scopes(&[("publishingscopes", "")], "app1"), TopicScopes::default());
    }
}

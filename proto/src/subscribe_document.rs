//! The `GET /dapr/subscribe` document (contract §3.3): the JSON list an HTTP app announces its
//! subscriptions with. The same facts as gRPC's `ListTopicSubscriptions`, so both directions go
//! through [`TopicSubscription`]: an app writes it from one, a sidecar reads it into one.

use crate::route_path;
use crate::runtime::{BulkSubscribeConfig, TopicRoutes, TopicRule, TopicSubscription};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One item of the document. Written with the spellings daprd and every SDK use; read leniently
/// in the spellings SDKs are known to write (`pubsubName`, `bulksubscribe`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpSubscription {
    #[serde(alias = "pubsubName", alias = "pubsub_name")]
    pub pubsubname: String,
    pub topic: String,
    /// The older single-route form; `routes.default` wins when both are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<HttpRoutes>,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_topic: Option<String>,
    #[serde(default, alias = "bulksubscribe", skip_serializing_if = "Option::is_none")]
    pub bulk_subscribe: Option<HttpBulkSubscribe>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpBulkSubscribe {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, alias = "maxmessagescount")]
    pub max_messages_count: i64,
    #[serde(default, alias = "maxawaitdurationms")]
    pub max_await_duration_ms: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpRoutes {
    #[serde(default)]
    pub rules: Vec<HttpRule>,
    #[serde(default)]
    pub default: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpRule {
    #[serde(default, rename = "match")]
    pub match_expr: String,
    pub path: String,
}

impl From<TopicSubscription> for HttpSubscription {
    fn from(ts: TopicSubscription) -> Self {
        let routes = ts.routes.unwrap_or_default();
        Self {
            pubsubname: ts.pubsub_name,
            topic: ts.topic,
            route: None,
            routes: Some(HttpRoutes {
                rules: routes.rules.into_iter().map(|r| HttpRule { match_expr: r.r#match, path: r.path }).collect(),
                default: Some(routes.default),
            }),
            metadata: ts.metadata,
            dead_letter_topic: Some(ts.dead_letter_topic).filter(|d| !d.is_empty()),
            bulk_subscribe: ts.bulk_subscribe.map(|b| HttpBulkSubscribe {
                enabled: b.enabled,
                max_messages_count: b.max_messages_count.into(),
                max_await_duration_ms: b.max_await_duration_ms.into(),
            }),
        }
    }
}

impl HttpSubscription {
    /// The subscription as gRPC states it, every path with its leading `/` (daprd takes HTTP routes
    /// with or without it); `None` when the item names no route at all.
    pub fn into_topic_subscription(self) -> Option<TopicSubscription> {
        let routes = self.routes.unwrap_or_default();
        let default = routes.default.filter(|d| !d.is_empty()).or(self.route.filter(|r| !r.is_empty()));
        if default.is_none() && routes.rules.is_empty() {
            return None;
        }
        let saturating = |n: i64| i32::try_from(n).unwrap_or(if n < 0 { i32::MIN } else { i32::MAX });
        Some(TopicSubscription {
            pubsub_name: self.pubsubname,
            topic: self.topic,
            metadata: self.metadata,
            routes: Some(TopicRoutes {
                rules: routes.rules.into_iter().map(|r| TopicRule { r#match: r.match_expr, path: route_path(&r.path) }).collect(),
                default: default.map(|d| route_path(&d)).unwrap_or_default(),
            }),
            dead_letter_topic: self.dead_letter_topic.unwrap_or_default(),
            bulk_subscribe: self.bulk_subscribe.map(|b| BulkSubscribeConfig {
                enabled: b.enabled,
                max_messages_count: saturating(b.max_messages_count),
                max_await_duration_ms: saturating(b.max_await_duration_ms),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_an_app_writes_a_sidecar_reads_back() {
        let ts = TopicSubscription {
            pubsub_name: "ps".into(),
            topic: "orders".into(),
            metadata: HashMap::from([("rawPayload".into(), "true".into())]),
            routes: Some(TopicRoutes {
                rules: vec![TopicRule { r#match: "event.type == \"a\"".into(), path: "/a".into() }],
                default: "/orders".into(),
            }),
            dead_letter_topic: "dead".into(),
            bulk_subscribe: Some(BulkSubscribeConfig { enabled: true, max_messages_count: 10, max_await_duration_ms: 200 }),
        };
        let json = serde_json::to_value(HttpSubscription::from(ts.clone())).unwrap();
        assert_eq!(json["pubsubname"], "ps");
        assert_eq!(json["routes"]["rules"][0]["match"], "event.type == \"a\"");
        assert_eq!(json["deadLetterTopic"], "dead");
        assert_eq!(json["bulkSubscribe"]["maxAwaitDurationMs"], 200);
        let read: HttpSubscription = serde_json::from_value(json).unwrap();
        assert_eq!(read.into_topic_subscription(), Some(ts));
    }

    #[test]
    fn the_reader_takes_sdk_spellings_and_paths_without_a_slash() {
        let read: HttpSubscription = serde_json::from_str(
            r#"{"pubsubName":"ps","topic":"t","route":"orders","bulksubscribe":{"enabled":true,"maxmessagescount":99999999999}}"#,
        )
        .unwrap();
        let ts = read.into_topic_subscription().unwrap();
        assert_eq!(ts.routes.unwrap().default, "/orders");
        assert_eq!(ts.bulk_subscribe.unwrap().max_messages_count, i32::MAX);
        let no_route: HttpSubscription = serde_json::from_str(r#"{"pubsubname":"ps","topic":"t"}"#).unwrap();
        assert_eq!(no_route.into_topic_subscription(), None);
        let empty_default: HttpSubscription =
            serde_json::from_str(r#"{"pubsubname":"ps","topic":"t","routes":{"default":"","rules":[{"match":"true","path":"x"}]}}"#)
                .unwrap();
        let ts = empty_default.into_topic_subscription().unwrap();
        assert_eq!((ts.routes.as_ref().unwrap().default.as_str(), ts.routes.as_ref().unwrap().rules[0].path.as_str()), ("", "/x"));
    }
}

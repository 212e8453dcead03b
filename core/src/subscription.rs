//! What an app subscribes to and with which handler ([`Subscription`]), and how those become the
//! subscriptions it announces to the sidecar and the routes it serves.

use crate::{Error, Result, TopicHandler};
use dapr_rs_proto::runtime::{BulkSubscribeConfig, TopicRoutes, TopicRule, TopicSubscription};
use std::collections::HashMap;
use std::sync::Arc;

/// A routing rule: events for which the CEL expression `match_expr` holds go to this handler.
/// Rules of one topic are tried by ascending `priority`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingRule {
    /// The CEL expression, over `event` (e.g. `event.type == "widget"`).
    pub match_expr: String,
    /// Lower tries first.
    pub priority: i32,
}

/// What a subscription asks of the sidecar besides its pubsub and topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionOptions {
    /// Where the sidecar sends an event the handler dropped or that ran out of retries.
    pub dead_letter_topic: Option<String>,
    /// Subscription metadata, e.g. `rawPayload=true`.
    pub metadata: HashMap<String, String>,
    /// When set, the handler only gets events matching it; without a rule it is the default route.
    pub rule: Option<RoutingRule>,
    /// Route path; derived from pubsub and topic when `None`.
    pub route: Option<String>,
    /// When set, the sidecar delivers this topic's events in batches (`bulkSubscribe`), which go
    /// to the handler's [`TopicHandler::handle_batch`] (by default, one by one to `handle`).
    pub bulk_subscribe: Option<BulkSubscribeOptions>,
}

/// How the sidecar batches a bulk subscription's events; 0 takes the sidecar's default
/// (100 events, 1000 ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkSubscribeOptions {
    /// Most events in one batch.
    pub max_messages_count: i32,
    /// Longest an event waits for its batch to fill, in milliseconds.
    pub max_await_duration_ms: i32,
}

/// A handler registered for one pubsub/topic (and route), for [`AppServer::start`](crate::app::AppServer::start).
///
/// ```
/// use dapr_rs_core::{BulkSubscribeOptions, RoutingRule, Subscription, SubscriptionOptions, TopicEventStatus, handler_fn};
///
/// let handler = handler_fn(|_| async { Ok(TopicEventStatus::Success) });
/// // Every event of `orders`, to the default route.
/// let orders = Subscription::new("order_pub_sub", "orders", handler.clone());
/// assert_eq!(orders.route(), "/events/order_pub_sub/orders");
/// // Only the urgent ones, in batches of up to 50; those dropped go to a dead-letter topic.
/// let urgent = Subscription::new("order_pub_sub", "orders", handler).with_options(SubscriptionOptions {
///     rule: Some(RoutingRule { match_expr: "event.data.urgent == true".into(), priority: 1 }),
///     bulk_subscribe: Some(BulkSubscribeOptions { max_messages_count: 50, ..Default::default() }),
///     dead_letter_topic: Some("orders-dead".into()),
///     ..Default::default()
/// });
/// assert_eq!(urgent.route(), "/events/order_pub_sub/orders/rule-1");
/// ```
#[derive(Clone)]
pub struct Subscription {
    /// The pubsub component's `metadata.name`.
    pub pubsub_name: String,
    /// The topic subscribed to.
    pub topic: String,
    /// Dead-letter topic, metadata, routing rule, route and batching.
    pub options: SubscriptionOptions,
    /// What receives the events.
    pub handler: Arc<dyn TopicHandler>,
    /// Whether the app lists it to the sidecar; `false` for one the sidecar reads from a
    /// declarative `Subscription` resource, whose route the app only serves.
    pub announced: bool,
}

impl Subscription {
    /// A subscription the app announces to the sidecar, with default options: every event of
    /// `topic`, to `handler`.
    pub fn new(pubsub_name: impl Into<String>, topic: impl Into<String>, handler: Arc<dyn TopicHandler>) -> Self {
        Self { pubsub_name: pubsub_name.into(), topic: topic.into(), options: SubscriptionOptions::default(), handler, announced: true }
    }

    /// A handler for the route of a declarative subscription (a `Subscription` resource the
    /// sidecar loads): served at `route`, never announced by the app.
    pub fn declarative(
        pubsub_name: impl Into<String>,
        topic: impl Into<String>,
        route: impl Into<String>,
        handler: Arc<dyn TopicHandler>,
    ) -> Self {
        let options = SubscriptionOptions { route: Some(route.into()), ..Default::default() };
        Self { announced: false, ..Self::new(pubsub_name, topic, handler).with_options(options) }
    }

    /// The same subscription with `options` instead of its own.
    pub fn with_options(mut self, options: SubscriptionOptions) -> Self {
        self.options = options;
        self
    }

    /// The path the sidecar delivers this handler's events to (an HTTP route for HTTP apps).
    pub fn route(&self) -> String {
        let route = match &self.options.route {
            Some(r) => r.clone(),
            None => {
                let base = format!("/events/{}/{}", self.pubsub_name, self.topic);
                match &self.options.rule {
                    Some(rule) => format!("{base}/rule-{}", rule.priority),
                    None => base,
                }
            }
        };
        dapr_rs_proto::route_path(&route)
    }
}

/// Refuses a subscription whose route already has a handler among `existing`: the sidecar could
/// only ever reach one of the two. Bindings call it as each handler is registered; the app server
/// checks its whole list again when it starts.
pub fn check_route_is_free(existing: &[Subscription], new: &Subscription) -> Result<()> {
    let route = new.route();
    if route == crate::app::HEALTH_PATH {
        return Err(Error::InvalidArgument(format!(
            "{}/{}: route {route} is where the sidecar probes the app's health",
            new.pubsub_name, new.topic
        )));
    }
    match existing.iter().any(|s| s.route() == route) {
        true => Err(Error::InvalidArgument(format!("{}/{} already has a handler at route {route}", new.pubsub_name, new.topic))),
        false => Ok(()),
    }
}

/// Groups handlers by pubsub/topic into the subscriptions announced to the sidecar.
pub(crate) fn topic_subscriptions(subs: &[Subscription]) -> Vec<TopicSubscription> {
    let mut out: Vec<TopicSubscription> = Vec::new();
    let mut rules: Vec<Vec<(i32, TopicRule)>> = Vec::new();
    for sub in subs.iter().filter(|s| s.announced) {
        let idx = match out.iter().position(|t| t.pubsub_name == sub.pubsub_name && t.topic == sub.topic) {
            Some(i) => i,
            None => {
                out.push(TopicSubscription {
                    pubsub_name: sub.pubsub_name.clone(),
                    topic: sub.topic.clone(),
                    routes: Some(TopicRoutes::default()),
                    ..Default::default()
                });
                rules.push(Vec::new());
                out.len() - 1
            }
        };
        let ts = &mut out[idx];
        ts.metadata.extend(sub.options.metadata.clone());
        if let Some(dlt) = &sub.options.dead_letter_topic {
            ts.dead_letter_topic = dlt.clone();
        }
        if let Some(bulk) = sub.options.bulk_subscribe {
            ts.bulk_subscribe = Some(BulkSubscribeConfig {
                enabled: true,
                max_messages_count: bulk.max_messages_count,
                max_await_duration_ms: bulk.max_await_duration_ms,
            });
        }
        match &sub.options.rule {
            Some(rule) => rules[idx].push((rule.priority, TopicRule { r#match: rule.match_expr.clone(), path: sub.route() })),
            None => ts.routes.get_or_insert_with(Default::default).default = sub.route(),
        }
    }
    for (ts, mut rs) in out.iter_mut().zip(rules) {
        rs.sort_by_key(|(p, _)| *p);
        ts.routes.get_or_insert_with(Default::default).rules = rs.into_iter().map(|(_, r)| r).collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TopicEventStatus, handler_fn};

    #[test]
    fn handlers_of_one_topic_share_a_subscription_with_ordered_rules() {
        let h = handler_fn(|_| async { Ok(TopicEventStatus::Success) });
        let with_rule =
            |p: i32, m: &str| SubscriptionOptions { rule: Some(RoutingRule { match_expr: m.into(), priority: p }), ..Default::default() };
        let subs = vec![
            Subscription::new("ps", "orders", h.clone()),
            Subscription::new("ps", "orders", h.clone()).with_options(with_rule(2, "event.type == 'b'")),
            Subscription::new("ps", "orders", h.clone()).with_options(with_rule(1, "event.type == 'a'")),
            Subscription::new("ps", "other", h).with_options(SubscriptionOptions {
                dead_letter_topic: Some("dlq".into()),
                bulk_subscribe: Some(BulkSubscribeOptions { max_messages_count: 5, max_await_duration_ms: 20 }),
                ..Default::default()
            }),
        ];
        let ts = topic_subscriptions(&subs);
        assert_eq!(ts.len(), 2);
        let routes = ts[0].routes.as_ref().unwrap();
        assert_eq!(routes.default, "/events/ps/orders");
        assert_eq!(routes.rules.iter().map(|r| r.r#match.as_str()).collect::<Vec<_>>(), ["event.type == 'a'", "event.type == 'b'"]);
        assert_eq!(ts[1].dead_letter_topic, "dlq");
        assert_eq!(ts[0].bulk_subscribe, None);
        assert_eq!(ts[1].bulk_subscribe, Some(BulkSubscribeConfig { enabled: true, max_messages_count: 5, max_await_duration_ms: 20 }));
    }

    #[test]
    fn declarative_handlers_serve_a_route_but_are_not_announced() {
        let h = handler_fn(|_| async { Ok(TopicEventStatus::Success) });
        let sub = Subscription::declarative("ps", "orders", "widgets", h.clone());
        assert_eq!(sub.route(), "/widgets");
        let ts = topic_subscriptions(&[sub, Subscription::new("ps", "other", h)]);
        assert_eq!(ts.iter().map(|t| t.topic.as_str()).collect::<Vec<_>>(), ["other"]);
    }

    #[test]
    fn the_health_probe_path_is_not_a_route() {
        let h = handler_fn(|_| async { Ok(TopicEventStatus::Success) });
        let err = check_route_is_free(&[], &Subscription::declarative("ps", "orders", "healthz", h)).unwrap_err().to_string();
        assert!(err.contains("/healthz") && err.contains("health"), "{err}");
    }
}

//! `kind: Subscription` (contract §6): declarative subscriptions, `dapr.io/v2alpha1` (`routes`) and
//! `dapr.io/v1alpha1` (`route`). Keys are matched case-insensitively, as daprd's Go JSON decoding
//! does, and `routes` / `bulkSubscribe` are also taken in the list shapes the Dapr docs show.

use crate::routing::Routes;
use crate::subscription::SubscriptionInfo;
use dapr_rs_proto::runtime::PubsubSubscriptionType;
use serde_yaml_ng::Value;
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub struct DeclarativeSubscription {
    pub file: PathBuf,
    /// `metadata.name`, for logs.
    pub name: String,
    pub info: SubscriptionInfo,
    pub bulk_subscribe: Option<BulkSubscribe>,
}

/// `spec.bulkSubscribe`, as declared; delivering in bulk is the delivery code's business.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkSubscribe {
    pub enabled: bool,
    pub max_messages_count: Option<i32>,
    pub max_await_duration_ms: Option<i32>,
}

/// The keys of a YAML mapping, lower-cased, with what was written.
struct Fields<'a> {
    what: String,
    entries: HashMap<String, &'a Value>,
    /// Each key as the file spells it, by its lowercase form: errors name what the user wrote.
    spelled: HashMap<String, &'a str>,
}

impl<'a> Fields<'a> {
    fn of(value: &'a Value, what: &str) -> Result<Self, String> {
        let Value::Mapping(map) = value else {
            return Err(format!("{what} must be a mapping, not {}", kind_of(value)));
        };
        let mut entries = HashMap::new();
        let mut spelled = HashMap::new();
        for (k, v) in map {
            let Value::String(k) = k else {
                return Err(format!("{what} has a key that is not a string: {k:?}"));
            };
            if entries.insert(k.to_ascii_lowercase(), v).is_some() {
                return Err(format!("{what} has the key {k:?} twice (keys are case-insensitive)"));
            }
            spelled.insert(k.to_ascii_lowercase(), k.as_str());
        }
        Ok(Self { what: what.to_owned(), entries, spelled })
    }

    /// `key` (lowercase) as the file spells it.
    fn spelled<'k>(&'k self, key: &'k str) -> &'k str {
        self.spelled.get(key).copied().unwrap_or(key)
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.entries.get(key).copied().filter(|v| !v.is_null())
    }

    fn string(&self, key: &str, name: &str) -> Result<String, String> {
        self.get(key).map(|v| scalar(v, &format!("{}.{name}", self.what))).transpose().map(Option::unwrap_or_default)
    }

    fn unknown(&self, known: &[&str]) -> Vec<String> {
        let mut extra: Vec<String> = self.entries.keys().filter(|k| !known.contains(&k.as_str())).cloned().collect();
        extra.sort();
        extra
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn scalar(v: &Value, what: &str) -> Result<String, String> {
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(format!("{what} must be a string, number or bool, not {}", kind_of(other))),
    }
}

pub(super) fn parse(name: &str, api_version: &str, spec: &Value) -> Result<DeclarativeSubscription, String> {
    if !matches!(api_version, "dapr.io/v2alpha1" | "dapr.io/v1alpha1" | "") {
        tracing::warn!(subscription = name, api_version, "unknown Subscription apiVersion; read as dapr.io/v2alpha1");
    }
    let spec = Fields::of(spec, "spec")?;
    let pubsub_name = spec.string("pubsubname", "pubsubname")?;
    let topic = spec.string("topic", "topic")?;
    if pubsub_name.is_empty() {
        return Err("spec.pubsubname is required".into());
    }
    if topic.is_empty() {
        return Err("spec.topic is required".into());
    }
    let (mut rules, mut default) = match spec.get("routes") {
        Some(routes) => parse_routes(routes)?,
        None => (Vec::new(), String::new()),
    };
    // v1alpha1's single `route`; like `/dapr/subscribe`, used only when there is no default.
    if default.is_empty() {
        default = spec.string("route", "route")?;
    }
    if !default.is_empty() {
        rules.push((String::new(), default));
    }
    if rules.is_empty() {
        return Err("no route: give spec.routes (rules and/or default) or, with dapr.io/v1alpha1, spec.route".into());
    }
    Routes::compile(&rules).map_err(|e| format!("spec.routes.rules[{}].match (pubsub {pubsub_name:?}, topic {topic:?}): {e}", e.rule))?;
    let metadata = match spec.get("metadata") {
        Some(m) => parse_metadata(m)?,
        None => HashMap::new(),
    };
    let bulk_subscribe = spec.get("bulksubscribe").map(parse_bulk).transpose()?;
    let extra = spec.unknown(&["pubsubname", "topic", "metadata", "routes", "route", "deadlettertopic", "bulksubscribe", "version"]);
    if !extra.is_empty() {
        tracing::warn!(subscription = name, keys = ?extra, "unknown Subscription spec keys ignored");
    }
    Ok(DeclarativeSubscription {
        file: PathBuf::new(),
        name: name.to_owned(),
        info: SubscriptionInfo {
            pubsub_name,
            topic,
            metadata,
            rules,
            dead_letter_topic: spec.string("deadlettertopic", "deadLetterTopic")?,
            kind: PubsubSubscriptionType::Declarative,
            bulk_subscribe: bulk_subscribe.as_ref().and_then(|b| {
                let count = b.max_messages_count.map_or(0, |n| n as i64);
                crate::subscription::BulkSubscribe::from_wire(b.enabled, count, b.max_await_duration_ms.map_or(0, |n| n as i64))
            }),
        },
        bulk_subscribe,
    })
}

/// `routes: {rules: [...], default: ...}`, or the docs' `routes: [{rules: [...]}, {default: ...}]`.
fn parse_routes(value: &Value) -> Result<(Vec<(String, String)>, String), String> {
    let parts: Vec<&Value> = match value {
        Value::Sequence(items) => items.iter().collect(),
        other => vec![other],
    };
    let (mut rules, mut default) = (Vec::new(), String::new());
    for part in parts {
        let routes = Fields::of(part, "spec.routes")?;
        if let Some(list) = routes.get("rules") {
            let Value::Sequence(list) = list else {
                return Err(format!("spec.routes.rules must be a list, not {}", kind_of(list)));
            };
            for (i, rule) in list.iter().enumerate() {
                let what = format!("spec.routes.rules[{i}]");
                let rule = Fields::of(rule, &what)?;
                let path = rule.string("path", "path")?;
                if path.is_empty() {
                    return Err(format!("{what}.path is required"));
                }
                rules.push((rule.string("match", "match")?, path));
            }
        }
        let d = routes.string("default", "default")?;
        if !d.is_empty() {
            if !default.is_empty() && default != d {
                return Err(format!("spec.routes has two defaults: {default:?} and {d:?}"));
            }
            default = d;
        }
        let extra = routes.unknown(&["rules", "default"]);
        if !extra.is_empty() {
            return Err(format!("spec.routes has unknown keys {extra:?}; expected rules and default"));
        }
    }
    Ok((rules, default))
}

/// `metadata: {key: value}` (as daprd reads it), or a component-style `[{name, value}]` list.
fn parse_metadata(value: &Value) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    match value {
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                let item = Fields::of(item, &format!("spec.metadata[{i}]"))?;
                let key = item.string("name", "name")?;
                if key.is_empty() {
                    return Err(format!("spec.metadata[{i}].name is required"));
                }
                out.insert(key, item.string("value", "value")?);
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map {
                let key = scalar(k, "a spec.metadata key")?;
                out.insert(key.clone(), scalar(v, &format!("spec.metadata.{key}"))?);
            }
        }
        other => return Err(format!("spec.metadata must be a mapping, not {}", kind_of(other))),
    }
    Ok(out)
}

/// `bulkSubscribe: {enabled, maxMessagesCount, maxAwaitDurationMs}`, the docs' list of one-key
/// mappings (`maxmessages`, `maxawaitduration`), the older `maxBulkSub*` names, or a bare bool.
fn parse_bulk(value: &Value) -> Result<BulkSubscribe, String> {
    let mut bulk = BulkSubscribe::default();
    let parts: Vec<&Value> = match value {
        Value::Bool(_) | Value::String(_) => {
            bulk.enabled = parse_bool(value, "spec.bulkSubscribe")?;
            return Ok(bulk);
        }
        Value::Sequence(items) => items.iter().collect(),
        other => vec![other],
    };
    for part in parts {
        let fields = Fields::of(part, "spec.bulkSubscribe")?;
        for (key, v) in &fields.entries {
            let what = format!("spec.bulkSubscribe.{}", fields.spelled(key));
            match key.as_str() {
                "enabled" => bulk.enabled = parse_bool(v, &what)?,
                "maxmessagescount" | "maxmessages" | "maxbulksubcount" => bulk.max_messages_count = parse_count(v, &what)?,
                "maxawaitdurationms" | "maxawaitduration" | "maxbulksubawaitdurationms" => {
                    bulk.max_await_duration_ms = parse_count(v, &what)?
                }
                other => {
                    return Err(format!(
                        "spec.bulkSubscribe has an unknown key {other:?}; expected enabled, maxMessagesCount, maxAwaitDurationMs"
                    ));
                }
            }
        }
    }
    Ok(bulk)
}

fn parse_bool(v: &Value, what: &str) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Null => Ok(false),
        Value::String(s) => dapr_rs_proto::go_value::parse_go_bool(s).ok_or_else(|| format!("{what} must be true or false, not {s:?}")),
        other => Err(format!("{what} must be true or false, not {}", kind_of(other))),
    }
}

fn parse_count(v: &Value, what: &str) -> Result<Option<i32>, String> {
    let text = scalar(v, what)?;
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<i32>().map(Some).map_err(|_| format!("{what} must be a whole number, not {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::load;

    fn load_one(app_id: &str, yaml: &str) -> Result<Vec<DeclarativeSubscription>, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("subscription.yaml"), yaml).unwrap();
        load(&[dir.path().to_owned()], app_id).map(|r| r.subscriptions).map_err(|e| e.to_string())
    }

    #[test]
    fn v2alpha1_with_routes_metadata_dead_letter_and_bulk() {
        let subs = load_one(
            "checkout",
            r#"
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: orders-sub
spec:
  pubsubname: order_pub_sub
  topic: orders
  metadata: {rawPayload: "true", maxLen: 10}
  routes:
    rules:
      - match: event.type == "widget"
        path: /widgets
      - match: event.data.size > 10
        path: /big
    default: /orders
  deadLetterTopic: orders-dead
  bulkSubscribe: {enabled: true, maxMessagesCount: 50, maxAwaitDurationMs: 40}
scopes: [checkout]
"#,
        )
        .unwrap();
        assert_eq!(subs.len(), 1);
        let s = &subs[0];
        assert_eq!(s.name, "orders-sub");
        assert!(s.file.ends_with("subscription.yaml"));
        assert_eq!((s.info.pubsub_name.as_str(), s.info.topic.as_str()), ("order_pub_sub", "orders"));
        assert_eq!(s.info.kind, PubsubSubscriptionType::Declarative);
        assert_eq!(s.info.dead_letter_topic, "orders-dead");
        assert_eq!(s.info.metadata, HashMap::from([("rawPayload".into(), "true".into()), ("maxLen".into(), "10".into())]));
        let rules: Vec<(&str, &str)> = s.info.rules.iter().map(|(m, p)| (m.as_str(), p.as_str())).collect();
        assert_eq!(rules, [(r#"event.type == "widget""#, "/widgets"), ("event.data.size > 10", "/big"), ("", "/orders")]);
        assert_eq!(s.bulk_subscribe, Some(BulkSubscribe { enabled: true, max_messages_count: Some(50), max_await_duration_ms: Some(40) }));
    }

    #[test]
    fn v1alpha1_route_scopes_and_lower_case_keys() {
        let yaml = "apiVersion: dapr.io/v1alpha1\nkind: Subscription\nmetadata: {name: s}\nspec:\n  pubsubName: ps\n  TOPIC: t\n  route: /t\n  deadlettertopic: dlq\nscopes: [a, b]\n";
        let subs = load_one("a", yaml).unwrap();
        assert_eq!(subs[0].info.rules, [(String::new(), "/t".to_string())]);
        assert_eq!(
            (subs[0].info.pubsub_name.as_str(), subs[0].info.topic.as_str(), subs[0].info.dead_letter_topic.as_str()),
            ("ps", "t", "dlq")
        );
        assert!(load_one("c", yaml).unwrap().is_empty(), "scoped to a and b only");
    }

    #[test]
    fn the_list_shapes_of_the_docs_are_accepted() {
        let yaml = r#"
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: docs-shape
spec:
  version: v2alpha1
  topic: orders
  routes:
  - rules:
    - match: event.type == "a"
      path: /a
  - default: /rest
  pubsubname: ps
  bulksubscribe:
  - enabled: "true"
  - maxmessages: 10
  - maxawaitduration: 100
"#;
        let s = &load_one("app", yaml).unwrap()[0];
        assert_eq!(s.info.rules, [(r#"event.type == "a""#.to_string(), "/a".to_string()), (String::new(), "/rest".to_string())]);
        assert_eq!(s.bulk_subscribe, Some(BulkSubscribe { enabled: true, max_messages_count: Some(10), max_await_duration_ms: Some(100) }));
    }

    #[test]
    fn malformed_subscriptions_name_the_file_and_the_problem() {
        let head = "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: bad}\nspec:\n";
        let cases = [
            ("  topic: t\n  routes: {default: /t}\n", "spec.pubsubname is required"),
            ("  pubsubname: ps\n  routes: {default: /t}\n", "spec.topic is required"),
            ("  pubsubname: ps\n  topic: t\n", "no route"),
            (
                "  pubsubname: ps\n  topic: t\n  routes: {rules: [{match: 'event.type ==', path: /x}]}\n",
                "invalid match expression \"event.type ==\"",
            ),
            ("  pubsubname: ps\n  topic: t\n  routes: {rules: [{match: 'true'}]}\n", "spec.routes.rules[0].path is required"),
            ("  pubsubname: ps\n  topic: t\n  routes: {rules: 'x'}\n", "spec.routes.rules must be a list"),
            ("  pubsubname: ps\n  topic: [t]\n  route: /t\n", "spec.topic must be a string"),
            (
                "  pubsubname: ps\n  topic: t\n  route: /t\n  bulkSubscribe: {enabled: maybe}\n",
                "spec.bulkSubscribe.enabled must be true or false",
            ),
            ("  pubsubname: ps\n  topic: t\n  Topic: u\n  route: /t\n", "twice"),
        ];
        for (spec, expected) in cases {
            let err = load_one("app", &format!("{head}{spec}")).unwrap_err();
            assert!(
                err.contains("subscription.yaml") && err.contains("subscription \"bad\"") && err.contains(expected),
                "{expected}: {err}"
            );
        }
    }
}

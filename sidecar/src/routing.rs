//! Which route an event goes to (contract §8): rules in order, each `match` a CEL expression over
//! the variable `event` (the CloudEvent as a map); first true wins, an empty match always matches,
//! and the default route is a final unconditional rule.

use dapr_rs_proto::cloudevent::{Attribute, CloudEventAttributes};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

/// The standard CEL environment, built once and shared by every evaluation.
static CEL_ENV: LazyLock<Arc<cel::Env>> = LazyLock::new(|| Arc::new(cel::Env::stdlib()));

/// A `match` expression that does not compile; the subscription it belongs to is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid match expression {expression:?}: {message}")]
pub struct InvalidMatch {
    /// Which rule (from 0), as the subscription lists them.
    pub rule: usize,
    pub expression: String,
    pub message: String,
}

/// One rule: a compiled condition (`None` always matches) and the path it sends to.
#[derive(Clone)]
struct Rule {
    condition: Option<(String, Arc<cel::Program>)>,
    path: String,
}

#[derive(Clone, Default)]
pub struct Routes {
    rules: Vec<Rule>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rules: Vec<(&str, &str)> =
            self.rules.iter().map(|r| (r.condition.as_ref().map_or("", |(source, _)| source.as_str()), r.path.as_str())).collect();
        f.debug_struct("Routes").field("rules", &rules).finish()
    }
}

impl Routes {
    /// Compiles each `(match, path)` once, when the subscription is registered.
    pub fn compile(rules: &[(String, String)]) -> Result<Self, InvalidMatch> {
        let rules = rules
            .iter()
            .enumerate()
            .map(|(rule, (expression, path))| {
                let source = expression.trim();
                let condition = if source.is_empty() {
                    None
                } else {
                    let program = CEL_ENV
                        .compile(source)
                        // The first line says what and where; the rest is a caret drawing.
                        .map_err(|e| InvalidMatch { rule, expression: expression.clone(), message: first_line(&e.to_string()) })?;
                    Some((source.to_owned(), Arc::new(program)))
                };
                Ok(Rule { condition, path: path.clone() })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { rules })
    }

    /// The path for `event`: `Ok(None)` when no rule matches (the event is then dropped), `Err`
    /// when an expression fails or does not yield a bool. With no rules at all the path is empty,
    /// as daprd sends for gRPC subscriptions without routes.
    pub fn select(&self, event: &impl CloudEventAttributes) -> Result<Option<&str>, String> {
        if self.rules.is_empty() {
            return Ok(Some(""));
        }
        let mut context = None;
        for rule in &self.rules {
            let Some((source, program)) = &rule.condition else {
                return Ok(Some(&rule.path));
            };
            let context = context.get_or_insert_with(|| {
                let mut c = cel::Context::with_env(CEL_ENV.clone());
                c.add_variable_from_value("event", event_to_cel(event));
                c
            });
            match program.execute(context) {
                Ok(cel::Value::Bool(true)) => return Ok(Some(&rule.path)),
                Ok(cel::Value::Bool(false)) => {}
                Ok(other) => return Err(format!("the result of match expression {source:?} was not a boolean but {:?}", other.type_of())),
                Err(e) => return Err(format!("match expression {source:?} failed: {e}")),
            }
        }
        Ok(None)
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim_start_matches("ERROR: ").to_owned()
}

/// A JSON value as CEL sees it: integers as `int` (or `uint` past i64), other numbers as `double`.
fn to_cel(value: &Json) -> cel::Value {
    match value {
        Json::Null => cel::Value::Null,
        Json::Bool(b) => cel::Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => cel::Value::Int(i),
            (None, Some(u)) => cel::Value::UInt(u),
            _ => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => cel::Value::String(Arc::new(s.clone())),
        Json::Array(items) => cel::Value::List(Arc::new(items.iter().map(to_cel).collect())),
        Json::Object(map) => map_to_cel(map),
    }
}

/// The event as one CEL map (of a name given twice, the last value, as a JSON map keeps it).
fn event_to_cel(event: &impl CloudEventAttributes) -> cel::Value {
    let attribute = |value: Attribute<'_>| match value {
        Attribute::Text(s) => cel::Value::String(Arc::new(s.to_owned())),
        Attribute::Json(v) => to_cel(v),
    };
    event.attributes().map(|(k, v)| (k.to_owned(), attribute(v))).collect::<HashMap<String, cel::Value>>().into()
}

fn map_to_cel(map: &Map<String, Json>) -> cel::Value {
    map.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect::<HashMap<String, cel::Value>>().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn routes(rules: &[(&str, &str)]) -> Routes {
        Routes::compile(&rules.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect::<Vec<_>>()).unwrap()
    }

    fn event(v: Json) -> Map<String, Json> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn first_true_rule_wins_and_the_default_comes_last() {
        let r = routes(&[
            (r#"event.type == "widget""#, "/widgets"),
            ("event.data.size > 10 && event.data.size < 100", "/big"),
            ("", "/default"),
        ]);
        let ev = |ty: &str, size: Json| event(json!({"type": ty, "data": {"size": size}}));
        assert_eq!(r.select(&ev("widget", json!(50))), Ok(Some("/widgets")));
        assert_eq!(r.select(&ev("gadget", json!(50))), Ok(Some("/big")));
        assert_eq!(r.select(&ev("gadget", json!(50.5))), Ok(Some("/big")));
        assert_eq!(r.select(&ev("gadget", json!(5))), Ok(Some("/default")));
    }

    #[test]
    fn no_match_is_none_and_no_rules_is_the_empty_path() {
        let r = routes(&[("event.source == 'a'", "/a")]);
        assert_eq!(r.select(&event(json!({"source": "b"}))), Ok(None));
        assert_eq!(Routes::default().select(&event(json!({}))), Ok(Some("")));
    }

    #[test]
    fn extensions_strings_functions_and_big_numbers() {
        let r = routes(&[
            ("has(event.priority) && event.priority == 'high'", "/priority"),
            ("event.data.id == 12345678901234567890u", "/big"),
            ("event.type.startsWith('com.') && event.subject.matches('^order-[0-9]+$')", "/orders"),
        ]);
        assert_eq!(r.select(&event(json!({"priority": "high"}))), Ok(Some("/priority")));
        let big: Json = serde_json::from_str(r#"{"data": {"id": 12345678901234567890}}"#).unwrap();
        assert_eq!(r.select(&event(big)), Ok(Some("/big")));
        assert_eq!(r.select(&event(json!({"data": {"id": 1}, "type": "com.x", "subject": "order-7"}))), Ok(Some("/orders")));
    }

    #[test]
    fn a_non_bool_result_or_a_failing_expression_is_an_error() {
        let r = routes(&[("event.type", "/x")]);
        let e = r.select(&event(json!({"type": "t"}))).unwrap_err();
        assert!(e.contains("not a boolean") && e.contains("event.type"), "{e}");
        let r = routes(&[("event.data.missing == 1", "/x")]);
        assert!(r.select(&event(json!({"data": {}}))).is_err());
    }

    #[test]
    fn an_expression_that_does_not_compile_is_refused() {
        let err = Routes::compile(&[("event.type ==".into(), "/x".into())]).unwrap_err();
        assert_eq!(err.expression, "event.type ==");
        assert!(err.to_string().contains("invalid match expression \"event.type ==\""), "{err}");
    }
}

//! `kind: Resiliency` (`dapr.io/v1alpha1`): named retry and timeout policies, and the pubsub
//! components whose inbound deliveries (component → app) use them. Several documents merge into
//! one, later names replacing earlier ones, as daprd does.

use crate::retry::{self, Backoff, InboundPolicy, RetryPolicy};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every Resiliency document of the resources paths, merged.
#[derive(Debug, Clone, Default)]
pub struct Resiliency {
    retries: HashMap<String, RetryPolicy>,
    timeouts: HashMap<String, Duration>,
    /// pubsub component name → the policy names of its `inbound` target, and the file naming them.
    inbound: HashMap<String, (PolicyNames, PathBuf)>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyNames {
    #[serde(default)]
    retry: String,
    #[serde(default)]
    timeout: String,
    #[serde(default)]
    circuit_breaker: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    policies: Policies,
    #[serde(default)]
    targets: Targets,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Policies {
    #[serde(default)]
    timeouts: HashMap<String, String>,
    #[serde(default)]
    retries: HashMap<String, RetrySpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetrySpec {
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    duration: Option<String>,
    #[serde(default)]
    max_interval: Option<String>,
    #[serde(default)]
    max_retries: Option<i64>,
    #[serde(default)]
    matching: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Default, Deserialize)]
struct Targets {
    #[serde(default)]
    components: HashMap<String, ComponentTargets>,
}

#[derive(Debug, Default, Deserialize)]
struct ComponentTargets {
    #[serde(default)]
    inbound: Option<PolicyNames>,
}

impl Resiliency {
    /// Adds one document's policies and targets.
    pub(super) fn merge(&mut self, name: &str, spec: serde_yaml_ng::Value, file: &Path) -> Result<(), String> {
        let spec: Spec = super::from_yaml_at(spec, "spec").map_err(|e| format!("invalid spec: {e}"))?;
        for (policy, value) in spec.policies.timeouts {
            let timeout = dapr_rs_proto::go_value::parse_go_duration(&value)
                .ok_or_else(|| format!("spec.policies.timeouts.{policy}: {value:?} is not a duration (e.g. 5s)"))?;
            self.timeouts.insert(policy, timeout);
        }
        for (policy, value) in spec.policies.retries {
            let retry = retry_policy(&value).map_err(|e| format!("spec.policies.retries.{policy}.{e}"))?;
            if value.matching.is_some() {
                tracing::warn!(resiliency = name, policy, "retry `matching` is not supported; every failed delivery is retried");
            }
            self.retries.insert(policy, retry);
        }
        for (component, targets) in spec.targets.components {
            if let Some(inbound) = targets.inbound {
                if !inbound.circuit_breaker.is_empty() {
                    tracing::warn!(resiliency = name, %component, "circuit breakers are not supported; ignored");
                }
                self.inbound.insert(component, (inbound, file.to_owned()));
            }
        }
        Ok(())
    }

    /// Every policy a target names must exist; the error names the file and the missing policy.
    pub(super) fn check_targets(&self) -> Result<(), (PathBuf, String)> {
        for (component, (names, file)) in &self.inbound {
            if !names.retry.is_empty() && !self.retries.contains_key(&names.retry) {
                let message =
                    format!("targets.components.{component}.inbound.retry names {:?}, which no spec.policies.retries defines", names.retry);
                return Err((file.clone(), message));
            }
            if !names.timeout.is_empty() && !self.timeouts.contains_key(&names.timeout) {
                let message = format!(
                    "targets.components.{component}.inbound.timeout names {:?}, which no spec.policies.timeouts defines",
                    names.timeout
                );
                return Err((file.clone(), message));
            }
        }
        Ok(())
    }

    /// The inbound policy of `component`; the default retries when no Resiliency names one.
    pub fn inbound_policy(&self, component: &str) -> InboundPolicy {
        let Some((names, _)) = self.inbound.get(component) else { return InboundPolicy::default() };
        InboundPolicy {
            retry: self.retries.get(&names.retry).copied().unwrap_or_default(),
            timeout: self.timeouts.get(&names.timeout).copied(),
        }
    }
}

/// One `spec.policies.retries` entry with dapr/kit's defaults filled in; errors start with the field.
fn retry_policy(spec: &RetrySpec) -> Result<RetryPolicy, String> {
    let duration = |field: &str, value: &Option<String>, default: Duration| match value.as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some(v) => dapr_rs_proto::go_value::parse_go_duration(v).ok_or_else(|| format!("{field}: {v:?} is not a duration (e.g. 5s)")),
    };
    let max_retries = match spec.max_retries {
        None | Some(-1) => None,
        Some(n) => Some(u32::try_from(n).map_err(|_| format!("maxRetries: {n} is not -1 (forever) or a count"))?),
    };
    let backoff = match spec.policy.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("constant") => Backoff::Constant(duration("duration", &spec.duration, retry::DAPR_CONSTANT_DURATION)?),
        Some("exponential") => Backoff::Exponential {
            initial: retry::DAPR_EXPONENTIAL_INITIAL,
            multiplier: retry::DAPR_EXPONENTIAL_MULTIPLIER,
            randomization: retry::DAPR_EXPONENTIAL_RANDOMIZATION,
            max_interval: duration("maxInterval", &spec.max_interval, retry::DAPR_EXPONENTIAL_MAX_INTERVAL)?,
            max_elapsed: Some(retry::DAPR_EXPONENTIAL_MAX_ELAPSED),
        },
        Some(other) => return Err(format!("policy: {other:?} is not constant or exponential")),
    };
    Ok(RetryPolicy { backoff, max_retries })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<Resiliency, String> {
        let mut r = Resiliency::default();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
        r.merge("test", doc["spec"].clone(), Path::new("r.yaml"))?;
        r.check_targets().map_err(|(_, m)| m)?;
        Ok(r)
    }

    #[test]
    fn the_docs_example_resolves_per_component() {
        let r = load(
            r#"
spec:
  policies:
    timeouts:
      general: 5s
    retries:
      pubsubRetry:
        policy: constant
        duration: 250ms
        maxRetries: 10
      retryForever:
        policy: exponential
        maxInterval: 15s
        maxRetries: -1
  targets:
    components:
      order_pub_sub:
        outbound:
          retry: retryForever
        inbound:
          retry: pubsubRetry
          timeout: general
      other:
        inbound:
          retry: retryForever
"#,
        )
        .unwrap();
        let p = r.inbound_policy("order_pub_sub");
        assert_eq!(p.retry, RetryPolicy { backoff: Backoff::Constant(Duration::from_millis(250)), max_retries: Some(10) });
        assert_eq!(p.timeout, Some(Duration::from_secs(5)));
        let forever = r.inbound_policy("other").retry;
        assert_eq!(forever.max_retries, None);
        assert!(matches!(forever.backoff, Backoff::Exponential { max_interval, .. } if max_interval == Duration::from_secs(15)));
        assert_eq!(r.inbound_policy("unnamed"), InboundPolicy::default());
    }

    #[test]
    fn dapr_defaults_fill_what_is_left_out() {
        let r = load(
            "spec:\n  policies:\n    retries:\n      bare: {}\n  targets:\n    components:\n      ps:\n        inbound: {retry: bare}\n",
        )
        .unwrap();
        let p = r.inbound_policy("ps").retry;
        assert_eq!(p, RetryPolicy { backoff: Backoff::Constant(Duration::from_secs(5)), max_retries: None });
    }

    #[test]
    fn mistakes_name_the_field() {
        let bad = |retry: &str| load(&format!("spec:\n  policies:\n    retries:\n      r: {retry}\n")).unwrap_err();
        assert!(bad("{policy: linear}").contains("r.policy"), "{}", bad("{policy: linear}"));
        assert!(bad("{duration: soon}").contains("r.duration"));
        assert!(bad("{policy: exponential, maxInterval: 5 s}").contains("r.maxInterval"));
        assert!(bad("{maxRetries: -2}").contains("r.maxRetries"));
        let e = load("spec:\n  targets:\n    components:\n      ps:\n        inbound: {retry: nope}\n").unwrap_err();
        assert!(e.contains("ps.inbound.retry") && e.contains("nope"), "{e}");
        assert!(bad("{policy: exponential, maxInterval: 3000000h}").contains("r.maxInterval"));
        assert!(bad("{duration: 3000000h}").contains("3000000h"));
        let e = load("spec:\n  policies:\n    timeouts: {t: forever}\n").unwrap_err();
        assert!(e.contains("timeouts.t"), "{e}");
    }
}

//! sidecar::resources: one resources file's text (Components, declarative Subscriptions and
//! Resiliency policies, several documents, scopes) as `--resources-path` loads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_yaml_ng::Value;
use std::path::Path;

/// The app the resources are loaded for (the samples scope their components to it).
const APP_ID: &str = "checkout";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(resources) = dapr_rs_sidecar::resources::parse(text, Path::new("fuzz.yaml"), APP_ID) else { return };
    // What was loaded is what the YAML said: every component and subscription comes from a
    // document of its kind with that name.
    let names_of = |kind: &str| -> Vec<String> {
        serde_yaml_ng::Deserializer::from_str(text)
            .filter_map(|doc| serde::Deserialize::deserialize(doc).ok())
            .filter(|doc: &Value| doc.get("kind").and_then(Value::as_str) == Some(kind))
            .map(|doc| doc.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or_default().to_owned())
            .collect()
    };
    let components = names_of("Component");
    for c in &resources.components {
        assert!(components.contains(&c.config.name), "component {:?} is not in {components:?}", c.config.name);
        assert!(!c.config.component_type.is_empty());
        assert!(!c.init_timeout.is_zero());
    }
    let subscriptions = names_of("Subscription");
    for s in &resources.subscriptions {
        assert!(subscriptions.contains(&s.name), "subscription {:?} is not in {subscriptions:?}", s.name);
        assert!(!s.info.pubsub_name.is_empty() && !s.info.topic.is_empty() && !s.info.rules.is_empty());
        assert_eq!(s.file, Path::new("fuzz.yaml"));
    }
    for c in &resources.components {
        let _ = resources.resiliency.inbound_policy(&c.config.name);
    }
});

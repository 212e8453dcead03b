//! `kind: Component`: its spec, metadata values (`value`, `envRef`) and templates.

use crate::pubsub::ComponentConfig;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct LoadedComponent {
    pub file: PathBuf,
    pub config: ComponentConfig,
    pub version: String,
    pub ignore_errors: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(rename = "type", default)]
    component_type: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    metadata: Vec<MetadataItem>,
    #[serde(default)]
    ignore_errors: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataItem {
    name: String,
    #[serde(default)]
    value: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    env_ref: Option<String>,
    #[serde(default)]
    secret_key_ref: Option<serde_yaml_ng::Value>,
}

pub(super) fn parse(name: &str, namespace: Option<&str>, spec: serde_yaml_ng::Value, app_id: &str) -> Result<LoadedComponent, String> {
    let spec: Spec = serde_yaml_ng::from_value(spec).map_err(|e| format!("invalid spec: {e}"))?;
    if spec.component_type.is_empty() {
        return Err("spec.type is required (e.g. pubsub.sqlite)".into());
    }
    let mut metadata = std::collections::HashMap::new();
    for item in spec.metadata {
        let value = if let Some(env) = &item.env_ref {
            std::env::var(env).map_err(|_| format!("metadata {:?}: envRef {env:?} is not set", item.name))?
        } else if item.secret_key_ref.is_some() {
            return Err(format!("metadata {:?}: secretKeyRef needs a secret store, which dapr-rs does not have yet", item.name));
        } else {
            match item.value {
                None | Some(serde_yaml_ng::Value::Null) => String::new(),
                Some(serde_yaml_ng::Value::String(s)) => s,
                Some(serde_yaml_ng::Value::Bool(b)) => b.to_string(),
                Some(serde_yaml_ng::Value::Number(n)) => n.to_string(),
                Some(other) => return Err(format!("metadata {:?}: value must be a string, number or bool, not {other:?}", item.name)),
            }
        };
        metadata.insert(item.name, expand_templates(&value, app_id, namespace));
    }
    Ok(LoadedComponent {
        file: PathBuf::new(),
        config: ComponentConfig { name: name.to_owned(), component_type: spec.component_type, metadata, app_id: app_id.to_owned() },
        version: spec.version,
        ignore_errors: spec.ignore_errors,
    })
}

/// `{uuid}` (a new one each occurrence), `{appID}`, `{namespace}` → `<namespace>.<appID>`.
fn expand_templates(value: &str, app_id: &str, namespace: Option<&str>) -> String {
    let mut out = value.replace("{appID}", app_id);
    if out.contains("{namespace}") {
        let ns = std::env::var("NAMESPACE").ok().or(namespace.map(str::to_owned)).unwrap_or_default();
        out = out.replace("{namespace}", &format!("{ns}.{app_id}"));
    }
    while out.contains("{uuid}") {
        out = out.replacen("{uuid}", &uuid::Uuid::new_v4().to_string(), 1);
    }
    out
}

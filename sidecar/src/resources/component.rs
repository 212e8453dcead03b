//! `kind: Component`: its spec, metadata values (`value`, `envRef`, `secretKeyRef`) and templates.

use super::secret_store::SecretStore;
use dapr_rs_components::ComponentConfig;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct LoadedComponent {
    pub file: PathBuf,
    pub config: ComponentConfig,
    pub version: String,
    pub ignore_errors: bool,
    /// `spec.initTimeout`: how long the component may take to start.
    pub init_timeout: Duration,
}

/// daprd's default `initTimeout`.
const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(5);

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
    #[serde(default)]
    init_timeout: Option<String>,
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
    secret_key_ref: Option<SecretKeyRef>,
}

#[derive(Debug, Deserialize)]
struct SecretKeyRef {
    name: String,
    #[serde(default)]
    key: String,
}

/// The secret stores loaded so far, and the one this component's `auth.secretStore` names.
pub(super) struct Secrets<'a> {
    pub stores: &'a HashMap<String, SecretStore>,
    pub store_name: Option<&'a str>,
}

impl Secrets<'_> {
    fn get(&self, reference: &SecretKeyRef) -> Result<String, String> {
        let Some(store_name) = self.store_name.filter(|s| !s.is_empty()) else {
            return Err("secretKeyRef needs the component's auth.secretStore to name a secret store".into());
        };
        let store = self.stores.get(store_name).ok_or_else(|| {
            format!("auth.secretStore {store_name:?} is not a loaded secret store (supported types: secretstores.local.file, secretstores.local.env)")
        })?;
        store.get(&reference.name, &reference.key).map_err(|e| format!("secret store {store_name:?}: {e}"))
    }
}

pub(super) fn parse(
    name: &str,
    namespace: Option<&str>,
    spec: serde_yaml_ng::Value,
    app_id: &str,
    secrets: &Secrets<'_>,
) -> Result<LoadedComponent, String> {
    let spec: Spec = super::from_yaml_at(spec, "spec").map_err(|e| format!("invalid spec: {e}"))?;
    if spec.component_type.is_empty() {
        return Err("spec.type is required (e.g. pubsub.sqlite)".into());
    }
    let init_timeout = match spec.init_timeout.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => DEFAULT_INIT_TIMEOUT,
        Some(raw) => dapr_rs_components::parse_duration(raw)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("spec.initTimeout: {raw:?} is not a positive duration (e.g. \"10s\")"))?,
    };
    let mut metadata = HashMap::new();
    for item in spec.metadata {
        let value = if let Some(env) = &item.env_ref {
            std::env::var(env).map_err(|_| format!("metadata {:?}: envRef {env:?} is not set", item.name))?
        } else if let Some(reference) = &item.secret_key_ref {
            secrets.get(reference).map_err(|e| format!("metadata {:?}: {e}", item.name))?
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
        init_timeout,
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

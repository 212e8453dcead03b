//! Resource YAML from `--resources-path` (contract §6): `Component`s, `Resiliency` policies and
//! declarative `Subscription`s in the format of Dapr's resource files, `scopes` honoured.

mod component;
mod resiliency;
mod secret_store;
mod subscription;

pub use component::LoadedComponent;
pub use resiliency::Resiliency;
pub use subscription::DeclarativeSubscription;

use secret_store::SecretStore;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", file.display())]
pub struct ResourceError {
    pub file: PathBuf,
    pub message: String,
}

/// Everything loaded from the resources paths for one app.
#[derive(Debug, Default)]
pub struct Resources {
    pub components: Vec<LoadedComponent>,
    pub resiliency: Resiliency,
    /// In file order: for one pubsub and topic the first one wins, as in daprd.
    pub subscriptions: Vec<DeclarativeSubscription>,
}

/// The fields every Dapr resource has.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceDoc {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: ResourceMeta,
    #[serde(default)]
    spec: serde_yaml_ng::Value,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    auth: Option<Auth>,
}

/// `auth.secretStore`: where a component's `secretKeyRef`s are looked up.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Auth {
    #[serde(default)]
    secret_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ResourceMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

/// Loads every `*.yaml` / `*.yml` file of `paths` (files or directories, not recursive) for `app_id`.
/// Secret stores are opened first, so any component can take values from them.
pub fn load(paths: &[PathBuf], app_id: &str) -> Result<Resources, ResourceError> {
    let mut docs = Vec::new();
    for path in paths {
        for file in yaml_files(path)? {
            read_file(&file, app_id, &mut docs)?;
        }
    }
    resolve(docs, app_id)
}

/// The resources of one file's text, as [`load`] reads a file named `file` (for messages only:
/// nothing is read from it). The fuzz targets' way in.
pub fn parse(text: &str, file: &Path, app_id: &str) -> Result<Resources, ResourceError> {
    let mut docs = Vec::new();
    parse_documents(text, file, app_id, &mut docs)?;
    resolve(docs, app_id)
}

/// Secret stores first, then every other resource; then the checks across documents.
fn resolve(docs: Vec<LoadedDoc>, app_id: &str) -> Result<Resources, ResourceError> {
    let mut secret_stores = HashMap::new();
    for doc in docs.iter().filter(|d| d.is_secret_store()) {
        let store = open_secret_store(doc, app_id).map_err(|m| doc.error(format!("secret store {:?}: {m}", doc.resource.metadata.name)))?;
        tracing::info!(name = %doc.resource.metadata.name, file = %doc.file.display(), "secret store loaded");
        secret_stores.insert(doc.resource.metadata.name.clone(), store);
    }
    let mut resources = Resources::default();
    for doc in docs.into_iter().filter(|d| !d.is_secret_store()) {
        add_resource(doc, app_id, &secret_stores, &mut resources)?;
    }
    // Two components with one name would make publishes ambiguous; daprd refuses that too.
    let mut names = std::collections::HashSet::new();
    for c in &resources.components {
        if !names.insert(c.config.name.clone()) {
            return Err(ResourceError { file: c.file.clone(), message: format!("a component named {:?} is defined twice", c.config.name) });
        }
    }
    resources.resiliency.check_targets().map_err(|(file, message)| ResourceError { file, message })?;
    Ok(resources)
}

/// One YAML document of a resources file, for this app.
struct LoadedDoc {
    file: PathBuf,
    /// 1-based, for messages.
    index: usize,
    resource: ResourceDoc,
}

impl LoadedDoc {
    fn error(&self, message: String) -> ResourceError {
        ResourceError { file: self.file.clone(), message }
    }

    fn component_type(&self) -> &str {
        self.resource.spec.get("type").and_then(|t| t.as_str()).unwrap_or_default()
    }

    fn is_secret_store(&self) -> bool {
        self.resource.kind == "Component" && self.component_type().starts_with("secretstores.")
    }
}

/// A secret store's own metadata takes plain values and `envRef`s only (no secret store for it).
fn open_secret_store(doc: &LoadedDoc, app_id: &str) -> Result<SecretStore, String> {
    let no_stores = HashMap::new();
    let secrets = component::Secrets { stores: &no_stores, store_name: None };
    let meta = &doc.resource.metadata;
    let parsed = component::parse(&meta.name, meta.namespace.as_deref(), doc.resource.spec.clone(), app_id, &secrets)?;
    SecretStore::open(&parsed.config.component_type, &parsed.config.metadata)
}

fn yaml_files(path: &Path) -> Result<Vec<PathBuf>, ResourceError> {
    let err = |message: String| ResourceError { file: path.to_owned(), message };
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| err(format!("cannot read the resources path: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Deserializes `value` as a `T`, an error naming the key that failed as a path under `at`
/// (`spec.metadata`, `spec.policies.retries.r.maxRetries`), not only what serde expected.
pub fn from_yaml_at<T: serde::de::DeserializeOwned>(value: serde_yaml_ng::Value, at: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let key = match (at.is_empty(), path.as_str()) {
            (_, ".") => at.to_owned(),
            (true, _) => path,
            (false, _) => format!("{at}.{path}"),
        };
        if key.is_empty() { e.into_inner().to_string() } else { format!("{key}: {}", e.into_inner()) }
    })
}

fn read_file(file: &Path, app_id: &str, out: &mut Vec<LoadedDoc>) -> Result<(), ResourceError> {
    let err = |message: String| ResourceError { file: file.to_owned(), message };
    let text = std::fs::read_to_string(file).map_err(|e| err(format!("cannot read: {e}")))?;
    parse_documents(&text, file, app_id, out)
}

fn parse_documents(text: &str, file: &Path, app_id: &str, out: &mut Vec<LoadedDoc>) -> Result<(), ResourceError> {
    let err = |message: String| ResourceError { file: file.to_owned(), message };
    for (index, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml_ng::Value::deserialize(doc).map_err(|e| err(format!("invalid YAML: {e}")))?;
        if value.is_null() {
            continue; // an empty document, e.g. a trailing `---`
        }
        let resource: ResourceDoc = from_yaml_at(value, "").map_err(|e| err(format!("document {}: {e}", index + 1)))?;
        if !resource.scopes.is_empty() && !resource.scopes.iter().any(|s| s == app_id) {
            tracing::debug!(file = %file.display(), name = %resource.metadata.name, "resource is scoped to other apps; skipped");
            continue;
        }
        out.push(LoadedDoc { file: file.to_owned(), index: index + 1, resource });
    }
    Ok(())
}

fn add_resource(
    doc: LoadedDoc,
    app_id: &str,
    secret_stores: &HashMap<String, SecretStore>,
    out: &mut Resources,
) -> Result<(), ResourceError> {
    let LoadedDoc { file, index, resource: doc } = doc;
    let err = |message: String| ResourceError { file: file.clone(), message };
    match doc.kind.as_str() {
        "Component" => {
            if doc.metadata.name.is_empty() {
                return Err(err(format!("document {index}: a Component needs metadata.name")));
            }
            let secrets =
                component::Secrets { stores: secret_stores, store_name: doc.auth.as_ref().and_then(|a| a.secret_store.as_deref()) };
            let component = component::parse(&doc.metadata.name, doc.metadata.namespace.as_deref(), doc.spec, app_id, &secrets)
                .map_err(|m| err(format!("component {:?}: {m}", doc.metadata.name)))?;
            out.components.push(LoadedComponent { file: file.clone(), ..component });
        }
        "Subscription" => {
            let sub = subscription::parse(&doc.metadata.name, &doc.api_version, &doc.spec)
                .map_err(|m| err(format!("subscription {:?}: {m}", doc.metadata.name)))?;
            out.subscriptions.push(DeclarativeSubscription { file: file.clone(), ..sub });
        }
        "Resiliency" => out
            .resiliency
            .merge(&doc.metadata.name, doc.spec, &file)
            .map_err(|m| err(format!("resiliency {:?}: {m}", doc.metadata.name)))?,
        "" => return Err(err(format!("document {index}: missing `kind` (expected Component, Subscription or Resiliency)"))),
        other => {
            tracing::warn!(file = %file.display(), kind = other, api_version = %doc.api_version, "resource kind not supported yet; ignored")
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    const QUICKSTART: &str = r#"
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: order_pub_sub
spec:
  type: pubsub.sqlite
  version: v1
  metadata:
  - name: path
    value: /tmp/x.db
  - name: maxLen
    value: 10
  - name: fromEnv
    envRef: DAPR_RS_TEST_ENV_REF
scopes:
  - orderprocessing
  - checkout
"#;

    #[test]
    fn loads_the_quickstart_component_and_honours_scopes() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "pubsub.yaml", QUICKSTART);
        write(dir.path(), "notes.txt", "not yaml");
        unsafe { std::env::set_var("DAPR_RS_TEST_ENV_REF", "from-env") };
        let r = load(&[dir.path().to_owned()], "checkout").unwrap();
        assert_eq!(r.components.len(), 1);
        let c = &r.components[0].config;
        assert_eq!(c.name, "order_pub_sub");
        assert_eq!(c.component_type, "pubsub.sqlite");
        assert_eq!(c.get("path"), Some("/tmp/x.db"));
        assert_eq!(c.get("maxlen"), Some("10"));
        assert_eq!(c.get("fromEnv"), Some("from-env"));
        assert_eq!(c.consumer_id(), "checkout");
        assert!(load(&[dir.path().to_owned()], "someone-else").unwrap().components.is_empty());
    }

    #[test]
    fn malformed_files_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "bad.yaml", "kind: Component\nmetadata: {name: x}\nspec:\n  type: [not, a, string]\n");
        let e = load(&[dir.path().to_owned()], "app").unwrap_err();
        assert!(e.to_string().contains("bad.yaml"), "{e}");
        assert!(e.to_string().contains("type"), "{e}");
        write(dir.path(), "bad.yaml", "kind: Component\nmetadata: {name: x\n");
        let e = load(&[dir.path().to_owned()], "app").unwrap_err();
        assert!(e.to_string().contains("bad.yaml") && e.to_string().contains("invalid YAML"), "{e}");
        write(dir.path(), "bad.yaml", "kind: Component\nmetadata: {name: x}\nspec: {version: v1}\n");
        let e = load(&[dir.path().to_owned()], "app").unwrap_err();
        assert!(e.to_string().contains("spec.type"), "{e}");
    }

    #[test]
    fn templates_are_expanded() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "c.yaml",
            "kind: Component\nmetadata: {name: ps}\nspec:\n  type: pubsub.in-memory\n  metadata:\n  - {name: consumerID, value: 'grp-{appID}'}\n  - {name: u, value: '{uuid}'}\n",
        );
        let r = load(&[dir.path().to_owned()], "myapp").unwrap();
        let c = &r.components[0].config;
        assert_eq!(c.consumer_id(), "grp-myapp");
        assert_eq!(c.get("u").unwrap().len(), 36);
    }

    #[test]
    fn secret_key_refs_resolve_through_the_named_secret_store() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets.json");
        std::fs::write(&secrets, r#"{"redis": {"password": "s3cret"}}"#).unwrap();
        let store = format!(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {{name: localsecrets}}\nspec:\n  type: secretstores.local.file\n  version: v1\n  metadata:\n  - {{name: secretsFile, value: '{}'}}\n",
            secrets.display()
        );
        // The pubsub comes first in file order; secret stores are still opened before it.
        write(
            dir.path(),
            "a-pubsub.yaml",
            "kind: Component\nmetadata: {name: ps}\nspec:\n  type: pubsub.redis\n  metadata:\n  - {name: redisHost, value: 'localhost:6379'}\n  - name: redisPassword\n    secretKeyRef: {name: 'redis:password', key: 'redis:password'}\n  - {name: consumerID, value: '{namespace}'}\nauth:\n  secretStore: localsecrets\n",
        );
        write(dir.path(), "b-secrets.yaml", &store);
        let r = load(&[dir.path().to_owned()], "myapp").unwrap();
        assert_eq!(r.components.len(), 1, "a secret store is not a pubsub component");
        let c = &r.components[0].config;
        assert_eq!(c.get("redisPassword"), Some("s3cret"));
        assert_eq!(c.consumer_id(), format!("{}.myapp", std::env::var("NAMESPACE").unwrap_or_default()));

        write(
            dir.path(),
            "a-pubsub.yaml",
            "kind: Component\nmetadata: {name: ps}\nspec:\n  type: pubsub.redis\n  metadata:\n  - name: redisPassword\n    secretKeyRef: {name: missing}\nauth:\n  secretStore: localsecrets\n",
        );
        let e = load(&[dir.path().to_owned()], "myapp").unwrap_err().to_string();
        assert!(e.contains("a-pubsub.yaml") && e.contains("redisPassword") && e.contains("missing"), "{e}");
        write(
            dir.path(),
            "a-pubsub.yaml",
            "kind: Component\nmetadata: {name: ps}\nspec:\n  type: pubsub.redis\n  metadata:\n  - name: redisPassword\n    secretKeyRef: {name: x}\n",
        );
        let e = load(&[dir.path().to_owned()], "myapp").unwrap_err().to_string();
        assert!(e.contains("auth.secretStore"), "{e}");
    }

    #[test]
    fn init_timeout_defaults_to_five_seconds_and_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let component = |timeout: &str| format!("kind: Component\nmetadata: {{name: ps}}\nspec:\n  type: pubsub.in-memory\n{timeout}");
        write(dir.path(), "c.yaml", &component(""));
        assert_eq!(load(&[dir.path().to_owned()], "app").unwrap().components[0].init_timeout, std::time::Duration::from_secs(5));
        write(dir.path(), "c.yaml", &component("  initTimeout: 1m\n"));
        assert_eq!(load(&[dir.path().to_owned()], "app").unwrap().components[0].init_timeout, std::time::Duration::from_secs(60));
        write(dir.path(), "c.yaml", &component("  initTimeout: soon\n"));
        let e = load(&[dir.path().to_owned()], "app").unwrap_err().to_string();
        assert!(e.contains("spec.initTimeout") && e.contains("soon"), "{e}");
    }
}

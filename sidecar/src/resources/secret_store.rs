//! Secret stores for `secretKeyRef` in component metadata (contract §6): `secretstores.local.file`
//! (a JSON file, nested keys joined by `nestedSeparator`, optionally `multiValued`) and
//! `secretstores.local.env` (the sidecar's environment). A component names its store in
//! `auth.secretStore`, as in Dapr.

use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub const LOCAL_FILE: &str = "secretstores.local.file";
pub const LOCAL_ENV: &str = "secretstores.local.env";

#[derive(Debug, Clone)]
pub enum SecretStore {
    /// Secret name → value (single-valued), or top-level name → its keys and values (`multiValued`).
    LocalFile {
        secrets: BTreeMap<String, BTreeMap<String, String>>,
    },
    LocalEnv,
}

impl SecretStore {
    /// Builds the store a `secretstores.*` component describes.
    pub fn open(component_type: &str, metadata: &HashMap<String, String>) -> Result<Self, String> {
        let get = |key: &str| metadata.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.trim()).filter(|v| !v.is_empty());
        match component_type {
            LOCAL_ENV => Ok(Self::LocalEnv),
            LOCAL_FILE => {
                let file = get("secretsFile").ok_or("secretsFile is required (the path of a JSON file)")?;
                let separator = get("nestedSeparator").unwrap_or(":");
                let multi_valued = match get("multiValued") {
                    None | Some("false") => false,
                    Some("true") => true,
                    Some(other) => return Err(format!("multiValued: {other:?} is not a boolean")),
                };
                let text = std::fs::read_to_string(Path::new(file)).map_err(|e| format!("secretsFile {file:?}: {e}"))?;
                let json: Json = serde_json::from_str(&text).map_err(|e| format!("secretsFile {file:?} is not JSON: {e}"))?;
                let Json::Object(top) = json else { return Err(format!("secretsFile {file:?} must hold a JSON object")) };
                let mut secrets = BTreeMap::new();
                if multi_valued {
                    for (name, value) in top {
                        let mut keys = BTreeMap::new();
                        flatten(&value, String::new(), separator, &mut keys);
                        secrets.insert(name, keys);
                    }
                } else {
                    let mut flat = BTreeMap::new();
                    flatten(&Json::Object(top), String::new(), separator, &mut flat);
                    secrets = flat.into_iter().map(|(name, value)| (name.clone(), BTreeMap::from([(name, value)]))).collect();
                }
                Ok(Self::LocalFile { secrets })
            }
            other => Err(format!("secret store type {other:?} is not supported (supported: {LOCAL_FILE}, {LOCAL_ENV})")),
        }
    }

    /// The value of `key` in secret `name`; an empty key means the secret's own name, as in daprd.
    pub fn get(&self, name: &str, key: &str) -> Result<String, String> {
        let key = if key.is_empty() { name } else { key };
        let missing = || format!("secret {name:?} has no key {key:?}");
        match self {
            Self::LocalEnv if key == name => std::env::var(name).map_err(|_| format!("environment variable {name:?} is not set")),
            Self::LocalEnv => Err(missing()),
            Self::LocalFile { secrets } => {
                let secret = secrets.get(name).ok_or_else(|| format!("secret {name:?} is not in the secrets file"))?;
                secret.get(key).cloned().ok_or_else(missing)
            }
        }
    }
}

/// `{"db": {"password": "x"}}` → `db:password = x`; numbers and booleans as their JSON text.
fn flatten(value: &Json, prefix: String, separator: &str, out: &mut BTreeMap<String, String>) {
    match value {
        Json::Object(map) => {
            for (key, value) in map {
                let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}{separator}{key}") };
                flatten(value, name, separator, out);
            }
        }
        Json::String(s) => {
            out.insert(prefix, s.clone());
        }
        other => {
            out.insert(prefix, other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_store(json: &str, extra: &[(&str, &str)]) -> SecretStore {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.json");
        std::fs::write(&path, json).unwrap();
        let mut metadata: HashMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        metadata.insert("secretsFile".into(), path.display().to_string());
        SecretStore::open(LOCAL_FILE, &metadata).unwrap()
    }

    #[test]
    fn a_local_file_store_flattens_nested_secrets() {
        let store = file_store(r#"{"redisPassword": "s3cret", "db": {"user": "u", "port": 5432}}"#, &[]);
        assert_eq!(store.get("redisPassword", "").unwrap(), "s3cret");
        assert_eq!(store.get("redisPassword", "redisPassword").unwrap(), "s3cret");
        assert_eq!(store.get("db:user", "").unwrap(), "u");
        assert_eq!(store.get("db:port", "").unwrap(), "5432");
        assert!(store.get("nope", "").unwrap_err().contains("nope"));
        assert!(store.get("redisPassword", "other").unwrap_err().contains("other"));
        let dotted = file_store(r#"{"db": {"user": "u"}}"#, &[("nestedSeparator", ".")]);
        assert_eq!(dotted.get("db.user", "").unwrap(), "u");
    }

    #[test]
    fn a_multi_valued_store_picks_the_key_inside_the_secret() {
        let store = file_store(r#"{"redis": {"password": "p", "username": "default"}}"#, &[("multiValued", "true")]);
        assert_eq!(store.get("redis", "password").unwrap(), "p");
        assert_eq!(store.get("redis", "username").unwrap(), "default");
    }

    #[test]
    fn an_env_store_reads_the_environment_and_bad_stores_say_why() {
        unsafe { std::env::set_var("DAPR_RS_TEST_SECRET_ENV", "from-env") };
        assert_eq!(SecretStore::LocalEnv.get("DAPR_RS_TEST_SECRET_ENV", "").unwrap(), "from-env");
        assert!(SecretStore::LocalEnv.get("DAPR_RS_TEST_SECRET_UNSET", "").unwrap_err().contains("not set"));
        assert!(SecretStore::open(LOCAL_FILE, &HashMap::new()).unwrap_err().contains("secretsFile"));
        assert!(SecretStore::open("secretstores.hashicorp.vault", &HashMap::new()).unwrap_err().contains("not supported"));
    }

    #[test]
    fn a_local_file_store_reads_only_the_file_it_names_and_never_says_a_secret() {
        let store = file_store(r#"{"db": {"password": "s3cret-value"}}"#, &[]);
        // A secret's name is a key of that one file, never a path.
        let outside = std::env::temp_dir().join("dapr-rs-not-a-secret.json");
        std::fs::write(&outside, r#"{"x": "y"}"#).unwrap();
        for name in ["../dapr-rs-not-a-secret.json", outside.to_str().unwrap(), "/etc/passwd", "db", "db:"] {
            let err = store.get(name, "").unwrap_err();
            assert!(!err.contains("s3cret-value"), "{name}: {err}");
        }
        // A file that is not JSON is refused without echoing what it holds.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.json");
        std::fs::write(&path, "password: s3cret-value\n").unwrap();
        let metadata = HashMap::from([("secretsFile".to_owned(), path.display().to_string())]);
        let err = SecretStore::open(LOCAL_FILE, &metadata).unwrap_err();
        assert!(err.contains("not JSON") && !err.contains("s3cret-value"), "{err}");
    }
}

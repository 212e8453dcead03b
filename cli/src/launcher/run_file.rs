//! The multi-app run file (`dapr run -f dapr.yaml`), read as the dapr CLI reads it
//! (dapr/cli `pkg/runfileconfig`): `version` is required; `common` holds defaults for every app
//! (relative paths against the run file's directory); each app needs `appDirPath`, and its own
//! relative paths resolve against that directory. Resources: the app's `resourcesPath(s)`, else
//! `<appDirPath>/.dapr/resources`, else `common`'s, else the command line's or `~/.dapr/components`.

use super::app_run::{AppOutput, AppSpec};
use dapr_rs_sidecar::config::app_health::{self, AppHealthConfig};
use dapr_rs_sidecar::config::{AppProtocol, SidecarConfig};
use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("run file {}: {message}", file.display())]
pub struct RunFileError {
    pub file: PathBuf,
    pub message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunFile {
    #[serde(default)]
    version: Option<i64>,
    #[serde(default)]
    common: SharedFields,
    #[serde(default)]
    apps: Vec<AppFields>,
}

/// Fields an app may take from `common`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SharedFields {
    resources_path: Option<String>,
    resources_paths: Option<OneOrMany>,
    app_protocol: Option<String>,
    api_listen_addresses: Option<String>,
    app_max_concurrency: Option<i64>,
    #[serde(rename = "appSSL")]
    app_ssl: Option<bool>,
    enable_app_health_check: Option<bool>,
    app_health_check_path: Option<String>,
    /// Seconds (or a duration string).
    app_health_probe_interval: Option<Yaml>,
    /// Milliseconds (or a duration string).
    app_health_probe_timeout: Option<Yaml>,
    app_health_threshold: Option<i64>,
    enable_api_logging: Option<bool>,
    env: Option<BTreeMap<String, Yaml>>,
    app_log_destination: Option<String>,
    /// A `Configuration` file (`--config`).
    config_file_path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppFields {
    #[serde(flatten)]
    shared: SharedFields,
    #[serde(rename = "appID")]
    app_id: Option<String>,
    app_dir_path: Option<String>,
    app_channel_address: Option<String>,
    app_port: Option<i64>,
    #[serde(rename = "daprHTTPPort")]
    dapr_http_port: Option<i64>,
    #[serde(rename = "daprGRPCPort")]
    dapr_grpc_port: Option<i64>,
    metrics_port: Option<i64>,
    #[serde(default)]
    command: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            Self::Many(v) => v,
        }
    }
}

/// Reads `path` (a file, or a directory holding `dapr.yaml`) into one spec per app, each based on
/// `base` (the command line's flags).
pub fn load(path: &Path, base: &SidecarConfig) -> Result<Vec<AppSpec>, RunFileError> {
    let file = if path.is_dir() { path.join("dapr.yaml") } else { path.to_path_buf() };
    let fail = |message: String| RunFileError { file: file.clone(), message };
    let text = std::fs::read_to_string(&file).map_err(|e| fail(format!("cannot read it: {e}")))?;
    parse(&text, &file, base)
}

/// The specs of a run file's text, as [`load`] reads the file `file` (whose directory the relative
/// paths resolve against; the file itself is not read). The fuzz target's way in.
pub fn parse(text: &str, file: &Path, base: &SidecarConfig) -> Result<Vec<AppSpec>, RunFileError> {
    let fail = |message: String| RunFileError { file: file.to_path_buf(), message };
    let yaml: Yaml = serde_yaml_ng::from_str(text).map_err(|e| fail(format!("invalid YAML: {e}")))?;
    let parsed: RunFile = dapr_rs_sidecar::resources::from_yaml_at(yaml, "").map_err(|e| fail(format!("invalid run file: {e}")))?;
    let file = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let base_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let fail = |message: String| RunFileError { file: file.clone(), message };
    if parsed.version.unwrap_or(0) == 0 {
        return Err(fail("required field 'version' not found".into()));
    }
    if parsed.apps.is_empty() {
        return Err(fail("no apps to run: 'apps' is empty".into()));
    }
    let common_resources = resolve_all(&base_dir, resources_of(&parsed.common)).map_err(|e| fail(format!("common: {e}")))?;
    let mut specs = Vec::with_capacity(parsed.apps.len());
    let mut ids = std::collections::HashSet::new();
    for (i, app) in parsed.apps.into_iter().enumerate() {
        let spec = app_spec(app, &parsed.common, &common_resources, &base_dir, base, &file).map_err(|e| fail(format!("apps[{i}]: {e}")))?;
        if !ids.insert(spec.config.app_id.clone()) {
            return Err(fail(format!("apps[{i}]: appID {:?} is used twice", spec.config.app_id)));
        }
        specs.push(spec);
    }
    Ok(specs)
}

fn resources_of(fields: &SharedFields) -> Vec<String> {
    let mut paths = fields.resources_paths.clone().map(OneOrMany::into_vec).unwrap_or_default();
    paths.extend(fields.resources_path.clone().filter(|p| !p.trim().is_empty()));
    paths
}

fn app_spec(
    app: AppFields,
    common: &SharedFields,
    common_resources: &[PathBuf],
    base_dir: &Path,
    base: &SidecarConfig,
    file: &Path,
) -> Result<AppSpec, String> {
    let dir_field = app.app_dir_path.clone().filter(|d| !d.trim().is_empty()).ok_or("required field 'appDirPath' not found")?;
    let dir = resolve(base_dir, &dir_field)?;
    let app_id = match app.app_id.clone().filter(|id| !id.trim().is_empty()) {
        Some(id) => id,
        None => {
            dir.file_name().and_then(|n| n.to_str()).map(str::to_owned).ok_or("no appID, and appDirPath has no name to take it from")?
        }
    };
    // An app's own value wins; else `common`'s (as the dapr CLI merges them).
    let shared = |pick: fn(&SharedFields) -> Option<String>| pick(&app.shared).or_else(|| pick(common));
    let mut config = base.clone();
    config.app_id = app_id.clone();
    config.app_port = match app.app_port {
        Some(p) if p > 0 => Some(u16::try_from(p).map_err(|_| format!("appPort {p} is not a port"))?),
        _ => None,
    };
    let ssl = app.shared.app_ssl.or(common.app_ssl).unwrap_or(false);
    config.app_protocol = match shared(|s| s.app_protocol.clone()) {
        Some(p) => parse_protocol(&p)?,
        None => base.app_protocol,
    }
    .with_ssl(ssl);
    if let Some(address) = app.app_channel_address.clone().filter(|a| !a.trim().is_empty()) {
        config.app_channel_address = address;
    }
    config.http_port = port(app.dapr_http_port, "daprHTTPPort")?;
    config.grpc_port = port(app.dapr_grpc_port, "daprGRPCPort")?;
    if let Some(metrics) = &mut config.metrics {
        metrics.set_port(port(app.metrics_port, "metricsPort")?);
    }
    if let Some(listen) = shared(|s| s.api_listen_addresses.clone()) {
        config.listen_addresses = listen.parse().map_err(|e| format!("apiListenAddresses: {e}"))?;
    }
    if let Some(n) = app.shared.app_max_concurrency.or(common.app_max_concurrency) {
        config.max_concurrency = usize::try_from(n).ok().filter(|n| *n > 0);
    }
    config.enable_api_logging |= app.shared.enable_api_logging.or(common.enable_api_logging).unwrap_or(false);
    config.resources_paths = {
        let own = resolve_all(&dir, resources_of(&app.shared))?;
        let local = dir.join(".dapr").join("resources");
        if !own.is_empty() {
            own
        } else if local.is_dir() {
            vec![local]
        } else if !common_resources.is_empty() {
            common_resources.to_vec()
        } else {
            base.resources_paths.clone()
        }
    };
    config.config_files = config_files(&app.shared, common, base_dir, &dir)?.unwrap_or_else(|| base.config_files.clone());
    if app.shared.enable_app_health_check.or(common.enable_app_health_check).unwrap_or(false) {
        config.app_health = Some(health(&app.shared, common, base.app_health.clone().unwrap_or_default())?);
    }
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in common.env.iter().flatten().chain(app.shared.env.iter().flatten()) {
        env.insert(k.clone(), env_value(v).ok_or_else(|| format!("env {k}: only strings, numbers and booleans are allowed"))?);
    }
    let output = output(&app.shared, common, &app_id, &dir)?;
    Ok(AppSpec { config, command: app.command, dir: Some(dir), env: env.into_iter().collect(), output, run_file: Some(file.to_path_buf()) })
}

/// As the dapr CLI: the app's `configFilePath`, else `<appDirPath>/.dapr/config.yaml`, else
/// `common`'s; `None` leaves the command line's `--config` (`~/.dapr/config.yaml` is never implied).
fn config_files(app: &SharedFields, common: &SharedFields, base_dir: &Path, dir: &Path) -> Result<Option<Vec<PathBuf>>, String> {
    let given = |p: &Option<String>| p.clone().filter(|p| !p.trim().is_empty());
    if let Some(own) = given(&app.config_file_path) {
        return Ok(Some(vec![resolve(dir, &own).map_err(|e| format!("configFilePath: {e}"))?]));
    }
    let local = dir.join(".dapr").join("config.yaml");
    if local.is_file() {
        return Ok(Some(vec![local]));
    }
    match given(&common.config_file_path) {
        Some(shared) => Ok(Some(vec![resolve(base_dir, &shared).map_err(|e| format!("common configFilePath: {e}"))?])),
        None => Ok(None),
    }
}

fn parse_protocol(p: &str) -> Result<AppProtocol, String> {
    <AppProtocol as clap::ValueEnum>::from_str(p.trim(), true)
        .map_err(|_| format!("appProtocol {p:?} is not one of http, https, grpc, grpcs, h2c"))
}

fn port(value: Option<i64>, field: &str) -> Result<u16, String> {
    match value {
        Some(p) if p > 0 => u16::try_from(p).map_err(|_| format!("{field} {p} is not a port")),
        _ => Ok(0),
    }
}

fn health(app: &SharedFields, common: &SharedFields, mut health: AppHealthConfig) -> Result<AppHealthConfig, String> {
    if let Some(path) = app.app_health_check_path.clone().or_else(|| common.app_health_check_path.clone()) {
        health.path = dapr_rs_proto::route_path(&path);
    }
    let duration = |v: &Yaml, parse: fn(&str) -> Result<std::time::Duration, String>| match v {
        Yaml::Number(n) => parse(&n.to_string()),
        Yaml::String(s) => parse(s),
        other => Err(format!("{other:?} is not a duration")),
    };
    if let Some(v) = app.app_health_probe_interval.as_ref().or(common.app_health_probe_interval.as_ref()) {
        health.interval = duration(v, app_health::parse_seconds).map_err(|e| format!("appHealthProbeInterval: {e}"))?;
    }
    if let Some(v) = app.app_health_probe_timeout.as_ref().or(common.app_health_probe_timeout.as_ref()) {
        health.timeout = duration(v, app_health::parse_millis).map_err(|e| format!("appHealthProbeTimeout: {e}"))?;
    }
    if let Some(n) = app.app_health_threshold.or(common.app_health_threshold) {
        health.threshold = u32::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| format!("appHealthThreshold {n} must be at least 1"))?;
    }
    Ok(health)
}

/// `appLogDestination`: console, file or fileAndConsole (the default, as the dapr CLI's), the
/// file being `<appDirPath>/.dapr/logs/<appID>_app_<time>.log`.
fn output(app: &SharedFields, common: &SharedFields, app_id: &str, dir: &Path) -> Result<AppOutput, String> {
    let dest = app.app_log_destination.clone().or_else(|| common.app_log_destination.clone()).unwrap_or_else(|| "fileAndConsole".into());
    let (console, to_file) = match dest.as_str() {
        "console" => (true, false),
        "file" => (false, true),
        "fileAndConsole" => (true, true),
        other => return Err(format!("appLogDestination {other:?} is not one of console, file, fileAndConsole")),
    };
    let stamp: String = dapr_rs_proto::cloudevent::format_time(std::time::SystemTime::now()).chars().filter(char::is_ascii_digit).collect();
    let file = to_file.then(|| dir.join(".dapr").join("logs").join(format!("{app_id}_app_{stamp}.log")));
    Ok(AppOutput { prefix: format!("== APP - {app_id} =="), console, file })
}

fn env_value(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        Yaml::Null => Some(String::new()),
        _ => None,
    }
}

/// `~` expanded, relative to `base`, and required to exist (as the dapr CLI checks).
fn resolve(base: &Path, path: &str) -> Result<PathBuf, String> {
    let path = path.trim();
    let expanded = match path.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            home::home_dir().ok_or("no home directory for ~")?.join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(path),
    };
    let full = if expanded.is_absolute() { expanded } else { base.join(expanded) };
    if !full.exists() {
        return Err(format!("{} does not exist", full.display()));
    }
    Ok(full)
}

fn resolve_all(base: &Path, paths: Vec<String>) -> Result<Vec<PathBuf>, String> {
    paths.iter().map(|p| resolve(base, p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> SidecarConfig {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: dapr_rs_sidecar::config::SidecarArgs,
        }
        let mut c = SidecarConfig::from_args(&Cli::parse_from(["x", "--resources-path", "/nonexistent-cli"]).args);
        c.http_port = 0;
        c.grpc_port = 0;
        c
    }

    fn write(dir: &Path, yaml: &str) -> PathBuf {
        let file = dir.join("dapr.yaml");
        std::fs::write(&file, yaml).unwrap();
        file
    }

    #[test]
    fn apps_merge_common_and_resolve_paths() {
        let root = tempfile::tempdir().unwrap();
        for d in ["components", "a", "b/.dapr/resources", "own"] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        write(
            root.path(),
            r#"
version: 1
common:
  resourcesPath: ./components
  appProtocol: grpc
  env:
    SHARED: "1"
    DEBUG: true
apps:
  - appID: first
    appDirPath: ./a
    appPort: 7001
    daprHTTPPort: 3601
    command: ["python3", "app.py"]
    env:
      SHARED: "2"
  - appDirPath: ./b
    appProtocol: http
    appSSL: true
    enableAppHealthCheck: true
    appHealthProbeInterval: 2
    appHealthProbeTimeout: 250
    appLogDestination: console
  - appID: third
    appDirPath: a
    resourcesPaths: ["../own"]
"#,
        );
        let specs = load(root.path(), &base()).unwrap();
        assert_eq!(specs.len(), 3);
        let (a, b, c) = (&specs[0], &specs[1], &specs[2]);
        let root = std::path::absolute(root.path()).unwrap();
        assert_eq!(a.config.app_id, "first");
        assert_eq!(a.config.app_port, Some(7001));
        assert_eq!((a.config.http_port, a.config.grpc_port), (3601, 0));
        assert_eq!(a.config.app_protocol, AppProtocol::Grpc);
        assert_eq!(a.config.resources_paths, vec![root.join("./components")]);
        assert_eq!(a.env, vec![("DEBUG".to_string(), "true".to_string()), ("SHARED".to_string(), "2".to_string())]);
        assert_eq!(a.dir.as_deref(), Some(root.join("./a").as_path()));
        assert_eq!(a.output.prefix, "== APP - first ==");
        assert!(a.output.console && a.output.file.as_ref().unwrap().starts_with(root.join("./a/.dapr/logs")));
        assert_eq!(a.run_file.as_deref(), Some(root.join("dapr.yaml").as_path()));
        // appID defaults to the directory's name; the app's .dapr/resources beats common's.
        assert_eq!(b.config.app_id, "b");
        assert_eq!(b.config.app_protocol, AppProtocol::Https);
        assert_eq!(b.config.resources_paths, vec![root.join("./b").join(".dapr").join("resources")]);
        let health = b.config.app_health.clone().unwrap();
        assert_eq!((health.path.as_str(), health.threshold), ("/healthz", 3));
        assert_eq!((health.interval.as_millis(), health.timeout.as_millis()), (2000, 250));
        assert!(b.output.console && b.output.file.is_none());
        assert_eq!(c.config.resources_paths, vec![root.join("a").join("../own")]);
        assert_eq!(c.config.app_port, None);
    }

    #[test]
    fn config_files_follow_the_dapr_cli_precedence() {
        let root = tempfile::tempdir().unwrap();
        for d in ["own", "local/.dapr", "shared", "plain"] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        for f in ["own/tracing.yaml", "local/.dapr/config.yaml", "shared/config.yaml"] {
            std::fs::write(root.path().join(f), "").unwrap();
        }
        write(
            root.path(),
            r#"
version: 1
common:
  configFilePath: ./shared/config.yaml
apps:
  - {appDirPath: ./own, configFilePath: tracing.yaml}
  - {appDirPath: ./local}
  - {appDirPath: ./plain}
"#,
        );
        let specs = load(root.path(), &base()).unwrap();
        let root = std::path::absolute(root.path()).unwrap();
        let files: Vec<_> = specs.iter().map(|s| s.config.config_files.clone()).collect();
        assert_eq!(files[0], [root.join("./own").join("tracing.yaml")], "the app's own file, relative to its directory");
        assert_eq!(files[1], [root.join("./local").join(".dapr").join("config.yaml")], "then <appDirPath>/.dapr/config.yaml");
        assert_eq!(files[2], [root.join("./shared/config.yaml")], "then common's, relative to the run file");

        // Without any, the command line's --config stays; a missing file is an error naming the app.
        write(root.as_path(), "version: 1\napps: [{appDirPath: ./plain}]");
        let mut cli = base();
        cli.config_files = vec![PathBuf::from("/from/the/command/line.yaml")];
        assert_eq!(load(&root, &cli).unwrap()[0].config.config_files, cli.config_files);
        write(root.as_path(), "version: 1\napps: [{appDirPath: ./plain, configFilePath: nope.yaml}]");
        let err = load(&root, &base()).unwrap_err().to_string();
        assert!(err.contains("apps[0]: configFilePath") && err.contains("nope.yaml does not exist"), "{err}");
    }

    #[test]
    fn a_bad_run_file_names_what_is_wrong() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("a")).unwrap();
        let cases = [
            ("apps: [{appDirPath: ./a}]", "required field 'version'"),
            ("version: 1\napps: []", "'apps' is empty"),
            ("version: 1\napps: [{appID: x}]", "apps[0]: required field 'appDirPath'"),
            ("version: 1\napps: [{appDirPath: ./missing}]", "missing does not exist"),
            ("version: 1\napps: [{appDirPath: ./a, appProtocol: tcp}]", "appProtocol \"tcp\""),
            ("version: 1\napps: [{appDirPath: ./a}, {appDirPath: ./a}]", "apps[1]: appID \"a\" is used twice"),
            ("version: 1\napps: [{appDirPath: ./a, appLogDestination: nowhere}]", "appLogDestination"),
            ("version: [", "invalid YAML"),
            (
                "version: 1\napps: [{appDirPath: ./a, apiListenAddresses: \"127.0.0.1,nowhere\"}]",
                "apiListenAddresses: \"127.0.0.1,nowhere\" has \"nowhere\", not an IP address",
            ),
        ];
        for (yaml, expected) in cases {
            let file = write(root.path(), yaml);
            let err = load(&file, &base()).unwrap_err().to_string();
            assert!(err.contains(expected), "{yaml:?}: {err}");
            assert!(err.contains("dapr.yaml"), "{err}");
        }
    }

    #[test]
    fn api_listen_addresses_are_every_listed_one() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("a")).unwrap();
        write(
            root.path(),
            "version: 1\ncommon: {apiListenAddresses: \"127.0.0.1, [::1]\"}\napps:\n  - {appID: one, appDirPath: ./a}\n  - {appID: two, appDirPath: ./a, apiListenAddresses: 0.0.0.0}\n",
        );
        let specs = load(root.path(), &base()).unwrap();
        let ips = |i: usize| specs[i].config.listen_addresses.iter().map(|ip| ip.to_string()).collect::<Vec<_>>();
        assert_eq!(ips(0), ["127.0.0.1", "::1"], "common's list, whole");
        assert_eq!(ips(1), ["0.0.0.0"], "the app's own wins");
    }

    #[test]
    fn metrics_ports_are_the_apps_own_or_free_ones() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("a")).unwrap();
        write(root.path(), "version: 1\napps:\n  - {appID: one, appDirPath: ./a, metricsPort: 9400}\n  - {appID: two, appDirPath: ./a}\n");
        let ports = |cli: &SidecarConfig| -> Vec<Option<u16>> {
            load(root.path(), cli).unwrap().iter().map(|s| s.config.metrics.map(|m| m.port())).collect()
        };
        let mut cli = base();
        assert_eq!(cli.metrics.map(|m| m.port()), Some(9090));
        assert_eq!(ports(&cli), [Some(9400), Some(0)], "without metricsPort a free one (0), as dapr run picks one");
        cli.metrics = None; // --enable-metrics=false
        assert_eq!(ports(&cli), [None, None]);
        write(root.path(), "version: 1\napps: [{appDirPath: ./a, metricsPort: 70000}]");
        let err = load(root.path(), &base()).unwrap_err().to_string();
        assert!(err.contains("apps[0]: metricsPort 70000 is not a port"), "{err}");
    }
}

//! Startup input (resource YAML, the run file, flags): the process refuses to start, naming it.

use super::table::Table;
use super::{APP_ID, PUBSUB};
use crate::common::{component, free_port};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A startup that neither fails nor is killed within this long has started.
const START_DEADLINE: Duration = Duration::from_secs(10);

/// Runs `cmd` until it exits (killing it after [`START_DEADLINE`]) and describes the outcome:
/// `exit <code>; names <needles found>` (or what is missing), or that it started.
fn startup(mut cmd: Command, needles: &[&str]) -> String {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn dapr-rs");
    let deadline = Instant::now() + START_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for dapr-rs") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.is_none() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("reap dapr-rs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stderr), String::from_utf8_lossy(&output.stdout));
    let Some(status) = status else {
        return format!("STARTED: still running after {START_DEADLINE:?} (killed)");
    };
    let code = status.code().map_or_else(|| format!("signal ({status})"), |c| c.to_string());
    let missing: Vec<&str> = needles.iter().copied().filter(|n| !text.contains(n)).collect();
    if missing.is_empty() {
        format!("exit {code}; names {}", needles.join(", "))
    } else {
        format!("exit {code}; does not name {} in {:?}", missing.join(", "), text.chars().take(300).collect::<String>())
    }
}

fn expected_refusal(code: i32, needles: &[&str]) -> String {
    format!("exit {code}; names {}", needles.join(", "))
}

fn sidecar_cmd(resources: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dapr-rs"));
    cmd.args(["sidecar", "--app-id", APP_ID, "--resources-path"])
        .arg(resources)
        .args(["--dapr-http-port", &free_port().to_string(), "--dapr-grpc-port", &free_port().to_string(), "--metrics-port", "0"])
        .args(extra)
        .env_remove("DAPR_API_TOKEN")
        .env_remove("APP_API_TOKEN");
    cmd
}

fn run_cmd(resources: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dapr-rs"));
    cmd.args(["run", "--app-id", APP_ID, "--resources-path"]).arg(resources).args(extra).env_remove("DAPR_API_TOKEN");
    cmd
}

/// A resources dir with a good in-memory component and `file` holding `yaml`.
fn resources_with(file: &str, yaml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    component(dir.path(), PUBSUB, "pubsub.in-memory", &[]);
    std::fs::write(dir.path().join(file), yaml).unwrap();
    dir
}

fn resource_case(t: &mut Table, input: &str, file: &str, yaml: &str, needles: &[&str]) {
    let dir = resources_with(file, yaml);
    let mut all = vec![file];
    all.extend_from_slice(needles);
    t.add("resource YAML", input, expected_refusal(1, &all), startup(sidecar_cmd(dir.path(), &[]), &all));
}

fn run_file_case(t: &mut Table, input: &str, yaml: &str, needles: &[&str]) {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("app")).unwrap();
    std::fs::write(root.path().join("dapr.yaml"), yaml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dapr-rs"));
    cmd.args(["run", "-f"]).arg(root.path().join("dapr.yaml")).env_remove("DAPR_API_TOKEN");
    let mut all = vec!["dapr.yaml"];
    all.extend_from_slice(needles);
    t.add("run file", input, expected_refusal(1, &all), startup(cmd, &all));
}

fn flag_case(t: &mut Table, command: &'static str, flag: &str, value: &str) {
    let dir = tempfile::tempdir().unwrap();
    let arg = format!("{flag}={value}");
    let cmd = if command == "sidecar" { sidecar_cmd(dir.path(), &[&arg]) } else { run_cmd(dir.path(), &[&arg, "--", "true"]) };
    // clap names the flag by its long name, also when an alias was given.
    let canonical = if flag == "--dapr-graceful-shutdown-seconds" { "--graceful-shutdown-seconds" } else { flag };
    let needles = [canonical, value];
    let entry = if command == "sidecar" { "flag (dapr-rs sidecar)" } else { "flag (dapr-rs run)" };
    t.add(entry, arg.clone(), expected_refusal(2, &needles), startup(cmd, &needles));
}

/// Resource YAML: the sidecar refuses to start, naming the file, the key and the value.
pub fn bad_resources(t: &mut Table) {
    resource_case(t, "component, YAML syntax error", "broken.yaml", "kind: Component\nmetadata: {name: x\n", &["invalid YAML"]);
    resource_case(
        t,
        "component without spec.type",
        "broken.yaml",
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: x\nspec:\n  version: v1\n",
        &["spec.type"],
    );
    resource_case(
        t,
        "component of unknown type",
        "broken.yaml",
        "kind: Component\nmetadata: {name: x}\nspec:\n  type: pubsub.pulsar\n",
        &["spec.type", "pubsub.pulsar"],
    );
    resource_case(
        t,
        "component, metadata not a list",
        "broken.yaml",
        "kind: Component\nmetadata: {name: x}\nspec:\n  type: pubsub.in-memory\n  metadata: 5\n",
        &["spec.metadata", "expected a sequence"],
    );
    resource_case(
        t,
        "two components named ps",
        "zz-dup.yaml",
        &format!("kind: Component\nmetadata: {{name: {PUBSUB}}}\nspec: {{type: pubsub.in-memory}}\n"),
        &["\"ps\" is defined twice"],
    );
    let sub = |extra: &str| {
        format!(
            "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {{name: s}}\nspec:\n  pubsubname: {PUBSUB}\n  topic: orders\n{extra}"
        )
    };
    resource_case(
        t,
        "subscription, bad CEL `event.type ==`",
        "sub.yaml",
        &sub("  routes:\n    rules:\n      - match: 'event.type =='\n        path: /a\n"),
        &["spec.routes.rules[0].match", "event.type =="],
    );
    resource_case(
        t,
        "subscription without topic",
        "sub.yaml",
        "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: s}\nspec:\n  pubsubname: ps\n  routes: {default: /a}\n",
        &["spec.topic"],
    );
    resource_case(
        t,
        "subscription, bulkSubscribe.maxMessagesCount: lots",
        "sub.yaml",
        &sub("  routes: {default: /a}\n  bulkSubscribe: {enabled: true, maxMessagesCount: lots}\n"),
        &["spec.bulkSubscribe.maxMessagesCount", "lots"],
    );
    let res = |retry: &str| {
        format!(
            "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {{name: r}}\nspec:\n  policies:\n    retries:\n      r: {retry}\n"
        )
    };
    resource_case(
        t,
        "resiliency, retry duration: soon",
        "res.yaml",
        &res("{duration: soon}"),
        &["spec.policies.retries.r.duration", "soon"],
    );
    resource_case(
        t,
        "resiliency, maxInterval: 3000000h (over Go's limit)",
        "res.yaml",
        &res("{policy: exponential, maxInterval: 3000000h}"),
        &["spec.policies.retries.r.maxInterval", "3000000h"],
    );
    resource_case(t, "resiliency, maxRetries: -2", "res.yaml", &res("{maxRetries: -2}"), &["spec.policies.retries.r.maxRetries", "-2"]);
    resource_case(
        t,
        "resiliency, maxRetries: many",
        "res.yaml",
        &res("{maxRetries: many}"),
        &["spec.policies.retries.r.maxRetries", "many"],
    );
    resource_case(
        t,
        "resiliency, timeout: -1s",
        "res.yaml",
        "kind: Resiliency\nmetadata: {name: r}\nspec:\n  policies:\n    timeouts: {t: -1s}\n",
        &["spec.policies.timeouts.t", "-1s"],
    );
}

pub fn bad_run_files(t: &mut Table) {
    run_file_case(t, "YAML syntax error", "version: [\n", &["invalid YAML"]);
    run_file_case(t, "no version", "apps: [{appDirPath: ./app}]\n", &["version"]);
    run_file_case(t, "appPort: 70000", "version: 1\napps: [{appDirPath: ./app, appPort: 70000}]\n", &["apps[0]", "appPort", "70000"]);
    run_file_case(
        t,
        "appHealthProbeInterval: 1e30",
        "version: 1\napps: [{appDirPath: ./app, enableAppHealthCheck: true, appHealthProbeInterval: 1e30}]\n",
        &["appHealthProbeInterval", "1e30"],
    );
    run_file_case(
        t,
        "appHealthProbeTimeout: -5",
        "version: 1\napps: [{appDirPath: ./app, enableAppHealthCheck: true, appHealthProbeTimeout: -5}]\n",
        &["appHealthProbeTimeout", "-5"],
    );
    run_file_case(t, "appProtocol: tcp", "version: 1\napps: [{appDirPath: ./app, appProtocol: tcp}]\n", &["appProtocol", "tcp"]);
    run_file_case(t, "appMaxConcurrency: lots", "version: 1\napps: [{appDirPath: ./app, appMaxConcurrency: lots}]\n", &["apps[0]", "lots"]);
}

/// Flags: clap's usage error (exit 2) naming the flag and the value.
pub fn bad_flags(t: &mut Table) {
    for cmd in ["sidecar", "run"] {
        for value in ["-1", "NaN", "inf", "1e30"] {
            flag_case(t, cmd, "--graceful-shutdown-seconds", value);
        }
        flag_case(t, cmd, "--dapr-graceful-shutdown-seconds", "-1");
        flag_case(t, cmd, "--app-health-probe-interval", "1e30");
        flag_case(t, cmd, "--app-health-probe-timeout", "-5");
        flag_case(t, cmd, "--max-body-size", "-1");
        flag_case(t, cmd, "--app-port", "70000");
        flag_case(t, cmd, "--app-max-concurrency", "lots");
    }
}

/// `--config` (Dapr's `Configuration`): the sidecar, and `dapr-rs run`, refuse to start naming the
/// file and the key.
pub fn bad_configurations(t: &mut Table) {
    let cases = [
        (
            "otel.protocol: zipkin",
            "spec:\n  tracing:\n    otel: {endpointAddress: \"c:4317\", protocol: zipkin}\n",
            &["spec.tracing.otel.protocol", "zipkin"][..],
        ),
        ("otel.isSecure: maybe", "spec:\n  tracing:\n    otel: {isSecure: maybe}\n", &["spec.tracing.otel.isSecure", "maybe"][..]),
        ("metrics.enabled: [1]", "spec:\n  metrics: {enabled: [1]}\n", &["spec.metrics.enabled"][..]),
    ];
    for (input, spec, needles) in cases {
        for command in ["sidecar", "run"] {
            let (dir, file) = (resources_with("ok.yaml", ""), tempfile::tempdir().unwrap());
            let file = file.path().join("tracing.yaml");
            std::fs::write(&file, format!("apiVersion: dapr.io/v1alpha1\nkind: Configuration\n{spec}")).unwrap();
            let arg = format!("--config={}", file.display());
            let cmd = if command == "sidecar" { sidecar_cmd(dir.path(), &[&arg]) } else { run_cmd(dir.path(), &[&arg, "--", "true"]) };
            let mut all = vec!["tracing.yaml"];
            all.extend_from_slice(needles);
            t.add(
                if command == "sidecar" { "--config (dapr-rs sidecar)" } else { "--config (dapr-rs run)" },
                input,
                expected_refusal(1, &all),
                startup(cmd, &all),
            );
        }
    }
    let (dir, other) = (resources_with("ok.yaml", ""), tempfile::tempdir().unwrap());
    let component = other.path().join("component.yaml");
    std::fs::write(&component, "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: c}\nspec: {type: pubsub.in-memory}\n")
        .unwrap();
    let arg = format!("--config={}", component.display());
    let needles = ["component.yaml", "not Configuration"];
    t.add(
        "--config (dapr-rs sidecar)",
        "a Component, not a Configuration",
        expected_refusal(1, &needles),
        startup(sidecar_cmd(dir.path(), &[&arg]), &needles),
    );
    run_file_case(
        t,
        "configFilePath: nope.yaml",
        "version: 1\napps: [{appDirPath: ./app, configFilePath: nope.yaml}]\n",
        &["apps[0]", "configFilePath", "nope.yaml"],
    );
}

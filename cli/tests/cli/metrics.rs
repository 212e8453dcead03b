//! `/metrics` under `dapr-rs run` and `dapr-rs sidecar`: a free port for each sidecar of a run
//! file (the app told which in `DAPR_METRICS_PORT`, as `dapr run` tells it, and the log naming
//! it), the port `--metrics-port` asks for, none with `--enable-metrics=false`, and a taken port
//! refusing the start by name.

use crate::common::{free_port, http_request, output_within};
use crate::world::{Running, World, stderr};
use std::time::Duration;

/// The app's line `metrics port <port>`; `None` when the variable was empty.
fn announced_port(run: &mut Running, app: &str) -> Option<u16> {
    let line = run.wait_line(&format!("{app} metrics port ["));
    let inner = line.rsplit_once('[').and_then(|(_, rest)| rest.strip_suffix(']')).expect("the app's line");
    (!inner.is_empty()).then(|| inner.parse().expect("a port"))
}

/// An app that prints the metrics port it was given, then waits to be stopped.
const ANNOUNCE: &str = r#"["sh", "-c", "echo $APP_ID metrics port [$DAPR_METRICS_PORT]; exec sleep 600"]"#;

fn scrape(port: u16) -> String {
    let (status, body) = http_request(port, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn each_sidecar_of_a_run_file_serves_metrics_on_a_free_port_of_its_own() {
    let w = World::new();
    w.app_dir("a", &[]);
    w.run_file(&format!(
        "version: 1\ncommon:\n  resourcesPath: ./components\napps:\n  - appID: first\n    appDirPath: ./a\n    command: {ANNOUNCE}\n  - appID: second\n    appDirPath: ./a\n    command: {ANNOUNCE}\n"
    ));
    let mut run = w.start(&["run", "-f", w.path().to_str().unwrap()]);
    let first = announced_port(&mut run, "first").expect("a metrics port for first");
    let second = announced_port(&mut run, "second").expect("a metrics port for second");
    assert_ne!(first, second);
    for (port, app_id) in [(first, "first"), (second, "second")] {
        // The launcher names the port with the others, in its sidecar's start line.
        let started = run.wait_line(&format!("metrics=127.0.0.1:{port}"));
        assert!(started.contains("dapr-rs sidecar started") && started.contains(&format!("app_id={app_id}")), "{started}");
        let text = scrape(port);
        assert!(text.contains(&format!("dapr_runtime_component_loaded{{app_id=\"{app_id}\"}} 1\n")), "{text}");
        assert!(
            text.contains(&format!("dapr_runtime_component_init_total{{app_id=\"{app_id}\",component=\"pubsub.sqlite\"}} 1\n")),
            "{text}"
        );
    }
    let (code, output) = run.stop();
    assert_eq!(code, 0, "{output}");
}

#[test]
fn run_takes_the_metrics_port_asked_for_and_serves_none_when_metrics_are_off() {
    let w = World::new();
    w.app_dir("a", &[]);
    let components = w.path().join("components");
    let port = free_port();
    let port_arg = port.to_string();
    let command = ["sh", "-c", "echo $APP_ID metrics port [$DAPR_METRICS_PORT]; exec sleep 600"];
    let mut args = vec!["run", "--app-id", "asked", "--metrics-port", &port_arg, "--resources-path", components.to_str().unwrap(), "--"];
    args.extend(command);
    let mut run = w.start(&args);
    assert_eq!(announced_port(&mut run, "asked"), Some(port));
    assert!(scrape(port).contains("dapr_runtime_component_loaded{app_id=\"asked\"} 1\n"));
    let (code, output) = run.stop();
    assert_eq!(code, 0, "{output}");

    let mut args = vec!["run", "--app-id", "quiet", "--enable-metrics=false", "--metrics-port", &port_arg];
    args.extend(["--resources-path", components.to_str().unwrap(), "--"]);
    args.extend(command);
    let mut run = w.start(&args);
    assert_eq!(announced_port(&mut run, "quiet"), None, "no DAPR_METRICS_PORT without metrics");
    assert!(run.wait_line("dapr-rs sidecar started").contains("metrics=off"));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "nothing listens on {port}");
    let (code, output) = run.stop();
    assert_eq!(code, 0, "{output}");

    // A Configuration's spec.metrics.enabled: false does the same.
    let config = w.path().join("no-metrics.yaml");
    std::fs::write(
        &config,
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: quiet\nspec:\n  metrics:\n    enabled: false\n",
    )
    .unwrap();
    let mut args = vec!["run", "--app-id", "configured", "--config", config.to_str().unwrap(), "--metrics-port", &port_arg];
    args.extend(["--resources-path", components.to_str().unwrap(), "--"]);
    args.extend(command);
    let mut run = w.start(&args);
    assert!(run.wait_line("dapr-rs sidecar started").contains("metrics=off"));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "nothing listens on {port}");
    let (code, output) = run.stop();
    assert_eq!(code, 0, "{output}");
}

#[test]
fn a_taken_metrics_port_refuses_the_start_naming_the_port_and_the_flag() {
    let w = World::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let components = w.path().join("components");
    let cmd = w.command(&[
        "sidecar",
        "--app-id",
        "blocked",
        "--dapr-http-port",
        "0",
        "--dapr-grpc-port",
        "0",
        "--metrics-port",
        &port,
        "--resources-path",
        components.to_str().unwrap(),
    ]);
    let out = output_within(cmd, Duration::from_secs(30), "the sidecar to refuse a taken metrics port");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains(&format!("127.0.0.1:{port}")) && err.contains("--metrics-port"), "{err}");
}

//! `dapr-rs run -f`: each app with its own sidecar, talking through the broker; the run ends with
//! its apps, and a bad run file is refused.

use crate::apps::{PUBLISHER, SUBSCRIBER, python};
use crate::common::free_port;
use crate::world::{World, stderr, stdout};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[test]
fn run_file_runs_each_app_with_its_own_sidecar_and_they_talk_through_the_broker() {
    let w = World::new();
    let port = free_port();
    let checkout = w.app_dir("checkout", &[("sub.py", SUBSCRIBER)]);
    let orders = w.app_dir("orders", &[("pub.py", PUBLISHER)]);
    let py = python();
    w.run_file(&format!(
        r#"
version: 1
common:
  resourcesPath: ./components
  env:
    SHARED: common
apps:
  - appID: checkout
    appDirPath: ./checkout
    appPort: {port}
    command: ["{py}", "sub.py"]
    env:
      OWN: mine
  - appID: orders
    appDirPath: ./orders/
    appLogDestination: console
    command: ["{py}", "pub.py"]
"#
    ));
    let mut run = w.start(&["run", "-f", w.path().to_str().unwrap()]);

    // Each app sees its own sidecar's ports and id, common env merged under its own.
    let env = run.wait_line("== APP - checkout == env ");
    assert!(env.contains(&format!("APP_ID=checkout APP_PORT={port} PROTOCOL=http")), "{env}");
    assert!(env.contains("SHARED=common OWN=mine") && env.ends_with(&format!("CWD={}", checkout.display())), "{env}");
    let env = run.wait_line("== APP - orders == env ");
    assert!(env.contains("APP_ID=orders APP_PORT=None SHARED=common OWN=None"), "{env}");
    assert!(env.ends_with(&format!("CWD={}", orders.display().to_string().trim_end_matches('/'))), "{env}");

    // The publisher's events reach the subscriber through two sidecars and the shared broker.
    run.wait_line("== APP - orders == published 3");
    for n in 1..=3 {
        let line = run.wait_line(&format!("received {{\"orderId\": {n}}} from orders"));
        assert!(line.starts_with("== APP - checkout == "), "{line}");
    }
    // The publisher exited (0); the run goes on while the subscriber runs.
    std::thread::sleep(Duration::from_millis(300));
    assert!(run.is_running(), "{}", run.output());
    w.wait_apps(&["checkout"]);

    run.sigterm();
    assert_eq!(run.wait_exit(Duration::from_secs(20)), 0, "{}", run.output());
    assert!(w.running_apps().is_empty());
    // fileAndConsole by default: the subscriber's output is in its log file too, unprefixed.
    let logs: Vec<PathBuf> = std::fs::read_dir(checkout.join(".dapr/logs")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(logs.len(), 1);
    let name = logs[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("checkout_app_") && name.ends_with(".log"), "{name}");
    let log = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(log.lines().any(|l| l.starts_with("received {\"orderId\": 3} from orders")), "{log}");
    assert!(!orders.join(".dapr").exists(), "console-only output wrote a file");
}

#[test]
fn run_file_exits_when_every_app_has_exited_with_the_failure_code() {
    let w = World::new();
    w.app_dir("a", &[]);
    w.app_dir("b", &[]);
    w.run_file(
        r#"
version: 1
apps:
  - appID: first
    appDirPath: ./a
    command: ["sh", "-c", "echo one from $APP_ID; exit 0"]
  - appID: second
    appDirPath: ./b
    command: ["sh", "-c", "sleep 0.5; echo two from $APP_ID >&2; exit 3"]
"#,
    );
    let out = w.dapr_rs(&["run", "-f", w.path().join("dapr.yaml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(stdout(&out).contains("== APP - first == one from first"), "{out:?}");
    assert!(stderr(&out).contains("== APP - second == two from second"), "{out:?}");
    assert!(w.running_apps().is_empty());
}

#[test]
fn an_app_that_cannot_start_stops_the_whole_run() {
    let w = World::new();
    w.app_dir("a", &[]);
    w.run_file(
        r#"
version: 1
apps:
  - appID: sleeper
    appDirPath: ./a
    command: ["sleep", "600"]
  - appID: broken
    appDirPath: ./a
    command: ["/nonexistent/program"]
"#,
    );
    let started = Instant::now();
    let out = w.dapr_rs(&["run", "-f", w.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains("app broken: cannot start \"/nonexistent/program\""), "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn a_bad_run_file_is_refused_naming_the_file_and_field() {
    let w = World::new();
    let file = w.run_file("version: 1\napps:\n  - appID: x\n");
    let out = w.dapr_rs(&["run", "-f", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("dapr.yaml") && err.contains("apps[0]: required field 'appDirPath' not found"), "{err}");
    let out = w.dapr_rs(&["run", "-f", w.path().join("missing.yaml").to_str().unwrap()]);
    assert!(stderr(&out).contains("missing.yaml: cannot read it"), "{out:?}");
}

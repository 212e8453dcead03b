//! `publish`, `list` and `stop` against running `dapr-rs run`s, single-app and run-file.

use crate::apps::{SUBSCRIBER, python};
use crate::common::{free_port, http_request};
use crate::world::{World, stderr, stdout};
use serde_json::Value as Json;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn publish_list_and_stop_work_against_running_apps() {
    let w = World::new();
    let port = free_port();
    w.app_dir("checkout", &[("sub.py", SUBSCRIBER)]);
    w.app_dir("idle", &[]);
    let py = python();
    w.run_file(&format!(
        r#"
version: 1
common:
  resourcesPaths: ["./components"]
apps:
  - appID: checkout
    appDirPath: ./checkout
    appPort: {port}
    command: ["{py}", "sub.py"]
  - appID: idle
    appDirPath: ./idle
    command: ["sleep", "600"]
"#
    ));
    let file = w.path().join("dapr.yaml");
    let mut run = w.start(&["run", "-f", file.to_str().unwrap()]);
    let apps = w.wait_apps(&["checkout", "idle"]);
    // Each record points at that app's own sidecar.
    for app in &apps {
        let http_port = app["httpPort"].as_u64().unwrap() as u16;
        let (status, body) = http_request(http_port, "GET", "/v1.0/metadata", &[], b"");
        assert_eq!(status, 200);
        assert_eq!(serde_json::from_str::<Json>(&body).unwrap()["id"], app["appId"]);
        assert_eq!(app["pid"].as_u64().unwrap() as u32, run.child.id());
        assert_eq!(app["appsInRun"], 2);
    }
    let checkout_http = apps.iter().find(|a| a["appId"] == "checkout").unwrap()["httpPort"].as_u64().unwrap() as u16;
    let deadline = Instant::now() + Duration::from_secs(20);
    while http_request(checkout_http, "GET", "/v1.0/healthz", &[], b"").0 != 204 {
        assert!(Instant::now() < deadline, "checkout never subscribed:\n{}", run.output());
        std::thread::sleep(Duration::from_millis(50));
    }

    let table = stdout(&w.dapr_rs(&["list"]));
    assert!(table.starts_with("APP ID"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("checkout ") && l.contains(&port.to_string()) && l.contains("sub.py")), "{table}");
    assert!(table.lines().any(|l| l.starts_with("idle ") && l.contains("sleep 600")), "{table}");

    // publish: through idle's sidecar (the event's source), with metadata; then a CloudEvent file.
    let out = w.dapr_rs(&[
        "publish",
        "--publish-app-id",
        "idle",
        "--pubsub",
        "pubsub",
        "--topic",
        "orders",
        "--data",
        r#"{"orderId":42}"#,
        "--metadata",
        r#"{"cloudevent.type":"custom.type"}"#,
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out).trim(), "Event published successfully");
    let line = run.wait_line("received {\"orderId\": 42}");
    assert!(line.starts_with("== APP - checkout == ") && line.contains("from idle type custom.type"), "{line}");
    let ce = w.path().join("event.json");
    std::fs::write(&ce, r#"{"id":"my-event-1","source":"cli-test","specversion":"1.0","type":"my.type","datacontenttype":"application/json","data":{"orderId":43}}"#).unwrap();
    let out = w.dapr_rs(&["publish", "-i", "checkout", "-p", "pubsub", "-t", "orders", "--data-file", ce.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let line = run.wait_line("received {\"orderId\": 43}");
    assert!(line.ends_with("from cli-test type my.type id my-event-1"), "{line}");

    // publish errors: the sidecar's own error, an unknown app, bad metadata.
    let out = w.dapr_rs(&["publish", "--publish-app-id", "idle", "--pubsub", "nope", "--topic", "orders", "--data", "{}"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ERR_PUBSUB_NOT_FOUND") && stderr(&out).contains("404"), "{out:?}");
    let out = w.dapr_rs(&["publish", "--publish-app-id", "ghost", "--pubsub", "pubsub", "--topic", "orders", "--data", "{}"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no running app with id \"ghost\""), "{out:?}");
    let out = w.dapr_rs(&["publish", "-i", "idle", "-p", "pubsub", "-t", "orders", "-d", "{}", "-m", "[1]"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--metadata must be a JSON object"), "{out:?}");

    // A record left by a run that died is ignored, and cleaned up.
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let stale = w.home().join(".dapr-rs/run").join(format!("{dead_pid}-ghost.json"));
    let mut record = apps[0].clone();
    record["appId"] = "ghost".into();
    record["pid"] = dead_pid.into();
    std::fs::write(&stale, record.to_string()).unwrap();
    w.wait_apps(&["checkout", "idle"]);
    assert!(!stale.exists());

    // stop one app of the run: only it goes, the run and the other app go on.
    let out = w.dapr_rs(&["stop", "--app-id", "idle"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out).trim(), "app stopped successfully: idle");
    w.wait_apps(&["checkout"]);
    assert!(run.is_running());
    assert_eq!(http_request(checkout_http, "GET", "/v1.0/healthz", &[], b"").0, 204);
    let out = w.dapr_rs(&["stop", "--app-id", "idle"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no running app with id \"idle\""), "{out:?}");

    // stop the last one: every app has exited, so the run ends.
    let out = w.dapr_rs(&["stop", "--app-id", "checkout"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(run.wait_exit(Duration::from_secs(20)), 0, "{}", run.output());
    assert!(w.running_apps().is_empty());
    assert_eq!(stdout(&w.dapr_rs(&["list"])).trim(), "No dapr-rs apps are running.");
}

#[test]
fn stop_ends_a_single_app_run_and_a_whole_run_file() {
    let w = World::new();
    let mut solo = w.start(&["run", "--app-id", "solo", "--", "sleep", "600"]);
    let apps = w.wait_apps(&["solo"]);
    assert_eq!(apps[0]["appsInRun"], 1);
    assert_eq!(apps[0]["command"], "sleep 600");
    let out = w.dapr_rs(&["stop", "--app-id", "solo"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(solo.wait_exit(Duration::from_secs(20)), 0);

    w.app_dir("a", &[]);
    let file = w.run_file("version: 1\napps:\n  - {appID: one, appDirPath: ./a, command: [sleep, '600']}\n  - {appID: two, appDirPath: ./a, command: [sleep, '600']}\n");
    let mut run = w.start(&["run", "-f", file.to_str().unwrap()]);
    w.wait_apps(&["one", "two"]);
    let out = w.dapr_rs(&["stop", "-f", w.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stdout(&out).contains("app stopped successfully: one") && stdout(&out).contains("app stopped successfully: two"), "{out:?}");
    assert_eq!(run.wait_exit(Duration::from_secs(20)), 0);
}

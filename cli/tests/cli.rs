//! The `dapr-rs` command line, run as a user runs it: `run -f dapr.yaml` with real apps (Python
//! and shell) publishing to each other through their own sidecars, `publish`, `list` and `stop`
//! against a running `dapr-rs run`, and `--enable-api-logging`. Each test has its own $HOME, so
//! the registry of running apps (`~/.dapr-rs/run/`) is its own too.

mod common;

use common::{component, free_port, http_request};
use serde_json::Value as Json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dapr-rs");

/// The Python interpreter itself (a pyenv shim would need the real $HOME).
fn python() -> String {
    let out = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().expect("python3 on PATH");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A subscriber app: prints its environment, serves `/dapr/subscribe` and prints every event.
const SUBSCRIBER: &str = r#"
import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer
e = os.environ
print(f"env APP_ID={e['APP_ID']} APP_PORT={e.get('APP_PORT')} PROTOCOL={e['APP_PROTOCOL']} HTTP={e['DAPR_HTTP_PORT']} GRPC={e['DAPR_GRPC_PORT']} SHARED={e.get('SHARED')} OWN={e.get('OWN')} CWD={os.getcwd()}", flush=True)
class App(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def reply(self, status, body):
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path == "/dapr/subscribe":
            self.reply(200, json.dumps([{"pubsubname": "pubsub", "topic": "orders", "route": "/orders"}]).encode())
        else:
            self.reply(404, b"")
    def do_POST(self):
        ce = json.loads(self.rfile.read(int(self.headers["content-length"])))
        print(f"received {json.dumps(ce['data'], sort_keys=True)} from {ce['source']} type {ce['type']} id {ce['id']}", flush=True)
        self.reply(200, b'{"status":"SUCCESS"}')
HTTPServer(("127.0.0.1", int(e["APP_PORT"])), App).serve_forever()
"#;

/// A publisher app: prints its environment, publishes three orders through its sidecar, exits.
const PUBLISHER: &str = r#"
import json, os, urllib.request
e = os.environ
print(f"env APP_ID={e['APP_ID']} APP_PORT={e.get('APP_PORT')} SHARED={e.get('SHARED')} OWN={e.get('OWN')} CWD={os.getcwd()}", flush=True)
for n in (1, 2, 3):
    req = urllib.request.Request(f"http://127.0.0.1:{e['DAPR_HTTP_PORT']}/v1.0/publish/pubsub/orders",
        data=json.dumps({"orderId": n}).encode(), headers={"content-type": "application/json"}, method="POST")
    urllib.request.urlopen(req).read()
    print(f"published {n}", flush=True)
"#;

/// A test's own world: $HOME, a components directory on a shared SQLite broker, app directories.
struct World {
    root: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        for d in ["home", "components"] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        let db = root.path().join("pubsub.db");
        component(&root.path().join("components"), "pubsub", "pubsub.sqlite", &[("path", db.to_str().unwrap())]);
        Self { root }
    }
    fn path(&self) -> &Path {
        self.root.path()
    }
    fn home(&self) -> PathBuf {
        self.path().join("home")
    }
    fn app_dir(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
        dir
    }
    fn run_file(&self, yaml: &str) -> PathBuf {
        let file = self.path().join("dapr.yaml");
        std::fs::write(&file, yaml).unwrap();
        file
    }
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args).env("HOME", self.home()).env("RUST_LOG", "info").env_remove("DAPR_API_TOKEN").env_remove("APP_API_TOKEN");
        cmd
    }
    /// A one-shot command (`publish`, `list`, `stop`).
    fn dapr_rs(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().unwrap()
    }
    fn start(&self, args: &[&str]) -> Running {
        self.spawn(self.command(args))
    }
    fn spawn(&self, mut cmd: Command) -> Running {
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        for stream in [Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>, Box::new(child.stderr.take().unwrap())] {
            let lines = lines.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            }));
        }
        Running { child, lines, readers }
    }
    fn running_apps(&self) -> Vec<Json> {
        let out = self.dapr_rs(&["list", "-o", "json"]);
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice::<Vec<Json>>(&out.stdout).unwrap()
    }
    /// Polls `list` until `ids` (and only they) are running.
    fn wait_apps(&self, ids: &[&str]) -> Vec<Json> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let apps = self.running_apps();
            let mut got: Vec<&str> = apps.iter().map(|a| a["appId"].as_str().unwrap()).collect();
            got.sort();
            if got == ids {
                return apps;
            }
            assert!(Instant::now() < deadline, "running apps {got:?}, expected {ids:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A `dapr-rs run` in the background, its output collected line by line.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
    /// Waits until a line contains `text`; returns that line.
    fn wait_line(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| l.contains(text)) {
                return l.clone();
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                if let Some(l) = self.lines.lock().unwrap().iter().find(|l| l.contains(text)) {
                    return l.clone();
                }
                panic!("dapr-rs run exited ({status}) before printing {text:?}:\n{}", self.output());
            }
            assert!(Instant::now() < deadline, "no line with {text:?} in:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().expect("exited, not killed");
            }
            assert!(Instant::now() < deadline, "dapr-rs run still running after {timeout:?}:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    /// SIGTERM, then the exit code and everything it printed.
    fn stop(mut self) -> (i32, String) {
        self.sigterm();
        let code = self.wait_exit(Duration::from_secs(20));
        for reader in std::mem::take(&mut self.readers) {
            let _ = reader.join();
        }
        (code, self.output())
    }
    fn sigterm(&self) {
        unsafe { kill(self.child.id() as i32, 15) };
    }
    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

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

#[test]
fn api_logging_logs_every_call_with_its_status() {
    let w = World::new();
    let (http, grpc) = (free_port(), free_port());
    let components = w.path().join("components");
    let (http_arg, grpc_arg) = (http.to_string(), grpc.to_string());
    // One runtime for both runs: the client keeps one channel per endpoint, tied to its runtime.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let run = |extra: &[&str]| {
        let mut args =
            vec!["sidecar", "--app-id", "logged", "--log-level", "warn", "--dapr-http-port", &http_arg, "--dapr-grpc-port", &grpc_arg];
        args.extend(["--resources-path", components.to_str().unwrap()]);
        args.extend(extra);
        let mut cmd = w.command(&args);
        // No RUST_LOG: --log-level decides, and API logs show whatever the level.
        cmd.env_remove("RUST_LOG");
        let sidecar = w.spawn(cmd);
        let deadline = Instant::now() + Duration::from_secs(20);
        while common::try_http_request(http, "GET", "/v1.0/healthz/outbound", &[], b"").map(|r| r.0).ok() != Some(204) {
            assert!(Instant::now() < deadline, "the sidecar did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(http_request(http, "POST", "/v1.0/publish/pubsub/orders", &[("content-type", "application/json")], b"{}").0, 204);
        assert_eq!(http_request(http, "POST", "/v1.0/publish/nope/orders", &[], b"{}").0, 404);
        rt.block_on(async {
            let options = dapr_rs_core::ClientOptions::from_lookup(|_| None).with_address(&format!("http://127.0.0.1:{grpc}"));
            let client = dapr_rs_core::DaprClient::new(options).unwrap();
            client.metadata().await.unwrap();
            let bad = dapr_rs_core::PublishRequest { pubsub_name: "nope".into(), topic: "t".into(), ..Default::default() };
            assert!(client.publish_event(bad).await.is_err());
        });
        let (code, output) = sidecar.stop();
        assert_eq!(code, 0, "{output}");
        output
    };
    let logged = run(&["--enable-api-logging"]);
    let line =
        |needle: &str| logged.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no {needle:?} in:\n{logged}")).to_owned();
    let ok = line("POST /v1.0/publish/pubsub/orders");
    assert!(ok.contains("HTTP API Called") && ok.contains("code=204") && ok.contains("duration_ms="), "{ok}");
    assert!(line("POST /v1.0/publish/nope/orders").contains("code=404"));
    let md = line("/dapr.proto.runtime.v1.Dapr/GetMetadata");
    assert!(md.contains("gRPC API Called") && md.contains("code=Ok") && md.contains("app_id=logged"), "{md}");
    let failed = line("/dapr.proto.runtime.v1.Dapr/PublishEvent");
    assert!(!failed.contains("code=Ok"), "{failed}");
    // --log-level warn hides the sidecar's info lines.
    assert!(!logged.contains("dapr-rs sidecar started"), "{logged}");

    let quiet = run(&[]);
    assert!(!quiet.contains("API Called"), "{quiet}");
}

//! Test support: real `dapr-rs` sidecar processes on free loopback ports, and a tiny HTTP client.
#![allow(dead_code)]

pub mod inbox;
pub mod logs;
pub mod redis_server;
pub mod test_apps;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Writes a component file into `dir`.
pub fn component(dir: &Path, name: &str, ty: &str, metadata: &[(&str, &str)]) {
    let mut yaml = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: {ty}\n  version: v1\n  metadata:\n"
    );
    for (k, v) in metadata {
        yaml.push_str(&format!("  - name: {k}\n    value: \"{v}\"\n"));
    }
    std::fs::write(dir.join(format!("{name}.yaml")), yaml).unwrap();
}

/// A fresh resources dir holding one `pubsub.in-memory` component named `name`.
pub fn memory_resources(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    component(dir.path(), name, "pubsub.in-memory", &[]);
    dir
}

/// Writes a `Resiliency` resource scoped to app `checkout` into `dir`; `yaml_spec` is its `spec:` body.
pub fn resiliency(dir: &Path, yaml_spec: &str) {
    let doc = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata:\n  name: myresiliency\nscopes:\n  - checkout\nspec:\n{yaml_spec}"
    );
    std::fs::write(dir.join("resiliency.yaml"), doc).unwrap();
}

pub struct Sidecar {
    pub child: Child,
    pub http_port: u16,
    pub grpc_port: u16,
    pub app_id: String,
}

pub struct SidecarBuilder {
    app_id: String,
    app_port: Option<u16>,
    protocol: &'static str,
    resources: PathBuf,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl SidecarBuilder {
    pub fn new(app_id: &str, resources: &Path) -> Self {
        Self { app_id: app_id.into(), app_port: None, protocol: "grpc", resources: resources.into(), env: vec![], args: vec![] }
    }
    pub fn app(mut self, port: u16, protocol: &'static str) -> Self {
        self.app_port = Some(port);
        self.protocol = protocol;
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    /// Extra `dapr-rs sidecar` flags, e.g. `.args(&["--app-max-concurrency", "1"])`.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }
    pub fn command(&self, http: u16, grpc: u16) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dapr-rs"));
        cmd.args(["sidecar", "--app-id", &self.app_id, "--app-protocol", self.protocol, "--resources-path"])
            .arg(&self.resources)
            .args(["--dapr-http-port", &http.to_string(), "--dapr-grpc-port", &grpc.to_string()])
            .env("RUST_LOG", "info")
            .env_remove("DAPR_API_TOKEN")
            .env_remove("APP_API_TOKEN");
        if let Some(p) = self.app_port {
            cmd.args(["--app-port", &p.to_string()]);
        }
        cmd.args(&self.args);
        // Metrics on a free port: several sidecars run at once, and 9090 may be taken.
        if !self.args.iter().any(|a| a.starts_with("--metrics-port")) {
            cmd.args(["--metrics-port", "0"]);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }
    /// Starts the sidecar and waits until it is ready: its app's subscriptions are running.
    pub fn start_subscribed(self) -> Sidecar {
        let mut sc = self.start();
        sc.wait_http("/v1.0/healthz", 204, Duration::from_secs(15));
        sc
    }
    /// Starts the sidecar and waits until its outbound APIs answer. Its ports were free when
    /// picked, but a test running beside this one can bind one first (seen in CI: "cannot listen
    /// on 127.0.0.1:38119 for the gRPC API: Address already in use"); the sidecar then exits at
    /// once and is started again on new ports, at most three times.
    pub fn start(self) -> Sidecar {
        const TRIES: usize = 3;
        for attempt in 1..=TRIES {
            let (http, grpc) = (free_port(), free_port());
            // DAPR_RS_TEST_SIDECAR_LOGS=1 shows the sidecars' logs (stdout) when a test needs looking into.
            let stdout = if std::env::var_os("DAPR_RS_TEST_SIDECAR_LOGS").is_some() { Stdio::inherit() } else { Stdio::null() };
            let child = self.command(http, grpc).stdout(stdout).stderr(Stdio::inherit()).spawn().unwrap();
            let mut sc = Sidecar { child, http_port: http, grpc_port: grpc, app_id: self.app_id.clone() };
            match sc.wait_until_up(Duration::from_secs(20)) {
                None => return sc,
                Some(exit) if attempt < TRIES => eprintln!("the sidecar exited ({exit}) while starting on ports {http}/{grpc}; new ports"),
                Some(exit) => panic!("the sidecar exited ({exit}) while waiting for /v1.0/healthz/outbound, {TRIES} times"),
            }
        }
        unreachable!("every try returns or panics")
    }
}

impl Sidecar {
    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }
    pub fn client(&self) -> dapr_rs_core::DaprClient {
        dapr_rs_core::DaprClient::new(dapr_rs_core::ClientOptions::from_lookup(|_| None).with_address(&self.grpc_endpoint())).unwrap()
    }
    pub fn http(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
        http_request(self.http_port, method, path, headers, body)
    }
    /// Polls `/v1.0/healthz/outbound` until it answers 204; the exit status if the sidecar ended first.
    fn wait_until_up(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                return Some(exit);
            }
            if try_http_request(self.http_port, "GET", "/v1.0/healthz/outbound", &[], b"").ok().map(|r| r.0) == Some(204) {
                return None;
            }
            assert!(Instant::now() < deadline, "/v1.0/healthz/outbound did not answer 204 within {timeout:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    /// Polls `path` until it answers `status`.
    pub fn wait_http(&mut self, path: &str, status: u16, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                panic!("the sidecar exited ({exit}) while waiting for {path}");
            }
            if try_http_request(self.http_port, "GET", path, &[], b"").ok().map(|r| r.0) == Some(status) {
                return;
            }
            assert!(Instant::now() < deadline, "{path} did not answer {status} within {timeout:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    /// Sends SIGTERM and waits for the exit code (at most the default grace period plus the
    /// shutdown's margin and some slack; a sidecar still running then is dumped and killed).
    pub fn stop(self) -> Option<i32> {
        self.stop_within(Duration::from_secs(15))
    }

    /// Sends SIGTERM and waits up to `limit` for the exit code.
    pub fn stop_within(mut self, limit: Duration) -> Option<i32> {
        unsafe { libc_kill(self.child.id() as i32, 15) };
        let status = wait_or_kill(&mut self.child, limit, &format!("the sidecar of {} to exit after SIGTERM", self.app_id));
        std::mem::forget(self);
        status.code()
    }
}

/// Waits up to `limit` for `child` to exit. One still running then has its threads dumped (gdb,
/// else /proc), is killed and reaped, and the test fails naming `what` it waited for.
pub fn wait_or_kill(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waitpid") {
            return status;
        }
        if Instant::now() >= deadline {
            let dump = thread_dump(child.id());
            let _ = child.kill();
            let _ = child.wait();
            panic!("waited {limit:?} for {what}; killed it. Its threads:\n{dump}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` to its exit (stdout and stderr captured), at most `limit`.
pub fn output_within(mut cmd: Command, limit: Duration, what: &str) -> std::process::Output {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    // Read both pipes while waiting, so a chatty child cannot block on a full pipe.
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let status = wait_or_kill(&mut child, limit, what);
    std::process::Output { status, stdout: out_reader.join().unwrap(), stderr: err_reader.join().unwrap() }
}

/// Every thread's stack of process `pid`: gdb's backtraces when gdb is there, else the kernel's
/// view of each thread (name, state, wait channel).
pub fn thread_dump(pid: u32) -> String {
    let gdb = Command::new("timeout")
        .args(["20", "gdb", "-p", &pid.to_string(), "-batch", "-nx", "-ex", "thread apply all bt 30"])
        .stdin(Stdio::null())
        .output();
    if let Ok(out) = gdb
        && out.status.success()
        && !out.stdout.is_empty()
    {
        return String::from_utf8_lossy(&out.stdout).into_owned();
    }
    let mut dump = String::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let read = |f: &str| std::fs::read_to_string(task.path().join(f)).unwrap_or_default();
            let state = read("status").lines().find(|l| l.starts_with("State:")).unwrap_or_default().to_owned();
            dump.push_str(&format!("{:?} {} {} wchan={}\n", task.file_name(), read("comm").trim(), state, read("wchan")));
        }
    }
    dump
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// A minimal HTTP/1.1 request over a fresh connection; returns (status, body).
pub fn http_request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    try_http_request(port, method, path, headers, body).expect("HTTP request")
}

pub fn try_http_request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| std::io::Error::other("no status line"))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// A JSON publish with a chosen CloudEvent id and type (for routing on `event.type`).
pub fn typed_json_event(pubsub: &str, topic: &str, id: &str, event_type: &str, data: &str) -> dapr_rs_core::PublishRequest {
    dapr_rs_core::PublishRequest {
        pubsub_name: pubsub.into(),
        topic: topic.into(),
        data: bytes::Bytes::from(data.to_owned()),
        data_content_type: "application/json".into(),
        metadata: std::collections::HashMap::from([("cloudevent.id".into(), id.into()), ("cloudevent.type".into(), event_type.into())]),
    }
}

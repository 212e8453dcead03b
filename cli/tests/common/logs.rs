//! Sidecars whose log lines a test reads: what was refused, and why, is only ever said in the logs.

use super::{Sidecar, SidecarBuilder, free_port};
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The log lines of one sidecar, collected as they come (and echoed to the test's stderr).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<String>>>);

impl Logs {
    fn collect(self, out: impl Read + Send + 'static) -> Self {
        let lines = self.0.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                eprintln!("{line}");
                lines.lock().unwrap().push(line);
            }
        });
        self
    }

    pub fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }

    /// Lines containing every one of `needles`.
    pub fn matching(&self, needles: &[&str]) -> Vec<String> {
        self.0.lock().unwrap().iter().filter(|l| needles.iter().all(|n| l.contains(n))).cloned().collect()
    }

    /// Waits until `count` lines contain every one of `needles`.
    pub fn wait_for(&self, needles: &[&str], count: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.matching(needles);
            if found.len() >= count {
                return found;
            }
            assert!(Instant::now() < deadline, "no {count} log lines with {needles:?} within {timeout:?}; logs:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl SidecarBuilder {
    /// Like [`SidecarBuilder::start`], keeping the sidecar's log lines.
    pub fn start_logged(self) -> (Sidecar, Logs) {
        let (http, grpc) = (free_port(), free_port());
        let mut child = self.command(http, grpc).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let logs = Logs::default().collect(child.stdout.take().unwrap());
        let mut sc = Sidecar { child, http_port: http, grpc_port: grpc, app_id: self.app_id };
        sc.wait_http("/v1.0/healthz/outbound", 204, Duration::from_secs(20));
        (sc, logs)
    }

    /// Runs a sidecar that is expected to stop by itself at startup: its exit code and its output.
    pub fn run_to_exit(self, timeout: Duration) -> (Option<i32>, String) {
        let (http, grpc) = (free_port(), free_port());
        let mut child = self.command(http, grpc).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let out = Logs::default().collect(child.stdout.take().unwrap());
        let err = Logs::default().collect(child.stderr.take().unwrap());
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the sidecar did not stop within {timeout:?}; output:\n{}\n{}", out.text(), err.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100)); // let the readers drain the pipes
        (status.code(), format!("{}\n{}", err.text(), out.text()))
    }
}

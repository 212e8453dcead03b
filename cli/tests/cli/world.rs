//! A test's own world ($HOME, components on a shared SQLite file, app directories) and the
//! `dapr-rs` processes run in it.

use crate::common::component;
use serde_json::Value as Json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dapr-rs");

/// A test's own world: $HOME, a components directory on a shared SQLite broker, app directories.
pub struct World {
    root: tempfile::TempDir,
}

impl World {
    pub fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        for d in ["home", "components"] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        let db = root.path().join("pubsub.db");
        component(&root.path().join("components"), "pubsub", "pubsub.sqlite", &[("path", db.to_str().unwrap())]);
        Self { root }
    }
    pub fn path(&self) -> &Path {
        self.root.path()
    }
    pub fn home(&self) -> PathBuf {
        self.path().join("home")
    }
    pub fn app_dir(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
        dir
    }
    pub fn run_file(&self, yaml: &str) -> PathBuf {
        let file = self.path().join("dapr.yaml");
        std::fs::write(&file, yaml).unwrap();
        file
    }
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args).env("HOME", self.home()).env("RUST_LOG", "info").env_remove("DAPR_API_TOKEN").env_remove("APP_API_TOKEN");
        cmd
    }
    /// A one-shot command (`publish`, `list`, `stop`).
    pub fn dapr_rs(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().unwrap()
    }
    pub fn start(&self, args: &[&str]) -> Running {
        self.spawn(self.command(args))
    }
    pub fn spawn(&self, mut cmd: Command) -> Running {
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
    pub fn running_apps(&self) -> Vec<Json> {
        let out = self.dapr_rs(&["list", "-o", "json"]);
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice::<Vec<Json>>(&out.stdout).unwrap()
    }
    /// Polls `list` until `ids` (and only they) are running.
    pub fn wait_apps(&self, ids: &[&str]) -> Vec<Json> {
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
pub struct Running {
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
    /// Waits until a line contains `text`; returns that line.
    pub fn wait_line(&mut self, text: &str) -> String {
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
    pub fn wait_exit(&mut self, timeout: Duration) -> i32 {
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
    pub fn stop(mut self) -> (i32, String) {
        self.sigterm();
        let code = self.wait_exit(Duration::from_secs(20));
        for reader in std::mem::take(&mut self.readers) {
            let _ = reader.join();
        }
        (code, self.output())
    }
    pub fn sigterm(&self) {
        unsafe { kill(self.child.id() as i32, 15) };
    }
    pub fn is_running(&mut self) -> bool {
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

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

//! A `redis-server` of the test's own, on a free loopback port, persisting to an append-only file
//! in a temporary directory, which the test can stop and start again on the same port and data.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts it; panics with a hint when `redis-server` is missing (`make test` installs it).
    pub fn start() -> Self {
        let mut server = Self { port: super::free_port(), dir: tempfile::tempdir().unwrap(), child: None };
        server.restart();
        server
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// Starts the server (again) on the same port and data directory and waits for PONG.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        // Every write is fsynced before Redis answers: what a publisher was told is stored survives.
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--appendonly", "yes", "--appendfsync", "always"])
            .args(["--save", "", "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server on PATH (scripts/install-deps.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers_ping() {
            assert!(Instant::now() < deadline, "redis-server on port {} did not answer PING within 10 s", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM (Redis flushes and exits) and waits until the port is closed.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        super::wait_or_kill(&mut child, std::time::Duration::from_secs(20), "the test's redis-server to exit after SIGTERM");
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

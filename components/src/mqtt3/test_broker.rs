//! A Mosquitto of a test's own, on a port of its own with its files in a temporary directory.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The port of a listener just closed: mosquitto cannot be asked for port 0 and tell it back.
pub(super) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The test's own mosquitto, stopped (SIGKILL) when dropped, also when the test fails.
pub(super) struct Mosquitto(Child);

impl Mosquitto {
    /// SIGTERM: mosquitto writes its sessions to disk and exits, as on a service restart.
    pub fn stop(mut self) {
        // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts mosquitto on 127.0.0.1:`port` with its files in `dir` and `extra` lines of configuration.
pub(super) fn mosquitto(port: u16, dir: &std::path::Path, extra: &str) -> Mosquitto {
    let config = dir.join("mosquitto.conf");
    // `user root`: run as root, mosquitto would otherwise drop to a user that cannot read `dir`.
    // SAFETY: geteuid(2) only reads the process's effective user id.
    let user = if unsafe { libc::geteuid() } == 0 { "user root\n" } else { "" };
    let text = format!("listener {port} 127.0.0.1\nallow_anonymous true\n{user}persistence_location {}/\n{extra}", dir.display());
    std::fs::write(&config, text).unwrap();
    let server = Command::new("mosquitto")
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Mosquitto)
        .expect("mosquitto (scripts/start-brokers.sh installs it)");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("mosquitto did not listen on {port}");
}

//! The apps `dapr-rs run` is running on this machine, so that `publish`, `list` and `stop` can
//! find them: one small JSON file per app under `~/.dapr-rs/run/`, written once its sidecar
//! listens and removed when it stops. A file whose process is gone is stale and ignored.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    pub app_id: String,
    /// The `dapr-rs run` process hosting the app's sidecar.
    pub pid: u32,
    pub app_pid: Option<u32>,
    /// Where the sidecar's APIs answer (a loopback address when they listen on all).
    pub host: String,
    pub http_port: u16,
    pub grpc_port: u16,
    /// Where the sidecar serves `/metrics`; none with metrics off (or in a record of an older run).
    #[serde(default)]
    pub metrics_port: Option<u16>,
    pub app_port: Option<u16>,
    pub app_protocol: String,
    pub command: String,
    /// The run file (`run -f`) the app came from.
    pub run_file: Option<PathBuf>,
    /// How many apps the same `dapr-rs run` hosts.
    pub apps_in_run: usize,
    /// Unix seconds.
    pub started_at: u64,
}

/// `~/.dapr-rs/run`.
pub fn run_dir() -> Option<PathBuf> {
    home::home_dir().map(|h| h.join(".dapr-rs").join("run"))
}

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Removes the record's file when dropped, however the app's run ends.
pub struct RecordFile(PathBuf);

impl Drop for RecordFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl RunRecord {
    fn file_name(&self) -> String {
        let safe: String = self.app_id.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
        format!("{}-{safe}.json", self.pid)
    }

    /// Writes the record (atomically: readers never see half a file).
    pub fn write(&self) -> std::io::Result<RecordFile> {
        let dir = run_dir().ok_or_else(|| std::io::Error::other("no home directory"))?;
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(self.file_name());
        let tmp = dir.join(format!(".{}.tmp", self.file_name()));
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        std::fs::rename(&tmp, &path)?;
        Ok(RecordFile(path))
    }
}

/// Every app whose `dapr-rs run` is alive, oldest first; stale files are removed on the way.
pub fn running() -> Vec<RunRecord> {
    let Some(dir) = run_dir() else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut records = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Some(record) = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<RunRecord>(&b).ok()) else {
            continue;
        };
        if is_alive(record.pid) {
            records.push(record);
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
    records.sort_by(|a, b| (a.started_at, &a.app_id).cmp(&(b.started_at, &b.app_id)));
    records
}

/// The running app with this id (the newest if several runs use it).
pub fn find(app_id: &str) -> Option<RunRecord> {
    running().into_iter().rev().find(|r| r.app_id == app_id)
}

pub fn is_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

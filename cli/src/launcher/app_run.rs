//! One app and its sidecar, the unit `dapr-rs run` runs (once, or once per app of a run file): the
//! sidecar in this process, the app a child in its own process group with its output prefixed.

use super::registry::{self, RunRecord};
use dapr_rs_sidecar::config::SidecarConfig;
use dapr_rs_sidecar::sidecar;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

/// How long the app gets to exit after SIGTERM before it is killed.
pub(super) const APP_STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the app's output is still copied after it exited.
const OUTPUT_DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// What to run for one app.
#[derive(Debug, Clone)]
pub struct AppSpec {
    pub config: SidecarConfig,
    /// The app's command line; empty runs the sidecar alone.
    pub command: Vec<String>,
    /// The app's working directory (`appDirPath`); none keeps ours.
    pub dir: Option<PathBuf>,
    /// Extra environment for the app, after the variables `dapr run` sets (so it can override them).
    pub env: Vec<(String, String)>,
    pub output: AppOutput,
    pub run_file: Option<PathBuf>,
}

/// Where the app's output goes.
#[derive(Debug, Clone)]
pub struct AppOutput {
    /// Put before every line on the console: `== APP ==` or `== APP - <id> ==`.
    pub prefix: String,
    pub console: bool,
    /// A log file that gets the lines unprefixed (`appLogDestination: file`).
    pub file: Option<PathBuf>,
}

/// How an app's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppExit {
    /// The app's exit code (0 when it was stopped by us and exited on SIGTERM).
    Exited(i32),
    /// The sidecar or the app could not be started.
    NotStarted,
}

/// Runs `spec` until the app exits, its sidecar is told to stop, or `stop` is cancelled; then
/// stops the app (SIGTERM, SIGKILL after a while) and shuts the sidecar down gracefully.
pub async fn run_app(spec: AppSpec, stop: CancellationToken, apps_in_run: usize) -> AppExit {
    let app_id = spec.config.app_id.clone();
    let sidecar = match sidecar::start(spec.config.clone()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("dapr-rs: app {app_id}: {e}");
            return AppExit::NotStarted;
        }
    };
    let mut record = RunRecord {
        app_id: app_id.clone(),
        pid: std::process::id(),
        app_pid: None,
        host: if sidecar.http_addr.ip().is_unspecified() { "127.0.0.1".into() } else { sidecar.http_addr.ip().to_string() },
        http_port: sidecar.http_addr.port(),
        grpc_port: sidecar.grpc_addr.port(),
        metrics_port: sidecar.metrics_addr.map(|a| a.port()),
        app_port: spec.config.app_port,
        app_protocol: spec.config.app_protocol.as_str().into(),
        command: spec.command.join(" "),
        run_file: spec.run_file.clone(),
        apps_in_run,
        started_at: registry::now_secs(),
    };
    if spec.command.is_empty() {
        tracing::info!(%app_id, "no app command given; running the sidecar alone");
        let _registered = register(&record);
        tokio::select! {
            _ = sidecar.stopped() => {}
            _ = stop.cancelled() => {}
        }
        sidecar.shutdown().await;
        return AppExit::Exited(0);
    }
    let mut cmd = tokio::process::Command::new(&spec.command[0]);
    let cfg = &spec.config;
    cmd.args(&spec.command[1..])
        .env("DAPR_HTTP_PORT", record.http_port.to_string())
        .env("DAPR_GRPC_PORT", record.grpc_port.to_string())
        .env("APP_ID", &app_id)
        .env("APP_PROTOCOL", cfg.app_protocol.as_str())
        .env("APP_CHANNEL_ADDRESS", &cfg.app_channel_address)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(port) = cfg.app_port {
        cmd.env("APP_PORT", port.to_string());
    }
    if let Some(metrics) = sidecar.metrics_addr {
        cmd.env("DAPR_METRICS_PORT", metrics.port().to_string());
    }
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = &spec.dir {
        cmd.current_dir(dir);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dapr-rs: app {app_id}: cannot start {:?}: {e}", spec.command[0]);
            sidecar.shutdown().await;
            return AppExit::NotStarted;
        }
    };
    record.app_pid = child.id();
    tracing::info!(%app_id, pid = child.id(), "app started");
    let _registered = register(&record);
    let log_file = spec.output.file.as_ref().and_then(|path| match open_log_file(path) {
        Ok(f) => Some(Arc::new(Mutex::new(f))),
        Err(e) => {
            tracing::warn!(%app_id, path = %path.display(), error = %e, "cannot write the app's log file");
            None
        }
    });
    let mut output = tokio::task::JoinSet::new();
    if let Some(out) = child.stdout.take() {
        output.spawn(copy_lines(BufReader::new(out), false, spec.output.clone(), log_file.clone()));
    }
    if let Some(err) = child.stderr.take() {
        output.spawn(copy_lines(BufReader::new(err), true, spec.output.clone(), log_file));
    }
    let pgid = child.id().map(|p| p as i32);
    let code = tokio::select! {
        status = child.wait() => {
            let code = status.map(|s| s.code().unwrap_or(1)).unwrap_or(1);
            tracing::info!(%app_id, exit_code = code, "app exited");
            code
        }
        _ = sidecar.stopped() => {
            sidecar.stop_deliveries().await;
            stop_app(&mut child, pgid).await
        }
        _ = stop.cancelled() => {
            tracing::info!(%app_id, "stopping the app and its sidecar");
            // The deliveries in flight finish while the app still runs to take them.
            sidecar.stop_deliveries().await;
            stop_app(&mut child, pgid).await
        }
    };
    // A process the app left behind may hold its output open: copy what is there, not forever.
    if tokio::time::timeout(OUTPUT_DRAIN_TIMEOUT, async { while output.join_next().await.is_some() {} }).await.is_err() {
        output.abort_all();
    }
    sidecar.shutdown().await;
    AppExit::Exited(code)
}

fn register(record: &RunRecord) -> Option<registry::RecordFile> {
    match record.write() {
        Ok(file) => Some(file),
        Err(e) => {
            tracing::warn!(app_id = %record.app_id, error = %e, "cannot record the running app; publish/list/stop will not see it");
            None
        }
    }
}

fn open_log_file(path: &PathBuf) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new().create(true).append(true).open(path)
}

/// SIGTERM to the app's process group, then SIGKILL if it has not exited in time.
async fn stop_app(child: &mut tokio::process::Child, pgid: Option<i32>) -> i32 {
    if let Some(pgid) = pgid {
        // SAFETY: kill(2) on a process group we created; no memory is involved.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
    }
    match tokio::time::timeout(APP_STOP_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) => status.code().unwrap_or(0),
        _ => {
            if let Some(pgid) = pgid {
                // SAFETY: as above.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
            }
            let _ = child.wait().await;
            1
        }
    }
}

async fn copy_lines(
    reader: impl tokio::io::AsyncBufRead + Unpin,
    to_stderr: bool,
    output: AppOutput,
    file: Option<Arc<Mutex<std::fs::File>>>,
) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if output.console {
            // One write per line: stderr is unbuffered, and `eprintln!` would write the prefix and
            // the line apart, so another process's output on the same console could land between.
            let prefixed = format!("{} {line}\n", output.prefix);
            let _ = if to_stderr {
                std::io::stderr().lock().write_all(prefixed.as_bytes())
            } else {
                std::io::stdout().lock().write_all(prefixed.as_bytes())
            };
        }
        if let Some(f) = &file {
            let _ = writeln!(f.lock().unwrap_or_else(|e| e.into_inner()), "{line}");
        }
    }
}

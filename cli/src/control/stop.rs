//! `dapr-rs stop`: stops running apps by id, or every app of a run file. An app alone in its
//! `dapr-rs run` gets that run SIGTERMed; one of several (`run -f`) has its own sidecar shut down
//! (`POST /v1.0/shutdown`), which stops that app and leaves the others running.

use super::sidecar_request;
use crate::launcher::registry::{self, RunRecord};
use clap::Args;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long `stop` waits for a stopped app to be gone.
const STOP_WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct StopArgs {
    /// The app to stop; repeatable.
    #[arg(short = 'a', long)]
    pub app_id: Vec<String>,
    /// Stops every app of this run file (or of `dapr.yaml` in this directory).
    #[arg(short = 'f', long = "run-file")]
    pub run_file: Option<PathBuf>,
}

pub async fn stop(args: StopArgs) -> u8 {
    let running = registry::running();
    let targets: Vec<RunRecord> = match &args.run_file {
        Some(path) => {
            let file = if path.is_dir() { path.join("dapr.yaml") } else { path.clone() };
            let file = std::path::absolute(&file).unwrap_or(file);
            let apps: Vec<RunRecord> = running.into_iter().filter(|r| r.run_file.as_deref() == Some(file.as_path())).collect();
            if apps.is_empty() {
                eprintln!("Error: no running apps from run file {}", file.display());
                return 1;
            }
            apps
        }
        None => {
            let mut apps = Vec::new();
            for id in &args.app_id {
                match running.iter().rev().find(|r| &r.app_id == id) {
                    Some(r) => apps.push(r.clone()),
                    None => {
                        eprintln!("Error: no running app with id {id:?} (see `dapr-rs list`)");
                        return 1;
                    }
                }
            }
            apps
        }
    };
    let mut code = 0;
    for record in &targets {
        // Apps of one run stopped all together end the run: SIGTERM it once.
        let whole_run = record.apps_in_run <= 1 || targets.iter().filter(|t| t.pid == record.pid).count() >= record.apps_in_run;
        let result = if whole_run { terminate(record.pid) } else { shutdown_sidecar(record).await };
        match result.and(wait_gone(record).await) {
            Ok(()) => println!("app stopped successfully: {}", record.app_id),
            Err(e) => {
                eprintln!("Error stopping app {}: {e}", record.app_id);
                code = 1;
            }
        }
    }
    code
}

fn terminate(pid: u32) -> Result<(), String> {
    let pid = i32::try_from(pid).map_err(|_| format!("invalid pid {pid}"))?;
    // SAFETY: kill(2) with a pid read from the registry; a process already gone gives ESRCH.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    if rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(format!("cannot signal process {pid}: {}", std::io::Error::last_os_error()))
    }
}

async fn shutdown_sidecar(record: &RunRecord) -> Result<(), String> {
    let (status, body) = sidecar_request(record, http::Method::POST, "/v1.0/shutdown", None, bytes::Bytes::new()).await?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("the sidecar answered {status}: {}", String::from_utf8_lossy(&body).trim()))
    }
}

/// Until the app's record is gone (its run removes it once the app and sidecar stopped).
async fn wait_gone(record: &RunRecord) -> Result<(), String> {
    let deadline = Instant::now() + STOP_WAIT;
    while registry::running().iter().any(|r| r.pid == record.pid && r.app_id == record.app_id) {
        if Instant::now() > deadline {
            return Err(format!("still running after {STOP_WAIT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

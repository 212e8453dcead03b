//! `dapr-rs run`: a sidecar and an app side by side, as `dapr run` does. The sidecar runs in this
//! process; the app is a child in its own process group, its output prefixed with `== APP ==`.

use crate::config::{SidecarArgs, SidecarConfig};
use crate::sidecar;
use clap::Args;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub sidecar: SidecarArgs,
    /// The app's command line (after `--`, or simply after the flags).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// How long the app gets to exit after SIGTERM before it is killed.
const APP_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// SIGINT or SIGTERM, by name.
pub async fn termination_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

pub async fn run(args: RunArgs) -> u8 {
    let mut config = SidecarConfig::from_args(&args.sidecar);
    if config.app_id.is_empty() {
        config.app_id = format!("app-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    }
    // Like `dapr run`: ports not given are picked free, not 3500/50001.
    config.http_port = args.sidecar.dapr_http_port.unwrap_or(0);
    config.grpc_port = args.sidecar.dapr_grpc_port.unwrap_or(0);
    let sidecar = match sidecar::start(config.clone()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("dapr-rs: {e}");
            return 1;
        }
    };
    if args.command.is_empty() {
        tracing::info!("no app command given; running the sidecar alone");
        tokio::select! {
            _ = sidecar.stopped() => {}
            _ = termination_signal() => {}
        }
        sidecar.shutdown().await;
        return 0;
    }
    let mut cmd = tokio::process::Command::new(&args.command[0]);
    cmd.args(&args.command[1..])
        .env("DAPR_HTTP_PORT", sidecar.http_addr.port().to_string())
        .env("DAPR_GRPC_PORT", sidecar.grpc_addr.port().to_string())
        .env("APP_ID", &config.app_id)
        .env("APP_PROTOCOL", config.app_protocol.as_str())
        .env("APP_CHANNEL_ADDRESS", &config.app_channel_address)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(port) = config.app_port {
        cmd.env("APP_PORT", port.to_string());
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dapr-rs: cannot start the app {:?}: {e}", args.command[0]);
            sidecar.shutdown().await;
            return 1;
        }
    };
    tracing::info!(app_id = %config.app_id, pid = child.id(), "app started");
    let mut output = tokio::task::JoinSet::new();
    if let Some(out) = child.stdout.take() {
        output.spawn(prefix_lines(BufReader::new(out), false));
    }
    if let Some(err) = child.stderr.take() {
        output.spawn(prefix_lines(BufReader::new(err), true));
    }
    let pgid = child.id().map(|p| p as i32);
    let code = tokio::select! {
        status = child.wait() => {
            let status = status.map(|s| s.code().unwrap_or(1)).unwrap_or(1);
            tracing::info!(exit_code = status, "app exited");
            status
        }
        _ = sidecar.stopped() => stop_app(&mut child, pgid).await,
        signal = termination_signal() => {
            tracing::info!(signal, "stopping the app and the sidecar");
            stop_app(&mut child, pgid).await
        }
    };
    while output.join_next().await.is_some() {}
    sidecar.shutdown().await;
    u8::try_from(code).unwrap_or(1)
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

async fn prefix_lines(reader: impl tokio::io::AsyncBufRead + Unpin, to_stderr: bool) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if to_stderr {
            eprintln!("== APP == {line}");
        } else {
            println!("== APP == {line}");
        }
    }
}

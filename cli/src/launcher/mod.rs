//! `dapr-rs run`: apps and their sidecars side by side, as `dapr run` does: one app from the
//! command line, or every app of a multi-app run file (`-f dapr.yaml`), each with its own sidecar
//! in this process. Ctrl-C / SIGTERM stops them all; the run ends when every app has exited.

mod app_run;
pub mod registry;
/// Public for the fuzz target (`fuzz/`), which parses run files from text.
pub mod run_file;

use app_run::{AppExit, AppOutput, AppSpec};
use clap::Args;
use dapr_rs_sidecar::config::{SidecarArgs, SidecarConfig};
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub sidecar: SidecarArgs,
    /// A multi-app run file (or a directory holding `dapr.yaml`): runs each of its apps with its
    /// own sidecar. Flags given here are defaults the file's fields override.
    #[arg(short = 'f', long = "run-file", conflicts_with = "command")]
    pub run_file: Option<PathBuf>,
    /// Also serve `dapr-rs dashboard` on 127.0.0.1 while the apps run (on 8080 unless
    /// `--dashboard=PORT`).
    #[arg(long, value_name = "PORT", num_args = 0..=1, require_equals = true, default_missing_value = "8080")]
    pub dashboard: Option<u16>,
    /// The app's command line (after `--`, or simply after the flags).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

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
    let mut base = SidecarConfig::from_args(&args.sidecar);
    // Like `dapr run`: ports not given are picked free, not 3500/50001.
    base.http_port = args.sidecar.dapr_http_port.unwrap_or(0);
    base.grpc_port = args.sidecar.dapr_grpc_port.unwrap_or(0);
    if let Some(metrics) = &mut base.metrics {
        metrics.set_port(args.sidecar.metrics_port.unwrap_or(0));
    }
    let specs = match &args.run_file {
        Some(path) => match run_file::load(path, &base) {
            Ok(specs) => specs,
            Err(e) => {
                eprintln!("dapr-rs: {e}");
                return 1;
            }
        },
        None => {
            if base.app_id.is_empty() {
                base.app_id = format!("app-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
            }
            let output = AppOutput { prefix: "== APP ==".into(), console: true, file: None };
            vec![AppSpec { config: base, command: args.command.clone(), dir: None, env: Vec::new(), output, run_file: None }]
        }
    };
    // Deliveries drain (grace), the app stops (APP_STOP_TIMEOUT), then the sidecar shuts down.
    let grace = specs.iter().map(|s| s.config.grace).max().unwrap_or_default();
    let stop_limit = grace * 2 + app_run::APP_STOP_TIMEOUT + dapr_rs_sidecar::sidecar::SHUTDOWN_MARGIN + Duration::from_secs(3);
    // Up before the apps start; it stops when the run ends.
    let _dashboard = match args.dashboard {
        Some(port) => match crate::dashboard::beside_run(port).await {
            Ok(dashboard) => Some(dashboard),
            Err(e) => {
                eprintln!("dapr-rs: {e}");
                return 1;
            }
        },
        None => None,
    };
    run_apps(specs, stop_limit).await
}

/// Runs every app at once; exits non-zero if any could not start or exited non-zero. An app that
/// cannot start stops the others, as `dapr run -f` does.
async fn run_apps(specs: Vec<AppSpec>, stop_limit: Duration) -> u8 {
    let stop = CancellationToken::new();
    let count = specs.len();
    let mut apps = tokio::task::JoinSet::new();
    for spec in specs {
        let (id, stop) = (spec.config.app_id.clone(), stop.clone());
        // With several sidecars in one process, their log lines say whose they are.
        let span = if count > 1 { tracing::info_span!("app", app_id = %id) } else { tracing::Span::none() };
        apps.spawn(async move { (id, app_run::run_app(spec, stop, count).await) }.instrument(span));
    }
    let signals = stop.clone();
    let watcher = tokio::spawn(async move {
        tokio::select! {
            signal = termination_signal() => {
                tracing::info!(signal, "stopping every app and sidecar");
                dapr_rs_sidecar::sidecar::exit_if_still_running_after(stop_limit);
                signals.cancel();
            }
            _ = signals.cancelled() => {}
        }
    });
    let mut code = 0u8;
    while let Some(joined) = apps.join_next().await {
        let exit = match joined {
            Ok((id, exit)) => {
                if count > 1 {
                    tracing::info!(app_id = %id, ?exit, "app finished");
                }
                exit
            }
            Err(e) => {
                tracing::error!(error = %e, "an app's run failed");
                AppExit::NotStarted
            }
        };
        match exit {
            AppExit::Exited(0) => {}
            AppExit::Exited(c) => code = if code == 0 { u8::try_from(c).ok().filter(|c| *c != 0).unwrap_or(1) } else { code },
            AppExit::NotStarted => {
                code = 1;
                stop.cancel();
            }
        }
    }
    stop.cancel();
    let _ = watcher.await;
    code
}

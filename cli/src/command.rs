//! The `dapr-rs` command line: the sidecar alone (`sidecar`), the launcher (`run`), and the commands
//! that act on running apps (`publish`, `list`, `stop`, `dashboard`).

use crate::{control, dashboard, launcher, logging};
use clap::{Parser, Subcommand};
use dapr_rs_sidecar::config::{SidecarArgs, SidecarConfig};
use dapr_rs_sidecar::sidecar;

#[derive(Parser)]
#[command(name = "dapr-rs", version, about = "A Dapr-compatible pub/sub sidecar")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the sidecar alone (as daprd).
    Sidecar(SidecarArgs),
    /// Run an app with a sidecar beside it, or every app of a run file (as `dapr run`).
    Run(launcher::RunArgs),
    /// Publish an event through the sidecar of a running app (as `dapr publish`).
    Publish(control::PublishArgs),
    /// List the apps `dapr-rs run` is running (as `dapr list`).
    List(control::ListArgs),
    /// Stop running apps (as `dapr stop`).
    Stop(control::StopArgs),
    /// Serve a local web page showing the running apps, their subscriptions, traffic and dead letters.
    Dashboard(dashboard::DashboardArgs),
}

/// What the exit deadline allows beyond a shutdown's own bound before it ends the process.
const EXIT_DEADLINE_SLACK: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs the command `args` names (`args[0]` is the program), as the `dapr-rs` binary does; the
/// Python and Node packages call it too, so their `dapr-rs` is this same program. Returns the exit
/// code; `--help`, `--version` and a bad command line exit the process, as any CLI does.
pub fn main<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    default_stop_signals();
    // Never a panic: in the packages this runs inside Python or Node, across their FFI.
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("dapr-rs: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Sidecar(args) => {
                logging::init(&args.log_level, args.log_as_json, args.app_id.as_deref());
                run_sidecar(SidecarConfig::from_args(&args)).await
            }
            Command::Run(args) => {
                logging::init(&args.sidecar.log_level, args.sidecar.log_as_json, args.sidecar.app_id.as_deref());
                launcher::run(args).await
            }
            Command::Publish(args) => control::publish(args).await,
            Command::List(args) => control::list(args),
            Command::Stop(args) => control::stop(args).await,
            Command::Dashboard(args) => dashboard::run(args).await,
        }
    });
    // Tasks still running (a blocked broker call) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    // A binary's stdout is flushed by Rust's exit path, which a host process never runs.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    code
}

/// SIGINT and SIGTERM back to their default action before the command installs its handlers, as
/// in a freshly started binary. tokio's handlers chain to whatever was there: Python's SIGINT
/// handler would raise KeyboardInterrupt once the command returned, and Node's (raise the signal
/// again) would call tokio's once more, forever, so the process never exited.
fn default_stop_signals() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: only sets a disposition, before any handler of ours is installed.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
}

async fn run_sidecar(config: SidecarConfig) -> u8 {
    let sidecar = match sidecar::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("dapr-rs: {e}");
            return 1;
        }
    };
    tokio::select! {
        _ = sidecar.stopped() => {}
        signal = launcher::termination_signal() => tracing::info!(signal, "stopping"),
    }
    sidecar::exit_if_still_running_after(sidecar.state.config.grace + sidecar::SHUTDOWN_MARGIN + EXIT_DEADLINE_SLACK);
    sidecar.shutdown().await;
    0
}

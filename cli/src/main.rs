//! `dapr-rs`: a Dapr-compatible pub/sub sidecar (`dapr-rs sidecar`), a launcher that runs apps
//! beside one each (`dapr-rs run`), and the commands that act on running apps (`publish`, `list`,
//! `stop`). The binary only parses the command line; the sidecar itself is the library.

use clap::{Parser, Subcommand};
use dapr_rs_cli::{control, launcher};
use dapr_rs_sidecar::config::{SidecarArgs, SidecarConfig};
use dapr_rs_sidecar::{api, sidecar};

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
}

/// What the exit deadline allows beyond a shutdown's own bound before it ends the process.
const EXIT_DEADLINE_SLACK: std::time::Duration = std::time::Duration::from_secs(2);

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "warn,dapr_rs_sidecar={level},dapr_rs_cli={level},dapr_rs={level},{}=info",
            api::API_LOG_TARGET
        ))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .compact()
        .init();
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let code = runtime.block_on(async {
        match cli.command {
            Command::Sidecar(args) => {
                init_logging(&args.log_level);
                run_sidecar(SidecarConfig::from_args(&args)).await
            }
            Command::Run(args) => {
                init_logging(&args.sidecar.log_level);
                launcher::run(args).await
            }
            Command::Publish(args) => control::publish(args).await,
            Command::List(args) => control::list(args),
            Command::Stop(args) => control::stop(args).await,
        }
    });
    // Tasks still running (a blocked broker call) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    std::process::ExitCode::from(code)
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

//! `dapr-rs`: a Dapr-compatible pub/sub sidecar (`dapr-rs sidecar`), a launcher that runs apps
//! beside one each (`dapr-rs run`), and the commands that act on running apps (`publish`, `list`,
//! `stop`). The command line is the library's (`dapr_rs_cli::command`), which the Python and Node
//! packages run as their `dapr-rs` too.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(dapr_rs_cli::command::main(std::env::args_os()))
}

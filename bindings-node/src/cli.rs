//! The `dapr-rs` command of the npm package: the binary's own command line
//! (`dapr_rs_cli::command::main`), run in this process, so `npm install` puts the same program in
//! `node_modules/.bin` without a Rust toolchain (the package's `bin`, `bin/dapr-rs.js`).

/// Runs the `dapr-rs` command line `argv` (`argv[0]` is the program) on the calling thread and
/// returns its exit code: the command builds its own tokio runtime, and the JS thread, which has
/// nothing else to do in `bin/dapr-rs.js`, blocks until it ends. Signals reach it as they reach
/// the binary (the command takes SIGINT/SIGTERM back from Node); `--help`, `--version` and a bad
/// command line exit the process, as the binary does. The command installs its own log, so the
/// facade's (`logToStderr`) must not be installed in this process.
#[napi_derive::napi]
pub fn run_cli(argv: Vec<String>) -> u32 {
    u32::from(dapr_rs_cli::command::main(argv))
}

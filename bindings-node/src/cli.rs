//! The `dapr-rs` command of the npm package: the binary's own command line
//! (`dapr_rs_cli::command::main`), run in this process, so `npm install` puts the same program in
//! `node_modules/.bin` without a Rust toolchain (the package's `bin`, `bin/dapr-rs.js`).

use std::io::Write;

/// Runs the `dapr-rs` command line `argv` (`argv[0]` is the program) on the calling thread and
/// returns its exit code: the command builds its own tokio runtime, and the JS thread, which has
/// nothing else to do in `bin/dapr-rs.js`, blocks until it ends. Signals reach it as they reach
/// the binary (tokio's handlers, once Node's are gone: `default_stop_signals`); `--help`,
/// `--version` and a bad command line exit the process, as the binary does. The command installs
/// its own log, so the facade's (`logToStderr`) must not be installed in this process.
#[napi_derive::napi]
pub fn run_cli(argv: Vec<String>) -> u32 {
    default_stop_signals();
    let code = dapr_rs_cli::command::main(argv);
    // A binary's stdout is flushed by Rust's exit path, which an addon never runs.
    let _ = std::io::stdout().flush();
    u32::from(code)
}

/// SIGINT and SIGTERM back to their default action, as in the binary before tokio installs its
/// handlers. Node's own (restore the terminal, then raise the signal again, relying on
/// SA_RESETHAND) would be chained to by tokio's handler, where raising it again calls tokio's
/// handler once more, forever: the command stops its apps but the process never exits.
fn default_stop_signals() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: only sets a disposition, before the command installs its handlers.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
}

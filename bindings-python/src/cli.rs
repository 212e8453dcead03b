//! The `dapr-rs` command of the Python package: the binary's own command line
//! (`dapr_rs_cli::command::main`), run in this process, so `pip install` puts the same program on
//! PATH without a Rust toolchain (the package's `dapr-rs` script is `dapr_rs._cli:main`).

use pyo3::prelude::*;

/// Runs the `dapr-rs` command line `argv` (`argv[0]` is the program) and returns its exit code,
/// with the GIL released until it ends. Signals reach it as they reach the binary (the command
/// takes SIGINT/SIGTERM back from Python); `--help`, `--version` and a bad command line exit the
/// process, as the binary does.
#[pyfunction]
pub fn run_cli(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.detach(|| dapr_rs_cli::command::main(argv))
}

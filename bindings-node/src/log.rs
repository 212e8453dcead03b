//! Core logs through `tracing` (a handler that failed and was answered RETRY, a stream
//! reconnecting); nothing else prints those in a Node process, so the facade has the addon write
//! them to stderr as it loads (`lib/native.js`), filtered by `RUST_LOG` (default `warn`). Not on
//! the addon's own load: the package's `dapr-rs` command (`runCli`) installs the binary's log.

/// Sends core's `tracing` events to stderr; a second call, or another subscriber already set (an
/// embedding process's), leaves the first in place.
#[napi_derive::napi]
pub fn log_to_stderr() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colours).try_init();
}

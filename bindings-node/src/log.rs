//! Core logs through `tracing` (a handler that failed and was answered RETRY, a stream
//! reconnecting); nothing else prints those in a Node process, so the addon writes them to stderr
//! from the moment it loads, filtered by `RUST_LOG` (default `warn`).

#[napi_derive::module_init]
fn log_to_stderr() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Another subscriber already set (an embedding process's) wins.
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colours).try_init();
}

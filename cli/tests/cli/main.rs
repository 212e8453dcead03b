//! The `dapr-rs` command line, run as a user runs it: `run -f dapr.yaml` with real apps (Python
//! and shell) publishing to each other through their own sidecars, `publish`, `list` and `stop`
//! against a running `dapr-rs run`, and `--enable-api-logging`. Each test has its own $HOME, so
//! the registry of running apps (`~/.dapr-rs/run/`) is its own too.

mod api_logging;
mod apps;
#[path = "../common/mod.rs"]
mod common;
mod metrics;
mod publish_list_stop;
mod run_file;
mod world;

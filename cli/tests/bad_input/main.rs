//! Issue 12's bad-input table: every entry point of the sidecar (HTTP API, gRPC API, resource
//! YAML, the run file, flags) driven with bad input. Each row asserts the documented answer, and
//! for the APIs that the sidecar keeps serving afterwards (a good publish succeeds); for startup
//! input, that the process refuses to start (exits non-zero, naming the file, key and value)
//! instead of half-starting.
//!
//! The table is `tests/BAD_INPUT.md`, generated here: `DAPR_RS_WRITE_BAD_INPUT=1` writes it; any
//! other run checks that the committed file is what this run observed, so the doc cannot drift.

#[path = "../common/mod.rs"]
mod common;
mod grpc_api;
mod http_api;
mod startup;
mod table;

use common::{SidecarBuilder, component};
use table::{Table, write_or_check};

const PUBSUB: &str = "ps";
const APP_ID: &str = "badinput";
const MIB: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn every_entry_point_answers_bad_input_as_documented_and_keeps_serving() {
    let mut t = Table::default();
    let dir = tempfile::tempdir().unwrap();
    component(dir.path(), PUBSUB, "pubsub.in-memory", &[]);
    component(dir.path(), "scoped", "pubsub.in-memory", &[("publishingScopes", &format!("{APP_ID}=orders"))]);
    let mut sc = SidecarBuilder::new(APP_ID, dir.path()).start();

    http_api::bad_requests(&mut t, &mut sc);
    grpc_api::bad_requests(&mut t, &mut sc).await;
    let exit = sc.stop();
    assert_eq!(exit, Some(0), "the sidecar that took the bad API input exits cleanly on SIGTERM");

    startup::bad_resources(&mut t);
    startup::bad_run_files(&mut t);
    startup::bad_flags(&mut t);
    startup::bad_configurations(&mut t);

    write_or_check(&t);
}

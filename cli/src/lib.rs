//! What the `dapr-rs` binary adds to the sidecar library: the `dapr-rs run` launcher (an app and
//! its sidecar as one unit, once or per app of a run file) and the commands that act on running
//! apps through the launcher's registry (`publish`, `list`, `stop`). Nothing of the sidecar's
//! APIs or delivery lives here; `command` parses the command line, for the binary and the packages.

pub mod command;
pub mod control;
pub mod dashboard;
pub mod launcher;
pub mod logging;

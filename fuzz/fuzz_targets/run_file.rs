//! sidecar::launcher::run_file: a multi-app run file's text (`dapr-rs run -f`), its relative paths
//! resolved against a scratch directory that has a few of the directories the seeds name.
#![no_main]

use clap::Parser;
use dapr_rs_sidecar::config::{SidecarArgs, SidecarConfig};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: SidecarArgs,
}

/// The command line's defaults, and a directory holding `a/`, `b/.dapr/resources/` and `components/`.
fn setup() -> &'static (SidecarConfig, PathBuf) {
    static SETUP: OnceLock<(SidecarConfig, PathBuf)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = std::env::temp_dir().join("dapr-rs-fuzz-run-file");
        for sub in ["a", "b/.dapr/resources", "components"] {
            std::fs::create_dir_all(dir.join(sub)).expect("scratch directory");
        }
        let base = SidecarConfig::from_args(&Cli::parse_from(["dapr-rs", "--resources-path", "/nonexistent-cli"]).args);
        (base, dir)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (base, dir) = setup();
    let Ok(specs) = dapr_rs_cli::launcher::run_file::parse(text, &dir.join("dapr.yaml"), base) else { return };
    // Every app has an id, ids are unique, and its directory exists.
    assert!(!specs.is_empty());
    let mut ids = std::collections::HashSet::new();
    for spec in &specs {
        assert!(!spec.config.app_id.is_empty());
        assert!(ids.insert(spec.config.app_id.clone()), "appID {:?} twice", spec.config.app_id);
        assert!(spec.dir.as_ref().is_some_and(|d| d.exists()));
    }
});

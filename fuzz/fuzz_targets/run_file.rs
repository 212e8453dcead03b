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

/// A known panic owned elsewhere (issue 12): `appHealthProbeInterval: 1e30` (or a timeout that
/// large) overflows `Duration::mul_f64` in `delivery::app_health::parse_in`. Such inputs are skipped
/// until that is fixed, so the target keeps looking for other crashes; remove this then.
fn probes_overflow(text: &str) -> bool {
    let Ok(doc) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) else { return false };
    let huge = |v: &serde_yaml_ng::Value| {
        let n = match v {
            serde_yaml_ng::Value::Number(n) => n.as_f64(),
            serde_yaml_ng::Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        n.is_some_and(|n| n.is_finite() && n >= 1e15)
    };
    let fields = |m: &serde_yaml_ng::Value| ["appHealthProbeInterval", "appHealthProbeTimeout"].iter().any(|k| m.get(k).is_some_and(huge));
    doc.get("common").is_some_and(fields)
        || doc.get("apps").and_then(serde_yaml_ng::Value::as_sequence).is_some_and(|apps| apps.iter().any(fields))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if probes_overflow(text) {
        return;
    }
    let (base, dir) = setup();
    let Ok(specs) = dapr_rs_sidecar::launcher::run_file::parse(text, &dir.join("dapr.yaml"), base) else { return };
    // Every app has an id, ids are unique, and its directory exists.
    assert!(!specs.is_empty());
    let mut ids = std::collections::HashSet::new();
    for spec in &specs {
        assert!(!spec.config.app_id.is_empty());
        assert!(ids.insert(spec.config.app_id.clone()), "appID {:?} twice", spec.config.app_id);
        assert!(spec.dir.as_ref().is_some_and(|d| d.exists()));
    }
});

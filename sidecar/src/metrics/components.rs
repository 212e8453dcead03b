//! `dapr_runtime_component_*`: the components the sidecar loaded, and those it could not (D
//! pkg/diagnostics/service_monitoring.go).

use super::Family;
use prometheus::IntCounterVec;
use std::sync::Arc;

pub struct ComponentMetrics {
    on: bool,
    app_id: Arc<str>,
    /// A Count view in daprd, so a counter: one per component loaded (daprd declares it and never
    /// records it).
    loaded: IntCounterVec,
    init: IntCounterVec,
    init_fail: IntCounterVec,
}

impl ComponentMetrics {
    pub(super) fn new(f: &mut Family) -> Self {
        Self {
            on: f.on,
            app_id: f.app_id.clone(),
            loaded: f.counter("dapr_runtime_component_loaded", "The number of successfully loaded components.", &["app_id"]),
            init: f.counter("dapr_runtime_component_init_total", "The number of initialized components.", &["app_id", "component"]),
            init_fail: f.counter(
                "dapr_runtime_component_init_fail_total",
                "The number of component initialization failures.",
                &["app_id", "component", "reason", "componentName"],
            ),
        }
    }

    /// A component of `component_type` (e.g. `pubsub.redis`) is up.
    pub fn initialized(&self, component_type: &str) {
        if self.on {
            self.loaded.with_label_values(&[&*self.app_id]).inc();
            self.init.with_label_values(&[&*self.app_id, component_type]).inc();
        }
    }

    /// Component `name` did not come up: `reason` is daprd's `creation` for a type no component
    /// implements, else `init`.
    pub fn init_failed(&self, component_type: &str, name: &str) {
        if self.on {
            let reason = if dapr_rs_components::SUPPORTED_TYPES.contains(&component_type) { "init" } else { "creation" };
            self.init_fail.with_label_values(&[&*self.app_id, component_type, reason, name]).inc();
        }
    }
}

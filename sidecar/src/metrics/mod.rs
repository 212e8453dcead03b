//! Prometheus metrics under daprd's names, labels and buckets (reference §1): what daprd's
//! OpenCensus views export, each counter under its own name with no `_total` added. One [`Metrics`]
//! per sidecar, shared by the publisher, the deliveries and both APIs; with
//! `--enable-metrics=false` it records nothing and nothing is served.

pub mod api_server;
pub mod components;
pub mod exporter;
mod process;
pub mod pubsub;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use std::sync::Arc;

/// daprd's latency buckets, in milliseconds (`spec.metrics.latencyDistributionBuckets` unset).
pub const LATENCY_BUCKETS_MS: [f64; 34] = [
    1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 13.0, 16.0, 20.0, 25.0, 30.0, 40.0, 50.0, 65.0, 80.0, 100.0, 130.0, 160.0, 200.0, 250.0,
    300.0, 400.0, 500.0, 650.0, 800.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0, 50000.0, 100000.0,
];

/// daprd's size buckets, in bytes: 1Ki to 4Gi.
pub const SIZE_BUCKETS_BYTES: [f64; 13] = [
    1024.0,
    2048.0,
    4096.0,
    16384.0,
    65536.0,
    262144.0,
    1048576.0,
    4194304.0,
    16777216.0,
    67108864.0,
    268435456.0,
    1073741824.0,
    4294967296.0,
];

/// Every metric the sidecar exports, and the registry `/metrics` renders.
pub struct Metrics {
    registry: Registry,
    pub pubsub: pubsub::PubsubMetrics,
    pub components: components::ComponentMetrics,
    pub api: api_server::ApiServerMetrics,
}

impl Metrics {
    /// `namespace` is the `NAMESPACE` environment variable (empty when unset), as daprd standalone.
    pub fn new(app_id: &str, enabled: bool) -> Self {
        let namespace = std::env::var("NAMESPACE").unwrap_or_default();
        let mut family = Family { registry: Registry::new(), on: enabled, app_id: Arc::from(app_id), namespace: Arc::from(namespace) };
        let pubsub = pubsub::PubsubMetrics::new(&mut family);
        let components = components::ComponentMetrics::new(&mut family);
        let api = api_server::ApiServerMetrics::new(&mut family);
        if enabled {
            process::register(&family.registry);
        }
        Self { registry: family.registry, pubsub, components, api }
    }

    /// The Prometheus text exposition of everything recorded so far.
    pub fn render(&self) -> String {
        prometheus::TextEncoder::new().encode_to_string(&self.registry.gather()).unwrap_or_else(|e| format!("# {e}\n"))
    }
}

/// What each group of metrics is built from: the registry it joins, whether recording is on, and
/// the labels every daprd metric carries.
pub(crate) struct Family {
    registry: Registry,
    on: bool,
    app_id: Arc<str>,
    namespace: Arc<str>,
}

impl Family {
    fn counter(&mut self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        let counter = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric name and labels");
        self.registry.register(Box::new(counter.clone())).expect("each metric is registered once");
        counter
    }

    fn histogram(&mut self, name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
        let histogram =
            HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels).expect("a valid metric name and labels");
        self.registry.register(Box::new(histogram.clone())).expect("each metric is registered once");
        histogram
    }

    fn latency(&mut self, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
        self.histogram(name, help, labels, &LATENCY_BUCKETS_MS)
    }
}

/// Milliseconds with their fraction, as daprd's pub/sub latencies (`diag.ElapsedSince`).
pub fn fractional_ms(elapsed: std::time::Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

/// Whole milliseconds, rounded down, as daprd's HTTP and gRPC server latencies.
pub fn whole_ms(elapsed: std::time::Duration) -> f64 {
    elapsed.as_millis() as f64
}

#[cfg(test)]
mod tests {
    use super::pubsub::{Ingress, Settled};
    use super::*;
    use dapr_rs_proto::outcome::DeliveryOutcome;

    /// The sample lines of `text` that start with `name{` (or are `name value`).
    fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))).collect()
    }

    #[tokio::test]
    async fn counters_keep_daprds_names_and_labels() {
        let metrics = Arc::new(Metrics::new("checkout", true));
        let ok: Result<(), ()> = metrics.pubsub.egress("ps", "orders", async { Ok(()) }).await;
        assert!(ok.is_ok());
        let _ = metrics.pubsub.egress::<(), _>("ps", "orders", async { Err("refused") }).await;
        let bulk = metrics.pubsub.bulk_egress("ps", "orders", async { vec![Ok(()), Err(()), Ok(())] }).await;
        assert_eq!(bulk.len(), 3);
        let ingress = Ingress::new(metrics.clone(), "ps", "orders", true);
        assert_eq!(ingress.delivered(async { DeliveryOutcome::Drop }).await, DeliveryOutcome::Drop);
        assert!(ingress.settled(Ok(()), Settled::Unrouted).is_ok());
        let tally = ingress.bulk();
        tally.call(async {}).await;
        tally.entry(DeliveryOutcome::Success);
        tally.entry(DeliveryOutcome::Success);
        tally.entry(DeliveryOutcome::Retry);
        tally.report();
        metrics.components.initialized("pubsub.redis");
        metrics.components.init_failed("pubsub.pulsar", "broken");
        metrics.components.init_failed("pubsub.redis", "down");

        let text = metrics.render();
        assert!(text.contains("# TYPE dapr_component_pubsub_egress_count counter\n"), "{text}");
        assert!(!text.contains("_count_total"), "no _total is added to a counter's name: {text}");
        let egress = samples(&text, "dapr_component_pubsub_egress_count");
        assert_eq!(egress.len(), 2, "{egress:?}");
        for line in &egress {
            assert!(line.contains(r#"app_id="checkout""#) && line.contains(r#"component="ps""#) && line.contains(r#"namespace="""#));
            assert!(line.ends_with(" 1"), "{line}");
        }
        assert!(egress.iter().any(|l| l.contains(r#"success="false""#)) && egress.iter().any(|l| l.contains(r#"success="true""#)));
        assert_eq!(samples(&text, "dapr_component_pubsub_egress_latencies_count").len(), 2);
        let bulk = samples(&text, "dapr_component_pubsub_egress_bulk_count");
        assert!(bulk.len() == 1 && bulk[0].contains(r#"success="false""#) && bulk[0].ends_with(" 1"), "{bulk:?}");
        let events = samples(&text, "dapr_component_pubsub_egress_bulk_event_count");
        assert!(events.len() == 1 && events[0].contains(r#"success="true""#) && events[0].ends_with(" 2"), "{events:?}");

        let ingress = samples(&text, "dapr_component_pubsub_ingress_count");
        assert_eq!(ingress.len(), 1, "the app's DROP and the unmatched route share their labels: {ingress:?}");
        assert!(
            ingress[0].contains(r#"process_status="drop""#) && ingress[0].contains(r#"status="success""#) && ingress[0].ends_with(" 2")
        );
        let latencies = samples(&text, "dapr_component_pubsub_ingress_latencies_count");
        assert!(latencies.len() == 1 && latencies[0].ends_with(" 1"), "a settled message has no latency: {latencies:?}");
        let bulk = samples(&text, "dapr_component_pubsub_ingress_bulk_count");
        assert!(bulk.len() == 1 && bulk[0].contains(r#"component="pubsubName""#) && bulk[0].contains(r#"process_status="""#), "{bulk:?}");
        let events = samples(&text, "dapr_component_pubsub_ingress_bulk_event_count");
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(events.iter().all(|l| l.ends_with(" 1")), "one per outcome, not per entry, as daprd's Count view: {events:?}");
        assert!(
            events.iter().any(|l| l.contains(r#"process_status="SUCCESS""#))
                && events.iter().any(|l| l.contains(r#"process_status="RETRY""#))
        );

        assert_eq!(samples(&text, "dapr_runtime_component_loaded"), [r#"dapr_runtime_component_loaded{app_id="checkout"} 1"#]);
        assert_eq!(
            samples(&text, "dapr_runtime_component_init_total"),
            [r#"dapr_runtime_component_init_total{app_id="checkout",component="pubsub.redis"} 1"#]
        );
        let failed = samples(&text, "dapr_runtime_component_init_fail_total");
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert!(failed.iter().any(|l| l.contains(r#"component="pubsub.pulsar""#)
            && l.contains(r#"reason="creation""#)
            && l.contains(r#"componentName="broken""#)));
        assert!(
            failed.iter().any(|l| l.contains(r#"component="pubsub.redis""#)
                && l.contains(r#"reason="init""#)
                && l.contains(r#"componentName="down""#))
        );
        assert!(text.lines().any(|l| l.starts_with("process_resident_memory_bytes ")), "{text}");
    }

    #[tokio::test]
    async fn with_metrics_off_nothing_is_recorded() {
        let metrics = Arc::new(Metrics::new("quiet", false));
        let _ = metrics.pubsub.egress::<(), ()>("ps", "orders", async { Ok(()) }).await;
        Ingress::new(metrics.clone(), "ps", "orders", true).delivered(async { DeliveryOutcome::Success }).await;
        metrics.components.initialized("pubsub.redis");
        let text = metrics.render();
        assert!(!text.lines().any(|l| !l.starts_with('#') && !l.is_empty()), "{text}");
    }
}

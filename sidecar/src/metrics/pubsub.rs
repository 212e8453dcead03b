//! `dapr_component_pubsub_*`: what the publisher sent to its components (egress) and what became
//! of each message a subscription took (ingress), with daprd's labels (D
//! pkg/diagnostics/component_monitoring.go; the ingress rules of its postmen).

use super::{Family, Metrics, fractional_ms};
use dapr_rs_components::NotProcessed;
use dapr_rs_proto::outcome::DeliveryOutcome;
use prometheus::{HistogramVec, IntCounterVec};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const INGRESS: [&str; 6] = ["app_id", "component", "namespace", "process_status", "status", "topic"];
const BULK_INGRESS: [&str; 5] = ["app_id", "component", "namespace", "process_status", "topic"];
const EGRESS: [&str; 5] = ["app_id", "component", "namespace", "success", "topic"];

/// daprd labels every bulk ingress record with this literal component name (it passes the
/// metadata key `pubsubName`, not its value); kept so dashboards written for daprd match.
const DAPRD_BULK_INGRESS_COMPONENT: &str = "pubsubName";

pub struct PubsubMetrics {
    on: bool,
    app_id: Arc<str>,
    namespace: Arc<str>,
    ingress_count: IntCounterVec,
    ingress_latencies: HistogramVec,
    ingress_bulk_count: IntCounterVec,
    ingress_bulk_event_count: IntCounterVec,
    ingress_bulk_latencies: HistogramVec,
    egress_count: IntCounterVec,
    egress_latencies: HistogramVec,
    egress_bulk_count: IntCounterVec,
    egress_bulk_event_count: IntCounterVec,
    egress_bulk_latencies: HistogramVec,
}

impl PubsubMetrics {
    pub(super) fn new(f: &mut Family) -> Self {
        Self {
            on: f.on,
            app_id: f.app_id.clone(),
            namespace: f.namespace.clone(),
            ingress_count: f.counter(
                "dapr_component_pubsub_ingress_count",
                "The number of incoming messages arriving from the pub/sub component.",
                &INGRESS,
            ),
            ingress_latencies: f.latency(
                "dapr_component_pubsub_ingress_latencies",
                "The consuming app event processing latency.",
                &INGRESS,
            ),
            ingress_bulk_count: f.counter(
                "dapr_component_pubsub_ingress_bulk_count",
                "The number of incoming bulk subscribe calls arriving from the bulk pub/sub component.",
                &BULK_INGRESS,
            ),
            ingress_bulk_event_count: f.counter(
                "dapr_component_pubsub_ingress_bulk_event_count",
                "Total number of incoming messages arriving from the bulk pub/sub component via Bulk Subscribe.",
                &BULK_INGRESS,
            ),
            ingress_bulk_latencies: f.latency(
                "dapr_component_pubsub_ingress_bulk_latencies",
                "The consuming app event processing latency for the bulk pub/sub component.",
                &BULK_INGRESS,
            ),
            egress_count: f.counter(
                "dapr_component_pubsub_egress_count",
                "The number of outgoing messages published to the pub/sub component.",
                &EGRESS,
            ),
            egress_latencies: f.latency(
                "dapr_component_pubsub_egress_latencies",
                "The latency of the response from the pub/sub component.",
                &EGRESS,
            ),
            egress_bulk_count: f.counter(
                "dapr_component_pubsub_egress_bulk_count",
                "The number of bulk publish calls to the pub/sub component.",
                &EGRESS,
            ),
            egress_bulk_event_count: f.counter(
                "dapr_component_pubsub_egress_bulk_event_count",
                "The number of outgoing messages to the pub/sub component published through bulk publish API.",
                &EGRESS,
            ),
            egress_bulk_latencies: f.latency(
                "dapr_component_pubsub_egress_bulk_latencies",
                "The latency of the response for the bulk publish call from the pub/sub component.",
                &EGRESS,
            ),
        }
    }

    /// Runs one publish to the component and records it (daprd's `PubsubEgressEvent`).
    pub async fn egress<T, E>(&self, component: &str, topic: &str, publish: impl Future<Output = Result<T, E>>) -> Result<T, E> {
        let started = Instant::now();
        let result = publish.await;
        if self.on {
            let labels = [&*self.app_id, component, &*self.namespace, bool_label(result.is_ok()), topic];
            self.egress_count.with_label_values(&labels).inc();
            self.egress_latencies.with_label_values(&labels).observe(fractional_ms(started.elapsed()));
        }
        result
    }

    /// Runs one bulk publish and records it (daprd's `BulkPubsubEgressEvent`): one call, a success
    /// only when every entry was published, and the entries that were in
    /// `_egress_bulk_event_count` (daprd declares that one but exports it under no view).
    pub async fn bulk_egress<T, E>(
        &self,
        component: &str,
        topic: &str,
        publish: impl Future<Output = Vec<Result<T, E>>>,
    ) -> Vec<Result<T, E>> {
        let started = Instant::now();
        let outcomes = publish.await;
        if self.on {
            let published = outcomes.iter().filter(|o| o.is_ok()).count() as u64;
            let labels = [&*self.app_id, component, &*self.namespace, bool_label(published == outcomes.len() as u64), topic];
            self.egress_bulk_count.with_label_values(&labels).inc();
            self.egress_bulk_latencies.with_label_values(&labels).observe(fractional_ms(started.elapsed()));
            if published > 0 {
                self.egress_bulk_event_count
                    .with_label_values(&[&*self.app_id, component, &*self.namespace, "true", topic])
                    .inc_by(published);
            }
        }
        outcomes
    }
}

fn bool_label(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// The ingress records of one subscription.
pub struct Ingress {
    metrics: Arc<Metrics>,
    component: String,
    topic: String,
    /// Deliveries go over the app channel, where daprd counts an app's own DROP `status=success`;
    /// a streaming subscriber's DROP counts `status=drop`.
    app_channel: bool,
}

impl Ingress {
    pub fn new(metrics: Arc<Metrics>, component: &str, topic: &str, app_channel: bool) -> Self {
        Self { metrics, component: component.to_owned(), topic: topic.to_owned(), app_channel }
    }

    /// Runs one attempt (a call to the app) and records its answer, or the failure to get one,
    /// with its latency.
    pub async fn delivered<A: Attempted>(&self, attempt: impl Future<Output = A>) -> A {
        let started = Instant::now();
        let answer = attempt.await;
        self.record(answer.ingress_status(self.app_channel), Some(started.elapsed()));
        answer
    }

    /// A message settled without an answer from the app (count only, as daprd records them):
    /// before any delivery, or once its retries ran out. Returns `answer`.
    pub fn settled(&self, answer: Result<(), NotProcessed>, why: Settled) -> Result<(), NotProcessed> {
        self.record(IngressStatus::settled(answer.is_ok(), why), None);
        answer
    }

    fn record(&self, s: IngressStatus, elapsed: Option<Duration>) {
        let m = &self.metrics.pubsub;
        if !m.on {
            return;
        }
        let labels = [&*m.app_id, &self.component, &*m.namespace, s.process.word(), s.status.word(), &self.topic];
        m.ingress_count.with_label_values(&labels).inc();
        if let Some(elapsed) = elapsed {
            m.ingress_latencies.with_label_values(&labels).observe(fractional_ms(elapsed));
        }
    }

    /// The tally of one bulk delivery (a batch, in as many calls as it has routes and retries).
    pub fn bulk(&self) -> BulkIngress<'_> {
        BulkIngress { ingress: self, counts: Default::default(), last_call_us: AtomicU64::new(0) }
    }
}

/// What one attempt came to, as its ingress record labels it.
pub trait Attempted {
    fn ingress_status(&self, app_channel: bool) -> IngressStatus;
}

/// The app's own SUCCESS, RETRY or DROP (a call that failed is a RETRY).
impl Attempted for DeliveryOutcome {
    fn ingress_status(&self, app_channel: bool) -> IngressStatus {
        IngressStatus::answered(*self, app_channel)
    }
}

/// Why a message was settled without the app's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Before delivery: not a CloudEvent, expired, or its route could not be chosen.
    Undeliverable,
    /// No route matched: daprd counts it dropped with `status=success`.
    Unrouted,
    /// The app still answered RETRY after the last retry.
    RetriesExhausted,
}

/// daprd's two labels of an ingress record: `process_status`, what became of the message, and
/// `status`, the same unless the app itself chose to drop it or no route matched (`success`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngressStatus {
    pub process: DeliveryOutcome,
    pub status: DeliveryOutcome,
}

impl IngressStatus {
    /// The app's own answer: `app_channel` DROP answers count `status=success` (D postman/http,
    /// postman/grpc), a stream's DROP `status=drop` (D postman/streaming).
    pub fn answered(outcome: DeliveryOutcome, app_channel: bool) -> Self {
        let status = if outcome == DeliveryOutcome::Drop && app_channel { DeliveryOutcome::Success } else { outcome };
        Self { process: outcome, status }
    }

    /// The app has no handler for the event (HTTP 404, gRPC Unimplemented): dropped, and no choice
    /// of the app's, so `status=drop` too (D postman/http, postman/grpc).
    pub fn not_found() -> Self {
        Self { process: DeliveryOutcome::Drop, status: DeliveryOutcome::Drop }
    }

    /// `dropped`: acknowledged (dropped or dead-lettered); else left to the broker (a retry).
    pub fn settled(dropped: bool, why: Settled) -> Self {
        let process = if dropped { DeliveryOutcome::Drop } else { DeliveryOutcome::Retry };
        let status = if dropped && why == Settled::Unrouted { DeliveryOutcome::Success } else { process };
        Self { process, status }
    }
}

trait Word {
    fn word(self) -> &'static str;
}

impl Word for DeliveryOutcome {
    /// daprd's lower-case label value.
    fn word(self) -> &'static str {
        match self {
            DeliveryOutcome::Success => "success",
            DeliveryOutcome::Retry => "retry",
            DeliveryOutcome::Drop => "drop",
        }
    }
}

/// One bulk delivery's records (daprd's `ReportBulkSubDiagnostics`): `_ingress_bulk_count` once,
/// `_ingress_bulk_latencies` with the last call's latency, and `_ingress_bulk_event_count` once
/// per outcome some entry had (a count of records, not of entries, as daprd's Count view).
pub struct BulkIngress<'a> {
    ingress: &'a Ingress,
    counts: [AtomicU64; 3],
    last_call_us: AtomicU64,
}

impl BulkIngress<'_> {
    /// One entry's outcome in one call.
    pub fn entry(&self, outcome: DeliveryOutcome) -> DeliveryOutcome {
        self.counts[outcome as usize].fetch_add(1, Ordering::Relaxed);
        outcome
    }

    /// Runs one call to the app and keeps its latency.
    pub async fn call<T>(&self, call: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let answer = call.await;
        self.last_call_us.store(started.elapsed().as_micros().try_into().unwrap_or(u64::MAX), Ordering::Relaxed);
        answer
    }

    pub fn report(self) {
        let m = &self.ingress.metrics.pubsub;
        if !m.on {
            return;
        }
        let topic = self.ingress.topic.as_str();
        let call = [&*m.app_id, DAPRD_BULK_INGRESS_COMPONENT, &*m.namespace, "", topic];
        m.ingress_bulk_count.with_label_values(&call).inc();
        let elapsed = self.last_call_us.load(Ordering::Relaxed);
        if elapsed > 0 {
            m.ingress_bulk_latencies.with_label_values(&call).observe(elapsed as f64 / 1000.0);
        }
        for outcome in [DeliveryOutcome::Success, DeliveryOutcome::Retry, DeliveryOutcome::Drop] {
            if self.counts[outcome as usize].load(Ordering::Relaxed) > 0 {
                let word = outcome.as_http_status_word();
                m.ingress_bulk_event_count.with_label_values(&[&*m.app_id, DAPRD_BULK_INGRESS_COMPONENT, &*m.namespace, word, topic]).inc();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryOutcome::{Drop, Retry, Success};

    fn labels(s: IngressStatus) -> (&'static str, &'static str) {
        (s.process.word(), s.status.word())
    }

    #[test]
    fn an_apps_answer_is_labelled_as_daprd_labels_it() {
        // App channel (HTTP or gRPC): the app's own DROP is process_status=drop, status=success.
        assert_eq!(labels(IngressStatus::answered(Success, true)), ("success", "success"));
        assert_eq!(labels(IngressStatus::answered(Retry, true)), ("retry", "retry"));
        assert_eq!(labels(IngressStatus::answered(Drop, true)), ("drop", "success"));
        // A streaming subscriber's DROP keeps status=drop (daprd's postman/streaming).
        assert_eq!(labels(IngressStatus::answered(Success, false)), ("success", "success"));
        assert_eq!(labels(IngressStatus::answered(Retry, false)), ("retry", "retry"));
        assert_eq!(labels(IngressStatus::answered(Drop, false)), ("drop", "drop"));
        // No handler there (HTTP 404, gRPC Unimplemented): a drop the app did not choose.
        assert_eq!(labels(IngressStatus::not_found()), ("drop", "drop"));
    }

    #[test]
    fn a_message_settled_without_an_answer_is_labelled_by_what_became_of_it() {
        assert_eq!(labels(IngressStatus::settled(true, Settled::Undeliverable)), ("drop", "drop"));
        assert_eq!(labels(IngressStatus::settled(false, Settled::Undeliverable)), ("retry", "retry"));
        // No matching route: dropped (or dead-lettered) with status=success.
        assert_eq!(labels(IngressStatus::settled(true, Settled::Unrouted)), ("drop", "success"));
        assert_eq!(labels(IngressStatus::settled(false, Settled::Unrouted)), ("retry", "retry"));
        assert_eq!(labels(IngressStatus::settled(true, Settled::RetriesExhausted)), ("drop", "drop"));
        assert_eq!(labels(IngressStatus::settled(false, Settled::RetriesExhausted)), ("retry", "retry"));
    }
}

//! Shared bits of the benchmark binaries: latency statistics and a one-line report format that
//! `scripts/bench.sh` collects into `bench/REPORT.md`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Every benchmark binary runs on mimalloc, as a Rust app that cares about speed would. (The sidecar
/// keeps the system allocator: mimalloc more than doubled an idle sidecar's resident memory.)
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Percentiles of a set of latencies.
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Self(samples)
    }

    pub fn percentile(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let idx = ((p / 100.0) * (self.0.len() - 1) as f64).round() as usize;
        self.0[idx.min(self.0.len() - 1)]
    }

    /// `{"events": N, "percentiles": [[p, ms], ...]}` from p0.5 to p100, denser in the tail.
    pub fn distribution_json(&self) -> serde_json::Value {
        let mut points: Vec<f64> = (1..=198).map(|i| i as f64 / 2.0).collect();
        points.extend([99.5, 99.9, 99.99, 100.0]);
        let percentiles: Vec<(f64, f64)> = points.into_iter().map(|p| (p, self.percentile(p).as_secs_f64() * 1000.0)).collect();
        serde_json::json!({ "events": self.0.len(), "percentiles": percentiles })
    }

    pub fn summary(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} events",
            ms(self.percentile(50.0)),
            ms(self.percentile(99.0)),
            ms(self.percentile(100.0)),
            self.0.len()
        )
    }
}

/// Makes `count` calls of `call`, `in_flight` at a time (one task each, all sharing whatever the
/// closure captures, e.g. one channel), and prints the report line `label: N events, K in flight: R events/s`.
pub async fn run_in_flight<F, Fut>(label: &str, count: usize, in_flight: usize, call: F)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    run_in_flight_batches(label, count, 1, in_flight, call).await
}

/// [`run_in_flight`] where each call carries `per_call` events (a bulk publish): the line counts
/// events, `count × per_call` of them.
pub async fn run_in_flight_batches<F, Fut>(label: &str, count: usize, per_call: usize, in_flight: usize, call: F)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (call, next) = (call.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    call().await;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let secs = start.elapsed().as_secs_f64();
    let events = count * per_call;
    println!("{label}: {events} events, {in_flight} in flight: {:.0} events/s ({secs:.2} s)", events as f64 / secs);
}

/// `count` calls started `rate` a second on a fixed schedule (a slow call does not hold up the
/// next), each call's time measured: the latency of one call at that load, the floor under a
/// paced end-to-end run whose path makes such calls.
pub async fn run_paced<F, Fut>(label: &str, count: usize, rate: u64, call: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..count {
        ticker.tick().await;
        let started = Instant::now();
        let fut = call();
        calls.spawn(async move {
            fut.await;
            started.elapsed()
        });
    }
    let latencies = Latencies::new(calls.join_all().await);
    println!("{label}: {count} calls paced at {rate}/s: latency {}", latencies.summary());
}

//! The tokio runtime a language binding (Python, Node, .NET, JVM) runs core on.
//!
//! Such a runtime only moves bytes: encoding, HTTP/2, waking the host language. The host's own
//! threads run the app (its event loop, thread pool, coroutines). Each idle worker a call wakes is
//! a context switch, and tokio's default (a worker per core) left the second worker of a 2-core
//! machine waking and stealing on every call: one worker did a serial publish in 3 fewer context
//! switches and made .NET, Python and the JVM faster both serially (11-25%) and with 100 in flight
//! (8-13%) (bench/REPORT.md, 2026-12-07T14:31Z). Bigger machines keep a worker per four cores, so a
//! busy host process's I/O is not held to one thread. `TOKIO_WORKER_THREADS` still decides when set.

/// The most work [`floor_call`] does: it holds a runtime worker meanwhile, and a floor stands in for
/// one call's work (about 100 µs here), not for a stalled runtime. The bindings take the amount
/// from their callers unchecked (a negative C# or JS number arrives as a huge `u32`).
pub const FLOOR_CALL_MAX_BUSY: std::time::Duration = std::time::Duration::from_millis(10);

/// The stand-in for a call's work in the bindings' floors (the bench): `busy_us` µs of CPU on a
/// runtime worker (at most [`FLOOR_CALL_MAX_BUSY`]), then done. With none, the caller is still awake
/// when the call completes, and only the hand-off is timed. With about a serial publish's time, the
/// caller has gone idle first and its wake-up is timed too, an idle core's included: the
/// hand-off's cost bounded from above, where none bounds it from below.
pub async fn floor_call(busy_us: u32) {
    let busy = std::time::Duration::from_micros(u64::from(busy_us)).min(FLOOR_CALL_MAX_BUSY);
    let until = std::time::Instant::now() + busy;
    while std::time::Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// Worker threads for a binding's runtime on a machine with `cores` cores.
pub fn binding_worker_threads(cores: usize) -> usize {
    (cores / 4).max(1)
}

/// A multi-thread runtime with I/O and timers, named `thread_name`, with
/// [`binding_worker_threads`] workers unless `TOKIO_WORKER_THREADS` says otherwise.
pub fn binding_runtime(thread_name: &str) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().thread_name(thread_name);
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        builder.worker_threads(binding_worker_threads(cores));
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::binding_worker_threads;

    #[test]
    fn small_machines_get_one_worker_and_big_ones_one_per_four_cores() {
        let workers: Vec<usize> = [1, 2, 4, 8, 16, 64].into_iter().map(binding_worker_threads).collect();
        assert_eq!(workers, [1, 1, 1, 2, 4, 16]);
    }

    /// How long one floor call of `busy_us` takes on a binding runtime of its own.
    fn timed(busy_us: u32) -> std::time::Duration {
        let runtime = super::binding_runtime("dapr-rs-test").unwrap();
        let started = std::time::Instant::now();
        runtime.block_on(super::floor_call(busy_us));
        started.elapsed()
    }

    #[test]
    fn a_floor_call_does_its_work_and_no_more_than_the_most_allowed() {
        assert!(timed(2_000) >= std::time::Duration::from_millis(2), "spins for the work asked");
        // u32::MAX µs is over an hour: a caller's negative number must not hold the worker that long.
        // Timed on a thread of its own, so a loss of the cap fails here instead of hanging the run.
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(timed(u32::MAX)));
        let most = finished.recv_timeout(std::time::Duration::from_secs(5)).expect("a floor call held the worker over 5 s");
        assert!(most >= super::FLOOR_CALL_MAX_BUSY, "{most:?}");
    }

    #[test]
    fn the_runtime_runs_work() {
        let runtime = super::binding_runtime("dapr-rs-test").unwrap();
        assert_eq!(runtime.block_on(async { tokio::spawn(async { 7 }).await.unwrap() }), 7);
    }
}

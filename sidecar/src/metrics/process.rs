//! `process_*`, read from /proc as Go's process collector reads it (client_golang on
//! prometheus/procfs, which daprd exports): CPU seconds and start time with their fractions, so
//! `rate()` over them is smooth. Elsewhere there are none.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Gauge, Opts};

/// Adds the process collector to `registry`.
pub(super) fn register(registry: &prometheus::Registry) {
    if !cfg!(target_os = "linux") {
        return;
    }
    match ProcessCollector::new() {
        Ok(collector) => {
            if let Err(e) = registry.register(Box::new(collector)) {
                tracing::warn!(error = %e, "process metrics unavailable");
            }
        }
        Err(e) => tracing::warn!(error = %e, "process metrics unavailable"),
    }
}

/// Clock ticks per second of /proc's times: procfs takes Linux's USER_HZ as 100, as Go's does.
const USER_HZ: f64 = 100.0;

struct ProcessCollector {
    cpu: Counter,
    open_fds: Gauge,
    max_fds: Gauge,
    virtual_memory: Gauge,
    resident_memory: Gauge,
    start_time: Gauge,
    descs: Vec<Desc>,
}

impl ProcessCollector {
    fn new() -> prometheus::Result<Self> {
        let gauge = |name: &str, help: &str| Gauge::with_opts(Opts::new(name, help));
        let c = Self {
            cpu: Counter::with_opts(Opts::new("process_cpu_seconds_total", "Total user and system CPU time spent in seconds."))?,
            open_fds: gauge("process_open_fds", "Number of open file descriptors.")?,
            max_fds: gauge("process_max_fds", "Maximum number of open file descriptors.")?,
            virtual_memory: gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.")?,
            resident_memory: gauge("process_resident_memory_bytes", "Resident memory size in bytes.")?,
            start_time: gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")?,
            descs: Vec::new(),
        };
        let descs = c.metrics().iter().flat_map(|m| m.desc()).cloned().collect();
        Ok(Self { descs, ..c })
    }

    fn metrics(&self) -> [&dyn Collector; 6] {
        [&self.cpu, &self.open_fds, &self.max_fds, &self.virtual_memory, &self.resident_memory, &self.start_time]
    }

    /// Reads /proc/self; what cannot be read keeps its last value.
    fn refresh(&self) {
        if let Some(stat) = read("/proc/self/stat").and_then(|s| SelfStat::parse(&s)) {
            let cpu = (stat.utime + stat.stime) as f64 / USER_HZ;
            // A counter only goes up: add what was spent since the last scrape.
            let spent = cpu - self.cpu.get();
            if spent > 0.0 {
                self.cpu.inc_by(spent);
            }
            if let Some(boot) = read("/proc/stat").and_then(|s| boot_time(&s)) {
                self.start_time.set(boot as f64 + stat.starttime as f64 / USER_HZ);
            }
        }
        if let Some(status) = read("/proc/self/status") {
            for (key, gauge) in [("VmSize:", &self.virtual_memory), ("VmRSS:", &self.resident_memory)] {
                if let Some(kib) = status_kib(&status, key) {
                    gauge.set((kib * 1024) as f64);
                }
            }
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(fds.count() as f64);
        }
        if let Some(max) = read("/proc/self/limits").and_then(|s| max_open_files(&s)) {
            self.max_fds.set(max);
        }
    }
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.refresh();
        self.metrics().iter().flat_map(|m| m.collect()).collect()
    }
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The fields of /proc/self/stat the collector uses (proc(5): utime 14, stime 15, starttime 22).
#[derive(Debug, PartialEq)]
struct SelfStat {
    utime: u64,
    stime: u64,
    starttime: u64,
}

impl SelfStat {
    fn parse(stat: &str) -> Option<Self> {
        // The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse().ok();
        Some(Self { utime: field(14)?, stime: field(15)?, starttime: field(22)? })
    }
}

/// `btime` of /proc/stat: the boot time, in seconds since the epoch.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()
}

/// A `Key:   123 kB` line of /proc/self/status.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix(key))?.split_whitespace().next()?.parse().ok()
}

/// The soft limit of `Max open files` in /proc/self/limits; `unlimited` is +Inf, as Go reports it.
fn max_open_files(limits: &str) -> Option<f64> {
    let soft = limits.lines().find_map(|l| l.strip_prefix("Max open files"))?.split_whitespace().next()?;
    if soft == "unlimited" { Some(f64::INFINITY) } else { soft.parse().ok() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read_as_proc5_lays_them_out() {
        let stat =
            "4242 (dapr-rs (x) y) S 1 4242 4242 0 -1 4194560 2035 0 0 0 123 45 0 0 20 0 9 0 98765 175214592 3805 18446744073709551615";
        assert_eq!(SelfStat::parse(stat), Some(SelfStat { utime: 123, stime: 45, starttime: 98765 }));
        assert_eq!(SelfStat::parse("garbage"), None);
        assert_eq!(boot_time("cpu  1 2 3\nbtime 1796581000\nprocesses 9\n"), Some(1_796_581_000));
        assert_eq!(status_kib("Name:\tdapr-rs\nVmSize:\t  171108 kB\nVmRSS:\t   15220 kB\n", "VmRSS:"), Some(15220));
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            20000                524288               files     \n";
        assert_eq!(max_open_files(limits), Some(20000.0));
        assert_eq!(max_open_files("Max open files            unlimited            unlimited            files\n"), Some(f64::INFINITY));
    }

    #[test]
    fn this_process_is_measured() {
        let c = ProcessCollector::new().unwrap();
        c.refresh();
        assert!(c.resident_memory.get() > 1e6 && c.open_fds.get() >= 1.0 && c.max_fds.get() >= c.open_fds.get());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        // Seconds since the epoch, and not in the future.
        assert!(c.start_time.get() <= now + 1.0 && c.start_time.get() > 1e9, "{}", c.start_time.get());
    }
}

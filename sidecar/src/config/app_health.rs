//! The app health check's settings (`--enable-app-health-check`, `--app-health-*`, or a run file's
//! `appHealth*` keys), with daprd's units and defaults. The probing itself is
//! `delivery::app_health`'s.

use super::AppProtocol;
use clap::Args;
use dapr_rs_proto::runtime::AppConnectionHealthProperties;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct AppHealthArgs {
    /// Probe the app's health and pause deliveries while it is unhealthy.
    #[arg(long)]
    pub enable_app_health_check: bool,
    /// Path probed on HTTP apps.
    #[arg(long, default_value = "/healthz")]
    pub app_health_check_path: String,
    /// Time between probes: seconds (as daprd) or a duration such as 500ms.
    #[arg(long, default_value = "5", value_parser = parse_seconds)]
    pub app_health_probe_interval: Duration,
    /// How long one probe may take: milliseconds (as daprd) or a duration such as 1s.
    #[arg(long, default_value = "500", value_parser = parse_millis)]
    pub app_health_probe_timeout: Duration,
    /// Failed probes in a row after which the app is unhealthy.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub app_health_threshold: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppHealthConfig {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub threshold: u32,
}

impl AppHealthArgs {
    pub fn config(&self) -> Option<AppHealthConfig> {
        self.enable_app_health_check.then(|| AppHealthConfig {
            path: dapr_rs_proto::route_path(&self.app_health_check_path),
            interval: self.app_health_probe_interval,
            timeout: self.app_health_probe_timeout,
            threshold: self.app_health_threshold,
        })
    }
}

impl Default for AppHealthConfig {
    /// daprd's defaults.
    fn default() -> Self {
        Self { path: "/healthz".into(), interval: Duration::from_secs(5), timeout: Duration::from_millis(500), threshold: 3 }
    }
}

impl AppHealthConfig {
    /// As `GetMetadata` reports it (`appConnectionProperties.health`); gRPC apps have no path.
    pub fn describe(&self, protocol: AppProtocol) -> AppConnectionHealthProperties {
        AppConnectionHealthProperties {
            health_check_path: if protocol.is_grpc() { String::new() } else { self.path.clone() },
            health_probe_interval: go_duration(self.interval),
            health_probe_timeout: go_duration(self.timeout),
            health_threshold: i32::try_from(self.threshold).unwrap_or(i32::MAX),
        }
    }
}

/// Go's `time.Duration.String()`: `500ms`, `5s`, `1m30s`, `1.5s`.
fn go_duration(d: Duration) -> String {
    fn frac(n: u128, unit: u128) -> String {
        let (whole, rem) = (n / unit, n % unit);
        if rem == 0 {
            return whole.to_string();
        }
        let width = unit.ilog10() as usize;
        format!("{whole}.{rem:0width$}").trim_end_matches('0').to_owned()
    }
    let nanos = d.as_nanos();
    match nanos {
        0 => "0s".into(),
        1..1_000 => format!("{nanos}ns"),
        1_000..1_000_000 => format!("{}µs", frac(nanos, 1_000)),
        1_000_000..1_000_000_000 => format!("{}ms", frac(nanos, 1_000_000)),
        _ => {
            let (hours, minutes) = (nanos / 3_600_000_000_000, nanos / 60_000_000_000 % 60);
            let mut out = String::new();
            if hours > 0 {
                out.push_str(&format!("{hours}h"));
            }
            if hours > 0 || minutes > 0 {
                out.push_str(&format!("{minutes}m"));
            }
            out.push_str(&format!("{}s", frac(nanos % 60_000_000_000, 1_000_000_000)));
            out
        }
    }
}

/// A bare number is in `unit`; anything else is a Go duration. Zero is refused, and so is what
/// [`super::parse_duration_in`] refuses (negative, NaN, infinite, over Go's limit).
fn parse_in(s: &str, unit: Duration) -> Result<Duration, String> {
    match super::parse_duration_in(s, unit) {
        Ok(d) if d.is_zero() => Err(format!("{s:?} is not a positive duration (e.g. 5s, 500ms)")),
        other => other,
    }
}

pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    parse_in(s, Duration::from_secs(1))
}

pub fn parse_millis(s: &str) -> Result<Duration, String> {
    parse_in(s, Duration::from_millis(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_default_to_daprd_units() {
        assert_eq!(parse_seconds("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_seconds("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_millis("500"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_millis("2s"), Ok(Duration::from_secs(2)));
        for bad in ["0", "-1", "soon", "", "1e30", "inf", "NaN", "0ms"] {
            assert!(parse_seconds(bad).is_err(), "{bad:?}");
            assert!(parse_millis(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn go_duration_strings() {
        let cases = [(500, "500ms"), (5_000, "5s"), (1_500, "1.5s"), (90_000, "1m30s"), (3_600_000, "1h0m0s"), (1, "1ms")];
        for (ms, text) in cases {
            assert_eq!(go_duration(Duration::from_millis(ms)), text);
        }
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
    }
}

//! App health checks (`--enable-app-health-check`), as daprd runs them: probe the app every
//! interval (HTTP `GET <path>`, or gRPC `AppCallbackHealthCheck/HealthCheck`); after `threshold`
//! failed probes in a row the app is unhealthy and its subscriptions are stopped, so nothing is
//! delivered and nothing is taken from the broker; the first successful probe subscribes again.

use super::app_channel::AppChannel;
use super::app_transport::{self, HttpClient};
use super::programmatic;
use crate::config::{self, AppProtocol};
use crate::state::SidecarState;
use bytes::Bytes;
use clap::Args;
use dapr_rs_proto::runtime::AppConnectionHealthProperties;
use dapr_rs_proto::runtime::app_callback_health_check_client::AppCallbackHealthCheckClient;
use http_body_util::Full;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tonic::transport::Channel;

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
/// [`config::parse_duration_in`] refuses (negative, NaN, infinite, over Go's limit).
fn parse_in(s: &str, unit: Duration) -> Result<Duration, String> {
    match config::parse_duration_in(s, unit) {
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

/// One health probe of the app, over its own connection so probes never queue behind deliveries.
enum AppProbe {
    Http { client: HttpClient, url: String, token: Option<String> },
    Grpc { client: AppCallbackHealthCheckClient<Channel>, token: Option<String> },
}

impl AppProbe {
    fn new(protocol: AppProtocol, address: &str, port: u16, path: &str, token: Option<String>) -> Result<Self, String> {
        if protocol.is_grpc() {
            let client = AppCallbackHealthCheckClient::new(app_transport::grpc_channel(protocol, address, port)?);
            Ok(Self::Grpc { client, token })
        } else {
            let url = format!("{}{path}", app_transport::base_url(protocol, address, port));
            Ok(Self::Http { client: app_transport::http_client(protocol), url, token })
        }
    }

    /// Healthy: a 2xx answer (HTTP) or an OK status (gRPC) within `timeout`.
    async fn check(&self, timeout: Duration) -> Result<(), String> {
        let probe = async {
            match self {
                Self::Http { client, url, token } => {
                    let mut req = http::Request::get(url.as_str());
                    if let Some(t) = token {
                        req = req.header(dapr_rs_proto::API_TOKEN_HEADER, t.as_str());
                    }
                    let req = req.body(Full::new(Bytes::new())).map_err(|e| e.to_string())?;
                    let resp = client.request(req).await.map_err(|e| format!("GET {url} failed: {e}"))?;
                    let status = resp.status();
                    if status.is_success() { Ok(()) } else { Err(format!("GET {url} answered {}", status.as_u16())) }
                }
                Self::Grpc { client, token } => {
                    let mut req = tonic::Request::new(());
                    if let Some(t) = token.as_deref().and_then(|t| t.parse().ok()) {
                        req.metadata_mut().insert(dapr_rs_proto::API_TOKEN_HEADER, t);
                    }
                    client.clone().health_check(req).await.map(|_| ()).map_err(|s| format!("HealthCheck failed: {s}"))
                }
            }
        };
        tokio::time::timeout(timeout, probe).await.unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
    }
}

/// Runs until shutdown: subscribes the app's subscriptions while it is healthy and stops them
/// while it is not. The sidecar's `/v1.0/healthz` follows (through `app_ready`).
pub async fn supervise(state: Arc<SidecarState>, channel: Arc<AppChannel>, health: AppHealthConfig) {
    let cfg = &state.config;
    let Some(port) = cfg.app_port else { return };
    let probe = match AppProbe::new(cfg.app_protocol, &cfg.app_channel_address, port, &health.path, cfg.app_api_token.clone()) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot probe the app's health");
            return;
        }
    };
    let mut infos = None;
    let mut active: Option<Vec<u64>> = None;
    let mut failures = 0u32;
    loop {
        match probe.check(health.timeout).await {
            Ok(()) => {
                failures = 0;
                if active.is_none() {
                    if infos.is_none() {
                        infos = programmatic::read_app_subscriptions(&state, &channel).await;
                    }
                    let Some(infos) = &infos else { return };
                    if state.shutdown.is_cancelled() {
                        return;
                    }
                    active = Some(programmatic::subscribe_app(&state, infos, &channel).await);
                    state.app_ready.store(true, Ordering::Release);
                    tracing::info!(app_id = %cfg.app_id, "the app is healthy; deliveries run");
                }
            }
            Err(e) => {
                failures += 1;
                tracing::debug!(error = %e, failures, "app health probe failed");
                if failures >= health.threshold
                    && let Some(ids) = active.take()
                {
                    state.app_ready.store(false, Ordering::Release);
                    tracing::warn!(app_id = %cfg.app_id, error = %e, "the app is unhealthy; deliveries paused");
                    let stops = ids.into_iter().filter_map(|id| state.remove_subscription(id)).map(|s| {
                        let grace = cfg.grace;
                        async move { s.handle.stop(grace).await }
                    });
                    futures::future::join_all(stops).await;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(health.interval) => {}
            _ = state.shutdown.cancelled() => return,
        }
    }
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

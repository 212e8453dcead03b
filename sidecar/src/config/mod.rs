//! Sidecar settings: daprd's flags (contract §5), shared by `dapr-rs sidecar` and `dapr-rs run`.

pub mod app_health;
pub mod configuration;

use app_health::{AppHealthArgs, AppHealthConfig};
use clap::{Args, ValueEnum};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Most deliveries in flight to the app, across all its subscriptions, when
/// `--app-max-concurrency` is not set (daprd has no limit then; a backlog over many topics would
/// then be read into memory at once). Also the most per streaming subscription.
pub const DEFAULT_MAX_CONCURRENCY: usize = 256;

/// `--app-protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum AppProtocol {
    #[default]
    Http,
    /// HTTP over TLS; the app's certificate is not verified (as daprd).
    Https,
    Grpc,
    /// gRPC over TLS; the app's certificate is not verified (as daprd).
    Grpcs,
    /// HTTP/2 without TLS (prior knowledge), for HTTP apps.
    H2c,
}

impl AppProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Grpc => "grpc",
            Self::Grpcs => "grpcs",
            Self::H2c => "h2c",
        }
    }

    /// `--app-ssl` (deprecated in Dapr, still used by its quickstarts): http→https, grpc→grpcs.
    pub fn with_ssl(self, app_ssl: bool) -> Self {
        match (self, app_ssl) {
            (Self::Http, true) => Self::Https,
            (Self::Grpc, true) => Self::Grpcs,
            (p, _) => p,
        }
    }

    pub fn is_grpc(self) -> bool {
        matches!(self, Self::Grpc | Self::Grpcs)
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Https | Self::Grpcs)
    }
}

#[derive(Debug, Clone, Args)]
pub struct SidecarArgs {
    /// The app's id: the CloudEvent source and the default consumer group.
    #[arg(short = 'a', long)]
    pub app_id: Option<String>,
    /// The port the app listens on for deliveries; none means no app channel (streaming only).
    #[arg(short = 'p', long)]
    pub app_port: Option<u16>,
    #[arg(short = 'P', long, value_enum, default_value_t = AppProtocol::Http)]
    pub app_protocol: AppProtocol,
    /// TLS to the app: upgrades http to https and grpc to grpcs.
    #[arg(long)]
    pub app_ssl: bool,
    /// Where the app listens.
    #[arg(long, default_value = "127.0.0.1")]
    pub app_channel_address: String,
    /// Dapr HTTP API port (0 picks a free one).
    #[arg(short = 'H', long)]
    pub dapr_http_port: Option<u16>,
    /// Dapr gRPC API port (0 picks a free one).
    #[arg(short = 'G', long)]
    pub dapr_grpc_port: Option<u16>,
    /// Component (and subscription) YAML directories or files; repeatable.
    #[arg(short = 'd', long = "resources-path", visible_alias = "components-path", num_args = 1)]
    pub resources_paths: Vec<PathBuf>,
    /// Addresses the Dapr APIs listen on, comma-separated (e.g. `127.0.0.1,[::1]` or `0.0.0.0`):
    /// both APIs on each.
    #[arg(long = "dapr-listen-addresses", default_value = "127.0.0.1")]
    pub listen_addresses: ListenAddresses,
    /// Most deliveries in flight to the app at once. With -1 (the default) at most 256 are: daprd
    /// sets no limit then, but a backlog would be read into memory all at once.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub app_max_concurrency: i64,
    /// Time in-flight deliveries get to finish at shutdown: seconds (daprd's
    /// `--dapr-graceful-shutdown-seconds`, an alias) or a duration such as 1500ms; 0 waits for nothing.
    #[arg(long, visible_alias = "dapr-graceful-shutdown-seconds", default_value = "5s", value_parser = parse_seconds)]
    pub graceful_shutdown_seconds: Duration,
    /// trace, debug, info, warn, error.
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// One JSON object per log line, with daprd's fields (`time`, `level`, `msg`, `scope`, `type`,
    /// `instance`, `ver`, `app_id`).
    #[arg(long)]
    pub log_as_json: bool,
    /// Accepted for daprd compatibility and unused: this sidecar runs no internal
    /// (sidecar-to-sidecar) gRPC server.
    #[arg(long)]
    pub dapr_internal_grpc_port: Option<u16>,
    /// Largest request body the APIs accept (HTTP 413 / gRPC ResourceExhausted above it), e.g.
    /// 4Mi, 16Mi or a number of bytes.
    #[arg(long, default_value = "4Mi", value_parser = parse_byte_size)]
    pub max_body_size: usize,
    /// Accepted for daprd compatibility and ignored: request headers of any size up to hyper's own
    /// limit are read, so no request daprd would accept is refused.
    #[arg(long, value_parser = parse_byte_size)]
    pub read_buffer_size: Option<usize>,
    /// Logs every call to the Dapr APIs: method, path or RPC, status, duration.
    #[arg(long)]
    pub enable_api_logging: bool,
    /// Serves Prometheus metrics with daprd's names; `--enable-metrics=false` turns them off.
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_metrics: bool,
    /// Port of the metrics endpoint (default 9090; `dapr-rs run` picks a free one; 0 picks one).
    #[arg(long)]
    pub metrics_port: Option<u16>,
    /// Address the metrics endpoint listens on. daprd listens on 0.0.0.0; dapr-rs, as for its
    /// APIs, on loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1")]
    pub metrics_listen_address: IpAddr,
    /// Dapr `Configuration` YAML (tracing, metrics); repeatable, merged in order as daprd.
    #[arg(long = "config", num_args = 1)]
    pub config: Vec<PathBuf>,
    #[command(flatten)]
    pub app_health: AppHealthArgs,
}

/// The longest duration a flag takes: Go's `time.Duration` limit (about 292 years), as daprd's
/// flags have; it also keeps every `Instant + duration` the sidecar computes from it in range.
pub const MAX_DURATION: Duration = dapr_rs_proto::go_value::MAX_GO_DURATION;

/// A bare number counts `unit`s; anything else is a Go duration (`1m30s`, `500ms`). Negative,
/// NaN, infinite and longer-than-[`MAX_DURATION`] values are refused rather than wrapped or
/// panicked on (`Duration::from_secs_f64` panics on each of them).
pub fn parse_duration_in(s: &str, unit: Duration) -> Result<Duration, String> {
    let text = s.trim();
    let parsed = match text.parse::<f64>() {
        Ok(n) => dapr_rs_proto::go_value::duration_from_secs(n * unit.as_secs_f64()),
        Err(_) => dapr_rs_proto::go_value::parse_go_duration(text),
    };
    parsed.ok_or_else(|| {
        format!("{s:?} is not a duration from 0 to {}s: a number of seconds or e.g. 5s, 500ms, 1m30s", MAX_DURATION.as_secs())
    })
}

/// `--graceful-shutdown-seconds`: seconds or a Go duration.
fn parse_seconds(s: &str) -> Result<Duration, String> {
    parse_duration_in(s, Duration::from_secs(1))
}

/// A Kubernetes-style quantity as daprd takes it: `4Mi`, `512Ki`, `1Gi`, `4M`, `100k` or bytes.
pub fn parse_byte_size(s: &str) -> Result<usize, String> {
    let text = s.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let scale: f64 = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "k" | "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        _ => return Err(format!("{s:?} is not a size (e.g. 4Mi, 16Mi or a number of bytes)")),
    };
    let value: f64 = number.parse().map_err(|_| format!("{s:?} is not a size (e.g. 4Mi, 16Mi or a number of bytes)"))?;
    let bytes = (value * scale).round();
    if !(1.0..=usize::MAX as f64).contains(&bytes) {
        return Err(format!("{s:?} is not a positive size"));
    }
    Ok(bytes as usize)
}

/// `--dapr-listen-addresses` (a run file's `apiListenAddresses`): one address or more, each
/// listed once, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddresses(Vec<IpAddr>);

impl ListenAddresses {
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.0.iter().copied()
    }
}

impl std::str::FromStr for ListenAddresses {
    type Err = String;

    /// daprd's comma-separated list; an IPv6 address with or without brackets (`[::1]`, as
    /// Kubernetes' injector writes it, or `::1`), and `localhost` as 127.0.0.1.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut addresses: Vec<IpAddr> = Vec::new();
        for entry in s.split(',').map(str::trim) {
            let bare = entry.strip_prefix('[').and_then(|e| e.strip_suffix(']')).unwrap_or(entry);
            let address = match bare {
                "localhost" => IpAddr::from([127, 0, 0, 1]),
                _ => bare.parse().map_err(|_| {
                    let what = if entry.is_empty() { "an empty entry".to_owned() } else { format!("{entry:?}, not an IP address") };
                    format!("{s:?} has {what}: list IP addresses separated by commas, e.g. 127.0.0.1,[::1] or 0.0.0.0")
                })?,
            };
            if !addresses.contains(&address) {
                addresses.push(address);
            }
        }
        Ok(Self(addresses))
    }
}

/// The settings a running sidecar uses, with every default resolved.
#[derive(Debug, Clone)]
pub struct SidecarConfig {
    pub app_id: String,
    pub app_port: Option<u16>,
    pub app_protocol: AppProtocol,
    pub app_channel_address: String,
    pub http_port: u16,
    pub grpc_port: u16,
    pub listen_addresses: ListenAddresses,
    pub resources_paths: Vec<PathBuf>,
    pub max_concurrency: Option<usize>,
    pub grace: Duration,
    /// `--max-body-size` in bytes: the largest HTTP body or gRPC message the APIs take.
    pub max_body_size: usize,
    /// `DAPR_API_TOKEN`: required on API calls when set.
    pub api_token: Option<String>,
    /// `APP_API_TOKEN`: sent to the app on every delivery when set.
    pub app_api_token: Option<String>,
    pub enable_api_logging: bool,
    /// Set when `--enable-app-health-check` is.
    pub app_health: Option<AppHealthConfig>,
    /// `--config` files (or a run file's `configFilePath`), read by `sidecar::start`.
    pub config_files: Vec<PathBuf>,
    /// What `config_files` say (tracing, `metrics_enabled`): defaults until `sidecar::start`
    /// reads them ([`SidecarConfig::load_configuration`]), first thing.
    pub configuration: configuration::Configuration,
    /// Where `/metrics` is served; `None` with `--enable-metrics=false`.
    pub metrics: Option<SocketAddr>,
}

impl SidecarConfig {
    pub fn from_args(args: &SidecarArgs) -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self {
            app_id: args.app_id.clone().unwrap_or_default(),
            app_port: args.app_port.filter(|p| *p > 0),
            app_protocol: args.app_protocol.with_ssl(args.app_ssl),
            app_channel_address: args.app_channel_address.clone(),
            http_port: args.dapr_http_port.unwrap_or(3500),
            grpc_port: args.dapr_grpc_port.unwrap_or(50001),
            listen_addresses: args.listen_addresses.clone(),
            resources_paths: if args.resources_paths.is_empty() { default_resources_path() } else { args.resources_paths.clone() },
            max_concurrency: usize::try_from(args.app_max_concurrency).ok().filter(|n| *n > 0),
            grace: args.graceful_shutdown_seconds,
            max_body_size: args.max_body_size,
            api_token: env("DAPR_API_TOKEN"),
            app_api_token: env("APP_API_TOKEN"),
            enable_api_logging: args.enable_api_logging,
            app_health: args.app_health.config(),
            config_files: args.config.clone(),
            configuration: configuration::Configuration::default(),
            metrics: args.enable_metrics.then(|| SocketAddr::new(args.metrics_listen_address, args.metrics_port.unwrap_or(9090))),
        }
    }
}

impl SidecarConfig {
    /// Reads `config_files` (and the `OTEL_*` variables) into `configuration`.
    pub fn load_configuration(&mut self) -> Result<(), configuration::ConfigurationError> {
        self.configuration = configuration::Configuration::load(&self.config_files, configuration::process_env)?;
        Ok(())
    }
}

/// `~/.dapr/components` like `dapr run`, when it exists.
fn default_resources_path() -> Vec<PathBuf> {
    home::home_dir().map(|h| h.join(".dapr").join("components")).filter(|p| p.is_dir()).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_out_of_range_are_refused_not_panicked_on() {
        assert_eq!(parse_seconds("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_seconds("0"), Ok(Duration::ZERO));
        assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_seconds("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_seconds("9223372036"), Ok(Duration::from_secs(9_223_372_036)));
        assert_eq!(parse_duration_in("500", Duration::from_millis(1)), Ok(Duration::from_millis(500)));
        for bad in ["-1", "-0.5", "NaN", "nan", "inf", "-inf", "infinity", "1e30", "9223372037", "3000000h", "", "soon", "5 s"] {
            let err = parse_seconds(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{bad:?}: {err}");
        }
        assert!(parse_duration_in("1e30", Duration::from_millis(1)).is_err());
    }

    #[test]
    fn daprd_flag_names_are_accepted() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: SidecarArgs,
        }
        let cli = Cli::try_parse_from(["x", "--dapr-graceful-shutdown-seconds", "12"]).unwrap();
        assert_eq!(cli.args.graceful_shutdown_seconds, Duration::from_secs(12));
        let cli = Cli::try_parse_from(["x", "--graceful-shutdown-seconds=3"]).unwrap();
        assert_eq!(cli.args.graceful_shutdown_seconds, Duration::from_secs(3));
        for bad in ["-1", "NaN", "inf", "1e30"] {
            let err = Cli::try_parse_from(["x", &format!("--dapr-graceful-shutdown-seconds={bad}")]).err().unwrap();
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
            let text = err.to_string();
            assert!(text.contains("--graceful-shutdown-seconds") && text.contains(bad), "{text}");
        }
    }

    #[test]
    fn listen_addresses_are_a_comma_separated_list() {
        let ips = |s: &str| s.parse::<ListenAddresses>().map(|a| a.iter().map(|ip| ip.to_string()).collect::<Vec<_>>());
        assert_eq!(ips("127.0.0.1"), Ok(vec!["127.0.0.1".to_owned()]));
        assert_eq!(ips("127.0.0.1, ::1"), Ok(vec!["127.0.0.1".to_owned(), "::1".to_owned()]));
        assert_eq!(ips("[::1],127.0.0.1,[::1]"), Ok(vec!["::1".to_owned(), "127.0.0.1".to_owned()]));
        assert_eq!(ips("0.0.0.0"), Ok(vec!["0.0.0.0".to_owned()]));
        assert_eq!(ips("localhost"), Ok(vec!["127.0.0.1".to_owned()]));
        for (bad, named) in [
            ("127.0.0.1,nonsense", "\"nonsense\", not an IP address"),
            ("", "an empty entry"),
            ("127.0.0.1,", "an empty entry"),
            ("[::1", "\"[::1\""),
            ("1.2.3.4:80", "\"1.2.3.4:80\""),
        ] {
            let err = ips(bad).unwrap_err();
            assert!(err.contains(named) && err.contains(&format!("{bad:?}")), "{bad:?}: {err}");
        }
    }

    #[test]
    fn body_sizes_read_as_daprd_reads_them() {
        assert_eq!(parse_byte_size("4Mi"), Ok(4 * 1024 * 1024));
        assert_eq!(parse_byte_size("16Mi"), Ok(16 * 1024 * 1024));
        assert_eq!(parse_byte_size("512Ki"), Ok(512 * 1024));
        assert_eq!(parse_byte_size("1Gi"), Ok(1 << 30));
        assert_eq!(parse_byte_size("2M"), Ok(2_000_000));
        assert_eq!(parse_byte_size("1000"), Ok(1000));
        assert_eq!(parse_byte_size("1.5Ki"), Ok(1536));
        for bad in ["", "Mi", "4MB", "-1", "0", "four"] {
            assert!(parse_byte_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn metrics_flags_read_as_daprds() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: SidecarArgs,
        }
        let metrics = |argv: &[&str]| SidecarConfig::from_args(&Cli::try_parse_from(argv).unwrap().args).metrics;
        assert_eq!(metrics(&["x"]), Some("127.0.0.1:9090".parse().unwrap()), "on by default, on loopback");
        assert_eq!(metrics(&["x", "--enable-metrics=false"]), None);
        assert_eq!(metrics(&["x", "--enable-metrics", "--metrics-port", "9100"]), Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(metrics(&["x", "--enable-metrics=true", "--metrics-listen-address", "0.0.0.0"]), Some("0.0.0.0:9090".parse().unwrap()));
        // As Go's bool flags: a value needs `=`, so `--enable-metrics false` leaves `false` a stray argument.
        assert!(Cli::try_parse_from(["x", "--enable-metrics", "false"]).is_err());
        assert!(Cli::try_parse_from(["x", "--enable-metrics=maybe"]).is_err());
    }
}

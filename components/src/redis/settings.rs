//! The component's metadata (contract §7): where Redis is, how to log in, and how the streams are
//! consumed. Defaults are those of Dapr's code, not its docs.

use crate::{BrokerError, ComponentConfig};
use std::time::Duration;

const KEY_HOST: &str = "redisHost";
const KEY_PORT: &str = "redisPort";
const KEY_PASSWORD: &str = "redisPassword";
const KEY_USERNAME: &str = "redisUsername";
const KEY_DB: &str = "redisDB";
const KEY_TYPE: &str = "redisType";
const KEY_FAILOVER: &str = "failover";
const KEY_ENABLE_TLS: &str = "enableTLS";
const KEY_INSECURE_SKIP_TLS_VERIFY: &str = "insecureSkipTLSVerify";
const KEY_MAX_RETRIES: &str = "redisMaxRetries";
const KEY_MIN_RETRY_INTERVAL: &str = "redisMinRetryInterval";
const KEY_MAX_RETRY_INTERVAL: &str = "redisMaxRetryInterval";
const KEY_DIAL_TIMEOUT: &str = "dialTimeout";
const KEY_READ_TIMEOUT: &str = "readTimeout";
const KEY_WRITE_TIMEOUT: &str = "writeTimeout";
const KEY_CONSUMER_ID: &str = "consumerID";
const KEY_PROCESSING_TIMEOUT: &str = "processingTimeout";
const KEY_REDELIVER_INTERVAL: &str = "redeliverInterval";
const KEY_QUEUE_DEPTH: &str = "queueDepth";
const KEY_CONCURRENCY: &str = "concurrency";
const KEY_MAX_LEN_APPROX: &str = "maxLenApprox";
const KEY_STREAM_TTL: &str = "streamTTL";

/// go-redis pool tuning keys: meaningless for one multiplexed connection, accepted so existing
/// component files load unchanged.
const POOL_KEYS: &[&str] = &["poolSize", "minIdleConns", "maxConnAge", "poolTimeout", "idleTimeout", "idleCheckFrequency"];

const DEFAULT_PORT: u16 = 6379;
const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(3);
const DEFAULT_MAX_RETRIES: usize = 3;
const DEFAULT_MIN_RETRY_INTERVAL: Duration = Duration::from_millis(8);
const DEFAULT_MAX_RETRY_INTERVAL: Duration = Duration::from_millis(512);
const DEFAULT_PROCESSING_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_REDELIVER_INTERVAL: Duration = Duration::from_secs(15);
const DEFAULT_QUEUE_DEPTH: usize = 100;
const DEFAULT_CONCURRENCY: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Settings {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: i64,
    pub tls: bool,
    pub insecure_skip_tls_verify: bool,
    /// Reconnection attempts after a connection is lost, before a command fails.
    pub max_retries: usize,
    pub min_retry_interval: Duration,
    pub max_retry_interval: Duration,
    pub dial_timeout: Duration,
    /// How long XREADGROUP blocks, and how long any reply may take.
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    /// A message delivered this long ago and not acknowledged is claimed again; zero = never.
    pub processing_timeout: Duration,
    /// How often pending messages are checked for redelivery; zero = never.
    pub redeliver_interval: Duration,
    /// XREADGROUP COUNT, and the most messages read but not yet finished.
    pub queue_depth: usize,
    /// Handler calls in flight per subscription.
    pub concurrency: usize,
    /// Publishes trim the stream with `MAXLEN ~ n`.
    pub max_len_approx: Option<u64>,
    /// Publishes trim entries older than this with `MINID ~`.
    pub stream_ttl: Option<Duration>,
}

impl Settings {
    pub fn from_config(config: &ComponentConfig) -> Result<Self, BrokerError> {
        warn_unknown_keys(config);
        if config.value(KEY_TYPE).is_some_and(|t| !t.eq_ignore_ascii_case("node")) {
            return Err(BrokerError::Config(format!("{KEY_TYPE}: only \"node\" is supported by dapr-rs (no Redis Cluster yet)")));
        }
        if config.flag(KEY_FAILOVER)? {
            return Err(BrokerError::Config(format!("{KEY_FAILOVER}: Redis Sentinel is not supported by dapr-rs yet")));
        }
        let (host, port) = address(config)?;
        let read_timeout = config.positive_duration(KEY_READ_TIMEOUT, DEFAULT_READ_TIMEOUT)?;
        let queue_depth = config.unsigned(KEY_QUEUE_DEPTH)?.map_or(DEFAULT_QUEUE_DEPTH, |n| n as usize);
        let concurrency = config.unsigned(KEY_CONCURRENCY)?.map_or(DEFAULT_CONCURRENCY, |n| n as usize);
        if queue_depth == 0 || concurrency == 0 {
            let key = if queue_depth == 0 { KEY_QUEUE_DEPTH } else { KEY_CONCURRENCY };
            return Err(BrokerError::Config(format!("{key}: must be at least 1")));
        }
        let max_len_approx = config.unsigned(KEY_MAX_LEN_APPROX)?.filter(|n| *n > 0);
        let stream_ttl = Some(config.duration(KEY_STREAM_TTL, Duration::ZERO)?).filter(|d| !d.is_zero());
        if max_len_approx.is_some() && stream_ttl.is_some() {
            return Err(BrokerError::Config(format!("{KEY_MAX_LEN_APPROX} and {KEY_STREAM_TTL} cannot be used together; choose one")));
        }
        let db = config.value(KEY_DB).map_or(Ok(0), |raw| {
            raw.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| BrokerError::Config(format!("{KEY_DB}: {raw:?} is not a database number")))
        })?;
        Ok(Self {
            host,
            port,
            username: config.value(KEY_USERNAME).map(str::to_owned),
            // A password may be spaces; only an empty one means "none".
            password: config.get(KEY_PASSWORD).filter(|p| !p.is_empty()).map(str::to_owned),
            db,
            tls: config.flag(KEY_ENABLE_TLS)?,
            insecure_skip_tls_verify: config.flag(KEY_INSECURE_SKIP_TLS_VERIFY)?,
            max_retries: config.unsigned(KEY_MAX_RETRIES)?.map_or(DEFAULT_MAX_RETRIES, |n| n as usize),
            min_retry_interval: config.duration(KEY_MIN_RETRY_INTERVAL, DEFAULT_MIN_RETRY_INTERVAL)?,
            max_retry_interval: config.duration(KEY_MAX_RETRY_INTERVAL, DEFAULT_MAX_RETRY_INTERVAL)?,
            dial_timeout: config.positive_duration(KEY_DIAL_TIMEOUT, DEFAULT_DIAL_TIMEOUT)?,
            read_timeout,
            write_timeout: config.positive_duration(KEY_WRITE_TIMEOUT, read_timeout)?,
            processing_timeout: config.duration(KEY_PROCESSING_TIMEOUT, DEFAULT_PROCESSING_TIMEOUT)?,
            redeliver_interval: config.duration(KEY_REDELIVER_INTERVAL, DEFAULT_REDELIVER_INTERVAL)?,
            queue_depth,
            concurrency,
            max_len_approx,
            stream_ttl,
        })
    }

    /// `host:port` as users wrote it, for error messages.
    pub fn address(&self) -> String {
        if self.host.contains(':') { format!("[{}]:{}", self.host, self.port) } else { format!("{}:{}", self.host, self.port) }
    }

    /// Redelivery of unacknowledged messages runs only when both of its settings are positive.
    pub fn redelivers(&self) -> bool {
        !self.processing_timeout.is_zero() && !self.redeliver_interval.is_zero()
    }
}

/// `redisHost` as `host:port` (or `host` with `redisPort`); a port given twice must agree.
fn address(config: &ComponentConfig) -> Result<(String, u16), BrokerError> {
    let host = config.value(KEY_HOST).ok_or_else(|| BrokerError::Config(format!("{KEY_HOST} is required (e.g. \"localhost:6379\")")))?;
    if host.contains(',') {
        return Err(BrokerError::Config(format!(
            "{KEY_HOST}: {host:?} lists several hosts; Redis Cluster is not supported by dapr-rs yet"
        )));
    }
    let bad_port = |raw: &str, key: &str| BrokerError::Config(format!("{key}: {raw:?} is not a port number"));
    let (name, port_in_host) = match host.rsplit_once(':') {
        // `[::1]:6379`, `localhost:6379`; a bare IPv6 address has more than one colon and no brackets.
        Some((name, port)) if !name.contains(':') || name.starts_with('[') => {
            (name.trim_start_matches('[').trim_end_matches(']'), Some(port.parse::<u16>().map_err(|_| bad_port(port, KEY_HOST))?))
        }
        _ => (host.trim_start_matches('[').trim_end_matches(']'), None),
    };
    let port_key = config.value(KEY_PORT).map(|raw| raw.parse::<u16>().map_err(|_| bad_port(raw, KEY_PORT))).transpose()?;
    let port = match (port_in_host, port_key) {
        (Some(a), Some(b)) if a != b => {
            return Err(BrokerError::Config(format!("{KEY_HOST} names port {a} but {KEY_PORT} says {b}; give the port once")));
        }
        (a, b) => a.or(b).unwrap_or(DEFAULT_PORT),
    };
    if name.is_empty() {
        return Err(BrokerError::Config(format!("{KEY_HOST}: {host:?} has no host name")));
    }
    Ok((name.to_owned(), port))
}

fn warn_unknown_keys(config: &ComponentConfig) {
    let known = [
        KEY_HOST,
        KEY_PORT,
        KEY_PASSWORD,
        KEY_USERNAME,
        KEY_DB,
        KEY_TYPE,
        KEY_FAILOVER,
        KEY_ENABLE_TLS,
        KEY_INSECURE_SKIP_TLS_VERIFY,
        KEY_MAX_RETRIES,
        KEY_MIN_RETRY_INTERVAL,
        KEY_MAX_RETRY_INTERVAL,
        KEY_DIAL_TIMEOUT,
        KEY_READ_TIMEOUT,
        KEY_WRITE_TIMEOUT,
        KEY_CONSUMER_ID,
        KEY_PROCESSING_TIMEOUT,
        KEY_REDELIVER_INTERVAL,
        KEY_QUEUE_DEPTH,
        KEY_CONCURRENCY,
        KEY_MAX_LEN_APPROX,
        KEY_STREAM_TTL,
    ];
    for key in config.metadata.keys() {
        if crate::scope_keys::is_scope_key(key) {
            continue;
        }
        if POOL_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            tracing::debug!(component = %config.name, key = %key, "pubsub.redis uses one multiplexed connection; pool setting ignored");
        } else if !known.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            tracing::warn!(component = %config.name, key = %key, "pubsub.redis ignores unknown metadata key");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> ComponentConfig {
        ComponentConfig {
            name: "pubsub".into(),
            component_type: "pubsub.redis".into(),
            metadata: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            app_id: "app".into(),
        }
    }

    fn config_error(pairs: &[(&str, &str)]) -> String {
        match Settings::from_config(&config(pairs)) {
            Err(BrokerError::Config(m)) => m,
            other => panic!("{pairs:?}: expected a Config error, got {other:?}"),
        }
    }

    #[test]
    fn the_quickstart_component_takes_dapr_code_defaults() {
        let s = Settings::from_config(&config(&[("redisHost", "localhost:6379"), ("redisPassword", "")])).unwrap();
        assert_eq!((s.host.as_str(), s.port, s.password.as_deref(), s.db), ("localhost", 6379, None, 0));
        assert_eq!(s.processing_timeout, Duration::from_secs(60));
        assert_eq!(s.redeliver_interval, Duration::from_secs(15));
        assert_eq!((s.queue_depth, s.concurrency, s.max_len_approx, s.stream_ttl), (100, 10, None, None));
        assert!(!s.tls && s.redelivers());
        assert_eq!(s.address(), "localhost:6379");
    }

    #[test]
    fn addresses_take_the_port_from_the_host_or_redis_port() {
        let addr = |pairs: &[(&str, &str)]| {
            let s = Settings::from_config(&config(pairs)).unwrap();
            (s.host, s.port)
        };
        assert_eq!(addr(&[("redisHost", "redis.local")]), ("redis.local".into(), 6379));
        assert_eq!(addr(&[("redisHost", "redis.local"), ("redisPort", "6380")]), ("redis.local".into(), 6380));
        assert_eq!(addr(&[("redisHost", "[::1]:6381")]), ("::1".into(), 6381));
        assert_eq!(addr(&[("redisHost", "::1")]), ("::1".into(), 6379));
        assert!(config_error(&[("redisHost", "a:1"), ("redisPort", "2")]).contains("redisPort"));
        assert!(config_error(&[("redisHost", "a:http")]).contains("redisHost"));
        assert!(config_error(&[]).contains("redisHost is required"));
        assert!(config_error(&[("redisHost", "a:1,b:2")]).contains("Cluster"));
    }

    #[test]
    fn stream_settings_are_read_and_checked() {
        let s = Settings::from_config(&config(&[
            ("redisHost", "h"),
            ("processingTimeout", "0"),
            ("queueDepth", "5"),
            ("concurrency", "2"),
            ("maxLenApprox", "1000"),
            ("redisDB", "3"),
            ("enableTLS", "true"),
        ]))
        .unwrap();
        assert!(!s.redelivers());
        assert_eq!((s.queue_depth, s.concurrency, s.max_len_approx, s.db, s.tls), (5, 2, Some(1000), 3, true));
        assert!(config_error(&[("redisHost", "h"), ("maxLenApprox", "10"), ("streamTTL", "1h")]).contains("together"));
        assert!(config_error(&[("redisHost", "h"), ("queueDepth", "0")]).contains("queueDepth"));
        assert!(config_error(&[("redisHost", "h"), ("redisDB", "x")]).contains("redisDB"));
        assert!(config_error(&[("redisHost", "h"), ("redisType", "cluster")]).contains("redisType"));
        assert!(config_error(&[("redisHost", "h"), ("enableTLS", "maybe")]).contains("enableTLS"));
    }
}

//! Where the sidecar is and how to talk to it, from explicit options or the environment variables
//! the official SDKs read (contract §5).

use std::time::Duration;

pub const DEFAULT_GRPC_PORT: u16 = 50001;
pub const DEFAULT_HTTP_PORT: u16 = 3500;
pub const DEFAULT_HOST: &str = "127.0.0.1";

/// Which of the sidecar's APIs a [`crate::DaprClient`] calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ClientProtocol {
    /// Dapr's gRPC API at [`ClientOptions::endpoint`].
    #[default]
    Grpc,
    /// Dapr's HTTP API at [`ClientOptions::http_endpoint`]. Streaming subscriptions exist only on
    /// the gRPC API, so `subscribe` still calls [`ClientOptions::endpoint`].
    Http,
}

/// Where a [`crate::DaprClient`]'s sidecar is and how to call it. `Default` is
/// [`ClientOptions::from_env`], what the official SDKs read; the `with_*` methods then change
/// what the app decides itself.
///
/// ```
/// use dapr_rs_core::{ClientOptions, ClientProtocol};
/// use std::time::Duration;
///
/// let options = ClientOptions::from_lookup(|_| None) // no environment: the defaults
///     .with_http_address("localhost:3601")
///     .with_protocol(ClientProtocol::Http)
///     .with_timeout(Some(Duration::from_secs(5)));
/// assert_eq!(options.api_endpoint(), "http://localhost:3601");
/// assert_eq!(options.endpoint, "http://127.0.0.1:50001"); // still where streaming subscriptions go
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientOptions {
    /// The gRPC API: `http://host:port` or `https://host:port`.
    pub endpoint: String,
    /// The HTTP API: `http://host:port`.
    pub http_endpoint: String,
    /// The API publish, bulk publish, metadata, shutdown and the health probe call.
    pub protocol: ClientProtocol,
    /// Sent as `dapr-api-token` on every call when set.
    pub api_token: Option<String>,
    /// Deadline for each unary call; `None` waits as long as the call takes.
    pub timeout: Option<Duration>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self::from_env()
    }
}

impl ClientOptions {
    /// gRPC: `DAPR_GRPC_ENDPOINT`, else `DAPR_RUNTIME_HOST` (default 127.0.0.1) with
    /// `DAPR_GRPC_PORT` (default 50001); HTTP: `DAPR_HTTP_ENDPOINT`, else that host with
    /// `DAPR_HTTP_PORT` (default 3500); `DAPR_API_TOKEN`; `DAPR_API_TIMEOUT_SECONDS`. The
    /// protocol is gRPC.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// As [`ClientOptions::from_env`], but `host` and `grpc_port`, when given, replace
    /// `DAPR_RUNTIME_HOST` and `DAPR_GRPC_PORT` (and then `DAPR_GRPC_ENDPOINT` is not read): the
    /// `daprHost` / `daprPort` options of the official SDKs.
    pub fn from_env_with(host: Option<&str>, grpc_port: Option<u16>) -> Self {
        Self::from_env_for(ClientProtocol::Grpc, host, grpc_port)
    }

    /// A client of `protocol`'s API, the `daprHost` / `daprPort` / `communicationProtocol` of the
    /// official SDKs: `host` replaces `DAPR_RUNTIME_HOST` (and then neither `DAPR_*_ENDPOINT` is
    /// read), `port` replaces that protocol's `DAPR_GRPC_PORT` or `DAPR_HTTP_PORT` (and then its
    /// `DAPR_*_ENDPOINT` is not read). The rest comes from the environment, as [`ClientOptions::from_env`].
    pub fn from_env_for(protocol: ClientProtocol, host: Option<&str>, port: Option<u16>) -> Self {
        let (endpoint_var, port_var) = match protocol {
            ClientProtocol::Grpc => ("DAPR_GRPC_ENDPOINT", "DAPR_GRPC_PORT"),
            ClientProtocol::Http => ("DAPR_HTTP_ENDPOINT", "DAPR_HTTP_PORT"),
        };
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let options = Self::from_lookup(|k| match k {
            "DAPR_GRPC_ENDPOINT" | "DAPR_HTTP_ENDPOINT" if host.is_some() => None,
            _ if k == endpoint_var && port.is_some() => None,
            "DAPR_RUNTIME_HOST" if host.is_some() => host.map(str::to_owned),
            _ if k == port_var && port.is_some() => port.map(|p| p.to_string()),
            _ => env(k),
        });
        options.with_protocol(protocol)
    }

    /// As [`ClientOptions::from_env`], reading the variables from `get` instead of the process
    /// environment: for a binding that has them from its language, and for tests.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let host = get("DAPR_RUNTIME_HOST").unwrap_or_else(|| DEFAULT_HOST.to_string());
        let endpoint_of = |endpoint_var: &str, port_var: &str, default_port: u16| match get(endpoint_var) {
            Some(ep) => normalize_endpoint(&ep),
            None => {
                let port = get(port_var).and_then(|p| p.parse::<u16>().ok()).unwrap_or(default_port);
                format!("http://{host}:{port}")
            }
        };
        let endpoint = endpoint_of("DAPR_GRPC_ENDPOINT", "DAPR_GRPC_PORT", DEFAULT_GRPC_PORT);
        let http_endpoint = endpoint_of("DAPR_HTTP_ENDPOINT", "DAPR_HTTP_PORT", DEFAULT_HTTP_PORT);
        let timeout = get("DAPR_API_TIMEOUT_SECONDS").and_then(|s| api_timeout(&s));
        Self { endpoint, http_endpoint, protocol: ClientProtocol::Grpc, api_token: get("DAPR_API_TOKEN"), timeout }
    }

    /// The endpoint the client's calls go to: [`ClientOptions::endpoint`] or, over HTTP,
    /// [`ClientOptions::http_endpoint`].
    pub fn api_endpoint(&self) -> &str {
        match self.protocol {
            ClientProtocol::Grpc => &self.endpoint,
            ClientProtocol::Http => &self.http_endpoint,
        }
    }

    /// Points the gRPC API at `address`, which may be `host:port`, `http(s)://host:port` or
    /// `dns:host:port`.
    pub fn with_address(mut self, address: &str) -> Self {
        self.endpoint = normalize_endpoint(address);
        self
    }

    /// Points the HTTP API at `address` (`host:port` or `http://host:port`).
    pub fn with_http_address(mut self, address: &str) -> Self {
        self.http_endpoint = normalize_endpoint(address);
        self
    }

    /// Calls `protocol`'s API; see [`ClientProtocol`].
    pub fn with_protocol(mut self, protocol: ClientProtocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sends `token` as `dapr-api-token` on every call (the sidecar's `DAPR_API_TOKEN`), or none.
    pub fn with_api_token(mut self, token: Option<String>) -> Self {
        self.api_token = token;
        self
    }

    /// Gives each unary call `timeout` as its deadline, or none; waits for the sidecar and
    /// streaming subscriptions are not bound by it.
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }
}

/// `DAPR_API_TIMEOUT_SECONDS`: a positive number of seconds. Anything else (`0`, `-1`, `NaN`,
/// `inf`, `1e30`, `soon`) is ignored with a warning and calls get no deadline, the default: the
/// variable is shared with the official SDKs, so a value they tolerate must not stop a client
/// from being made, and it must never panic (a panic aborts a Node process or the .NET host).
fn api_timeout(value: &str) -> Option<Duration> {
    let timeout = value.trim().parse::<f64>().ok().and_then(dapr_rs_proto::go_value::duration_from_secs).filter(|d| !d.is_zero());
    if timeout.is_none() {
        let max = dapr_rs_proto::go_value::MAX_GO_DURATION.as_secs();
        tracing::warn!(
            DAPR_API_TIMEOUT_SECONDS = value,
            "DAPR_API_TIMEOUT_SECONDS is not a number of seconds from 0 to {max}; calls get no deadline"
        );
    }
    timeout
}

/// Dapr SDK endpoint forms to a URI tonic accepts; `?tls=true` and `https` select TLS.
fn normalize_endpoint(raw: &str) -> String {
    let raw = raw.trim();
    let (raw, query) = raw.split_once('?').unwrap_or((raw, ""));
    let tls = query.split('&').any(|kv| kv.eq_ignore_ascii_case("tls=true"));
    let raw = raw.strip_prefix("dns:").map(|r| r.trim_start_matches('/')).unwrap_or(raw);
    if raw.starts_with("http://") || raw.starts_with("https://") {
        let raw = raw.trim_end_matches('/');
        if tls { raw.replacen("http://", "https://", 1) } else { raw.to_string() }
    } else {
        let host_port = if raw.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
            raw.to_string()
        } else {
            format!("{raw}:{}", if tls { 443 } else { 80 })
        };
        format!("{}://{host_port}", if tls { "https" } else { "http" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn opts(vars: &[(&str, &str)]) -> ClientOptions {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ClientOptions::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn endpoint_follows_the_sdk_precedence() {
        assert_eq!(opts(&[]).endpoint, "http://127.0.0.1:50001");
        assert_eq!(opts(&[("DAPR_GRPC_PORT", "60002")]).endpoint, "http://127.0.0.1:60002");
        let o = opts(&[("DAPR_GRPC_PORT", "60002"), ("DAPR_GRPC_ENDPOINT", "localhost:1234"), ("DAPR_API_TOKEN", "t")]);
        assert_eq!(o.endpoint, "http://localhost:1234");
        assert_eq!(o.api_token.as_deref(), Some("t"));
        assert_eq!(opts(&[("DAPR_GRPC_ENDPOINT", "https://x.example:443/")]).endpoint, "https://x.example:443");
        assert_eq!(opts(&[("DAPR_GRPC_ENDPOINT", "dns:x:5?tls=true")]).endpoint, "https://x:5");
    }

    #[test]
    fn an_explicit_host_and_port_win_over_the_environment() {
        assert_eq!(ClientOptions::from_env_with(Some("10.0.0.1"), Some(7)).endpoint, "http://10.0.0.1:7");
        let http = ClientOptions::from_env_for(ClientProtocol::Http, Some("10.0.0.1"), Some(8));
        assert_eq!((http.protocol, http.api_endpoint()), (ClientProtocol::Http, "http://10.0.0.1:8"));
    }

    #[test]
    fn the_http_endpoint_follows_the_sdk_precedence_too() {
        let o = opts(&[]);
        assert_eq!(
            (o.http_endpoint.as_str(), o.protocol, o.api_endpoint()),
            ("http://127.0.0.1:3500", ClientProtocol::Grpc, o.endpoint.as_str())
        );
        let o = opts(&[("DAPR_RUNTIME_HOST", "10.1.1.1"), ("DAPR_HTTP_PORT", "3601"), ("DAPR_GRPC_PORT", "50002")]);
        assert_eq!((o.http_endpoint.as_str(), o.endpoint.as_str()), ("http://10.1.1.1:3601", "http://10.1.1.1:50002"));
        assert_eq!(
            opts(&[("DAPR_HTTP_PORT", "3601"), ("DAPR_HTTP_ENDPOINT", "http://sidecar:3700/")]).http_endpoint,
            "http://sidecar:3700"
        );
        assert_eq!(opts(&[("DAPR_HTTP_PORT", "not a port")]).http_endpoint, "http://127.0.0.1:3500");
        let o = opts(&[]).with_http_address("localhost:3999").with_protocol(ClientProtocol::Http);
        assert_eq!(o.api_endpoint(), "http://localhost:3999");
    }

    #[test]
    fn a_bad_api_timeout_is_ignored_not_panicked_on() {
        let timeout = |v: &str| opts(&[("DAPR_API_TIMEOUT_SECONDS", v)]).timeout;
        assert_eq!(timeout("2.5"), Some(Duration::from_millis(2500)));
        assert_eq!(timeout(" 60 "), Some(Duration::from_secs(60)));
        for bad in ["inf", "-inf", "NaN", "1e30", "-1", "0", "soon", "9223372037"] {
            assert_eq!(timeout(bad), None, "{bad:?}");
        }
    }
}

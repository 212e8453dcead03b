//! The sidecars the dashboard looks at, and what it reads from each: every app `dapr-rs run` has
//! in its registry, plus the sidecars named with `--sidecar`; from each its metadata
//! (`/v1.0/metadata`), its last dead-lettered messages (dapr-rs' own endpoint) and its metrics.

use crate::launcher::registry::{self, RunRecord};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use std::str::FromStr;
use std::time::Duration;

/// How long one request to a sidecar may take: a sidecar that hangs must not stall the page.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEAD_LETTERS_PATH: &str = "/v1.0-alpha1/dapr-rs/deadletters";

/// A sidecar given with `--sidecar URL[,metrics-port=PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedSidecar {
    /// Its HTTP API, e.g. `http://127.0.0.1:3500` (no trailing slash).
    pub api: String,
    pub metrics_port: Option<u16>,
}

impl FromStr for NamedSidecar {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split(',');
        let url = parts.next().unwrap_or("").trim().trim_end_matches('/');
        let uri: http::Uri = url.parse().map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() || !matches!(uri.path(), "" | "/") {
            return Err(format!("{url:?} is not a sidecar's HTTP API address like http://127.0.0.1:3500"));
        }
        let mut metrics_port = None;
        for option in parts {
            let port =
                option.trim().strip_prefix("metrics-port=").ok_or_else(|| format!("unknown option {option:?} (metrics-port=PORT)"))?;
            metrics_port = Some(port.parse().map_err(|_| format!("metrics-port {port:?} is not a port"))?);
        }
        Ok(Self { api: url.to_owned(), metrics_port })
    }
}

/// One sidecar to read, and what is known of it beforehand.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub api: String,
    /// Its record when `dapr-rs run` runs it.
    pub record: Option<RunRecord>,
    pub metrics: MetricsAt,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MetricsAt {
    Url(String),
    /// Its `dapr-rs run` recorded no metrics port: metrics are off.
    Off,
    /// A `--sidecar` given without `metrics-port=`.
    Unknown,
}

/// The registry's apps, then the named sidecars not among them.
pub fn targets(named: &[NamedSidecar]) -> Vec<Target> {
    let mut targets: Vec<Target> = registry::running()
        .into_iter()
        .map(|r| {
            let host = if r.host.contains(':') { format!("[{}]", r.host) } else { r.host.clone() };
            let metrics = r.metrics_port.map_or(MetricsAt::Off, |port| MetricsAt::Url(format!("http://{host}:{port}/metrics")));
            Target { api: format!("http://{host}:{}", r.http_port), record: Some(r), metrics }
        })
        .collect();
    for n in named {
        if targets.iter().any(|t| t.api == n.api) {
            continue;
        }
        let metrics = match (n.metrics_port, n.api.parse::<http::Uri>().ok().and_then(|u| u.host().map(str::to_owned))) {
            (Some(port), Some(host)) => MetricsAt::Url(format!("http://{host}:{port}/metrics")),
            _ => MetricsAt::Unknown,
        };
        targets.push(Target { api: n.api.clone(), record: None, metrics });
    }
    targets
}

/// What one poll read from one sidecar.
#[derive(Debug)]
pub struct Reading {
    pub metadata: Result<serde_json::Value, String>,
    pub dead_letters: Result<serde_json::Value, String>,
    /// The text of `/metrics`; `None` when there is nowhere to read it.
    pub metrics: Option<Result<String, String>>,
}

/// Reads the sidecar's metadata, dead letters and metrics at once.
pub async fn read(client: &HttpClient, target: &Target) -> Reading {
    let json = |r: Result<Bytes, String>| r.and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("not JSON: {e}")));
    let metadata = async { json(client.get(&format!("{}/v1.0/metadata", target.api), true).await) };
    let dead_letters = async { json(client.get(&format!("{}{DEAD_LETTERS_PATH}", target.api), true).await) };
    let metrics = async {
        match &target.metrics {
            MetricsAt::Url(url) => Some(client.get(url, false).await.map(|b| String::from_utf8_lossy(&b).into_owned())),
            MetricsAt::Off | MetricsAt::Unknown => None,
        }
    };
    let (metadata, dead_letters, metrics) = tokio::join!(metadata, dead_letters, metrics);
    Reading { metadata, dead_letters, metrics }
}

/// GETs over plain HTTP/1.1 on loopback, with `DAPR_API_TOKEN` to the sidecars' APIs when set.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
    api_token: Option<String>,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self {
            client: Client::builder(hyper_util::rt::TokioExecutor::new()).build(HttpConnector::new()),
            api_token: std::env::var("DAPR_API_TOKEN").ok().filter(|t| !t.is_empty()),
        }
    }
}

impl HttpClient {
    /// The body of a 200 answer; anything else is an error saying what came back.
    pub async fn get(&self, url: &str, sidecar_api: bool) -> Result<Bytes, String> {
        let mut req = http::Request::get(url);
        if let (true, Some(token)) = (sidecar_api, &self.api_token) {
            req = req.header(dapr_rs_proto::API_TOKEN_HEADER, token);
        }
        let req = req.body(Full::new(Bytes::new())).map_err(|e| format!("invalid request to {url}: {e}"))?;
        let call = async {
            let resp = self.client.request(req).await.map_err(|e| format!("cannot reach {url}: {}", with_causes(&e)))?;
            let status = resp.status();
            let body = resp.into_body().collect().await.map_err(|e| format!("cannot read {url}: {e}"))?.to_bytes();
            if status != http::StatusCode::OK {
                return Err(format!("{url} answered {status}"));
            }
            Ok(body)
        };
        tokio::time::timeout(REQUEST_TIMEOUT, call)
            .await
            .unwrap_or_else(|_| Err(format!("{url} did not answer within {REQUEST_TIMEOUT:?}")))
    }
}

/// An error and what caused it: hyper's own says only `client error (Connect)`.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_sidecar_is_its_api_url_and_maybe_its_metrics_port() {
        let plain: NamedSidecar = "http://127.0.0.1:3500/".parse().unwrap();
        assert_eq!(plain, NamedSidecar { api: "http://127.0.0.1:3500".into(), metrics_port: None });
        let with: NamedSidecar = "http://localhost:3501,metrics-port=9091".parse().unwrap();
        assert_eq!(with, NamedSidecar { api: "http://localhost:3501".into(), metrics_port: Some(9091) });
        for bad in
            ["127.0.0.1:3500", "https://127.0.0.1:3500", "http://127.0.0.1:3500/v1.0", "http://h:1,metrics=2", "http://h:1,metrics-port=x"]
        {
            assert!(bad.parse::<NamedSidecar>().is_err(), "{bad}");
        }
    }

    #[test]
    fn named_sidecars_get_their_metrics_url_when_the_port_is_given() {
        let named = ["http://127.0.0.1:1,metrics-port=2", "http://127.0.0.1:3"].map(|s| s.parse::<NamedSidecar>().unwrap());
        let targets = targets(&named);
        let mine: Vec<_> = targets.iter().filter(|t| t.record.is_none()).collect();
        assert_eq!(mine[0].metrics, MetricsAt::Url("http://127.0.0.1:2/metrics".into()));
        assert_eq!(mine[1].metrics, MetricsAt::Unknown);
    }
}

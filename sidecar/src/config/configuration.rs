//! `--config FILE` (repeatable): Dapr's `Configuration` (`dapr.io/v1alpha1`) as daprd reads it
//! standalone (D pkg/config/configuration.go): each file env-expanded (Go's `os.ExpandEnv`), then
//! merged over the ones before it key by key; unknown fields ignored. We read what we implement:
//! `spec.tracing` and `spec.metrics.enabled` (`spec.metric` too, `metrics` winning). Then, as
//! daprd's `SetTracingSpecFromEnv`, `OTEL_EXPORTER_OTLP_[TRACES_]*` fill an empty
//! `otel.endpointAddress`.

use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_yaml_ng::Value as Yaml;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigurationError {
    #[error("configuration {}: {message}", file.display())]
    File { file: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: &'static str, message: String },
}

/// What the `--config` files say, with daprd's defaults and the `OTEL_*` fallbacks applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Configuration {
    /// `spec.tracing`; `None` (tracing off, the publisher's `traceparent` copied through) when no
    /// file has one and no `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT` is set.
    pub tracing: Option<TracingSpec>,
    /// `spec.metrics.enabled` (else `spec.metric.enabled`); true unless a file turns it off.
    pub metrics_enabled: bool,
}

impl Default for Configuration {
    fn default() -> Self {
        Self { tracing: None, metrics_enabled: true }
    }
}

/// `spec.tracing`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TracingSpec {
    /// `samplingRate` as written ("" when absent); see [`TracingSpec::sampling_rate`].
    pub sampling_rate: String,
    /// `stdout`: every span logged at info.
    pub stdout: bool,
    /// `zipkin.endpointAddress`: read but not exported to (there is no Zipkin exporter here).
    pub zipkin_endpoint: String,
    pub otel: OtelSpec,
}

/// daprd's default when `samplingRate` is empty or not a number.
pub const DEFAULT_SAMPLING_RATE: f64 = 1e-4;

impl TracingSpec {
    /// The ratio of root traces sampled, as daprd reads `samplingRate`: empty or invalid → 1e-4;
    /// 0 turns tracing off.
    pub fn sampling_rate(&self) -> f64 {
        self.sampling_rate.trim().parse::<f64>().ok().filter(|r| !r.is_nan()).unwrap_or(DEFAULT_SAMPLING_RATE)
    }
}

/// `spec.tracing.otel`.
#[derive(Debug, Clone, PartialEq)]
pub struct OtelSpec {
    /// `host:port` (a scheme is accepted too).
    pub endpoint_address: String,
    /// TLS to the collector; daprd's default is true.
    pub is_secure: bool,
    /// `None` when absent: daprd then exports nothing over OTLP.
    pub protocol: Option<OtelProtocol>,
    pub headers: Vec<(String, String)>,
    pub timeout: Option<Duration>,
}

impl Default for OtelSpec {
    fn default() -> Self {
        Self { endpoint_address: String::new(), is_secure: true, protocol: None, headers: Vec::new(), timeout: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtelProtocol {
    Grpc,
    Http,
}

impl Configuration {
    /// Reads `files` in order over daprd's defaults, then the `OTEL_*` variables from `env`.
    pub fn load(files: &[PathBuf], env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigurationError> {
        let mut spec = SpecFields::default();
        for file in files {
            let fail = |message: String| ConfigurationError::File { file: file.clone(), message };
            let text = std::fs::read_to_string(file).map_err(|e| fail(format!("cannot read it: {e}")))?;
            spec.merge(parse(&expand_env(&text, &env)).map_err(fail)?);
        }
        let mut configuration = Self {
            metrics_enabled: spec.metrics.enabled.or(spec.metric.enabled).unwrap_or(true),
            tracing: spec.tracing.as_ref().map(TracingFields::to_spec),
        };
        apply_otel_env(&mut configuration.tracing, &env)?;
        Ok(configuration)
    }
}

/// Reads the process environment, an empty value counting as unset (as daprd's `os.Getenv != ""`).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// One file's text, already env-expanded.
fn parse(text: &str) -> Result<SpecFields, String> {
    // yaml.Unmarshal reads the first document only.
    let Some(first) = serde_yaml_ng::Deserializer::from_str(text).next() else { return Err("the file is empty".into()) };
    let value = Yaml::deserialize(first).map_err(|e| format!("invalid YAML: {e}"))?;
    let doc: Document = crate::resources::from_yaml_at(value, "")?;
    if doc.kind != "Configuration" {
        return Err(format!("kind is {:?}, not Configuration", doc.kind));
    }
    if doc.api_version != "dapr.io/v1alpha1" {
        return Err(format!("apiVersion is {:?}, not dapr.io/v1alpha1", doc.api_version));
    }
    if let Some(protocol) = doc.spec.tracing.as_ref().and_then(|t| t.otel.protocol.as_deref()) {
        otel_protocol(protocol).map_err(|e| format!("spec.tracing.otel.protocol: {e}"))?;
    }
    Ok(doc.spec)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    spec: SpecFields,
}

/// The keys we read, each `None` until a file sets it, so later files override key by key.
#[derive(Debug, Default, Deserialize)]
struct SpecFields {
    #[serde(default)]
    tracing: Option<TracingFields>,
    #[serde(default)]
    metrics: MetricsFields,
    #[serde(default)]
    metric: MetricsFields,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TracingFields {
    #[serde(default, deserialize_with = "scalar_text")]
    sampling_rate: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    stdout: Option<bool>,
    #[serde(default)]
    zipkin: ZipkinFields,
    #[serde(default)]
    otel: OtelFields,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ZipkinFields {
    #[serde(default)]
    endpoint_address: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OtelFields {
    #[serde(default)]
    endpoint_address: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    is_secure: Option<bool>,
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    headers: Option<Vec<HeaderField>>,
    #[serde(default, deserialize_with = "go_duration")]
    timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
struct MetricsFields {
    #[serde(default, deserialize_with = "lenient_bool")]
    enabled: Option<bool>,
}

/// An `otel.headers` item: `"name=value"` (standalone files) or the CRD's `{name, value}` /
/// `{name, envRef}`.
#[derive(Debug, Clone)]
struct HeaderField(String, String);

impl SpecFields {
    fn merge(&mut self, later: SpecFields) {
        if let Some(t) = later.tracing {
            let mine = self.tracing.get_or_insert_with(TracingFields::default);
            over(&mut mine.sampling_rate, t.sampling_rate);
            over(&mut mine.stdout, t.stdout);
            over(&mut mine.zipkin.endpoint_address, t.zipkin.endpoint_address);
            let (o, later) = (&mut mine.otel, t.otel);
            over(&mut o.endpoint_address, later.endpoint_address);
            over(&mut o.is_secure, later.is_secure);
            over(&mut o.protocol, later.protocol);
            over(&mut o.headers, later.headers);
            over(&mut o.timeout, later.timeout);
        }
        over(&mut self.metrics.enabled, later.metrics.enabled);
        over(&mut self.metric.enabled, later.metric.enabled);
    }
}

fn over<T>(mine: &mut Option<T>, later: Option<T>) {
    if later.is_some() {
        *mine = later;
    }
}

/// `grpc`, `http`, or empty (`None`); daprd refuses anything else at start.
fn otel_protocol(protocol: &str) -> Result<Option<OtelProtocol>, String> {
    match protocol.trim() {
        "" => Ok(None),
        "grpc" => Ok(Some(OtelProtocol::Grpc)),
        "http" => Ok(Some(OtelProtocol::Http)),
        other => Err(format!("{other:?} is not grpc or http")),
    }
}

impl TracingFields {
    /// The merged fields; every file's protocol was checked as it was read.
    fn to_spec(&self) -> TracingSpec {
        let o = &self.otel;
        TracingSpec {
            sampling_rate: self.sampling_rate.clone().unwrap_or_default(),
            stdout: self.stdout.unwrap_or(false),
            zipkin_endpoint: self.zipkin.endpoint_address.clone().unwrap_or_default(),
            otel: OtelSpec {
                endpoint_address: o.endpoint_address.clone().unwrap_or_default().trim().to_owned(),
                is_secure: o.is_secure.unwrap_or(true),
                protocol: o.protocol.as_deref().and_then(|p| otel_protocol(p).ok().flatten()),
                headers: o.headers.iter().flatten().map(|HeaderField(k, v)| (k.clone(), v.clone())).collect(),
                timeout: o.timeout,
            },
        }
    }
}

/// daprd's `SetTracingSpecFromEnv`: with no `otel.endpointAddress`, an
/// `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT` sets it (and an empty samplingRate to "1"), with the
/// protocol, security, headers and timeout variables. Unlike daprd, an `http://` endpoint means
/// no TLS (daprd drops the scheme and would try TLS unless `OTEL_EXPORTER_OTLP_INSECURE=true`).
fn apply_otel_env(tracing: &mut Option<TracingSpec>, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigurationError> {
    if tracing.as_ref().is_some_and(|t| !t.otel.endpoint_address.is_empty()) {
        return Ok(());
    }
    let first = |names: [&'static str; 2]| names.into_iter().find_map(|n| env(n).map(|v| (n, v)));
    let Some((_, endpoint)) = first(["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"]) else {
        return Ok(());
    };
    let t = tracing.get_or_insert_with(TracingSpec::default);
    let (scheme_secure, address) = match endpoint.trim() {
        e if e.starts_with("http://") => (Some(false), &e["http://".len()..]),
        e if e.starts_with("https://") => (Some(true), &e["https://".len()..]),
        e => (None, e),
    };
    t.otel.endpoint_address = address.trim_end_matches('/').to_owned();
    if t.sampling_rate.is_empty() {
        t.sampling_rate = "1".into();
    }
    let protocol = first(["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]).map(|(_, p)| p).unwrap_or_default();
    t.otel.protocol = Some(if protocol.trim().starts_with("http") { OtelProtocol::Http } else { OtelProtocol::Grpc });
    let insecure = first(["OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"]).is_some_and(|(_, v)| v.trim() == "true");
    t.otel.is_secure = scheme_secure.unwrap_or(t.otel.is_secure) && !insecure;
    if let Some((var, headers)) = first(["OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"]) {
        let parsed = parse_header_list(&headers).map_err(|message| ConfigurationError::Env { var, message })?;
        t.otel.headers.extend(parsed);
    }
    if let Some((var, timeout)) = first(["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"]) {
        let ms: u64 = timeout
            .trim()
            .parse()
            .map_err(|_| ConfigurationError::Env { var, message: format!("{timeout:?} is not a number of milliseconds") })?;
        if ms > 0 {
            t.otel.timeout = Some(Duration::from_millis(ms));
        }
    }
    Ok(())
}

/// `k1=v1,k2=v2` as daprd's `StringToHeader`: names trimmed and checked, values percent-decoded.
fn parse_header_list(list: &str) -> Result<Vec<(String, String)>, String> {
    list.split(',').map(parse_header).collect()
}

fn parse_header(pair: &str) -> Result<(String, String), String> {
    let (name, value) = pair.split_once('=').ok_or_else(|| format!("{pair:?} is not name=value"))?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)) {
        return Err(format!("{name:?} is not a header name"));
    }
    let value = percent_encoding::percent_decode_str(value).decode_utf8().map_err(|_| format!("the value of {name} is not UTF-8"))?;
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// Go's `os.ExpandEnv`: `$NAME`, `${NAME}` and the one-character `$1`, `$*`…; an unset variable
/// is empty; a `$` followed by nothing it recognises stays; `${}` and an unclosed `${` are dropped.
pub fn expand_env(text: &str, env: &impl Fn(&str) -> Option<String>) -> String {
    let special = |c: u8| b"*#$@!?-".contains(&c) || c.is_ascii_digit();
    let name_char = |c: u8| c == b'_' || c.is_ascii_alphanumeric();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut i, mut copied) = (0, 0);
    while i < bytes.len() {
        if bytes[i] != b'$' || i + 1 >= bytes.len() {
            i += 1;
            continue;
        }
        out.push_str(&text[copied..i]);
        let rest = &bytes[i + 1..];
        // (the name, bytes after the `$` it took)
        let (name, width): (Option<&str>, usize) = if rest[0] == b'{' {
            if rest.len() > 2 && special(rest[1]) && rest[2] == b'}' {
                (Some(&text[i + 2..i + 3]), 3)
            } else {
                match rest.iter().position(|&c| c == b'}') {
                    Some(1) => (None, 2),
                    Some(end) => (Some(&text[i + 2..i + 1 + end]), end + 1),
                    None => (None, 1),
                }
            }
        } else if special(rest[0]) {
            (Some(&text[i + 1..i + 2]), 1)
        } else {
            let len = rest.iter().take_while(|&&c| name_char(c)).count();
            (Some(&text[i + 1..i + 1 + len]).filter(|n| !n.is_empty()), len)
        };
        match name {
            Some(name) => out.push_str(&env(name).unwrap_or_default()),
            // `$` not followed by a name stays; bad `${…` syntax is eaten.
            None if width == 0 => out.push('$'),
            None => {}
        }
        i += 1 + width;
        copied = i;
    }
    out.push_str(&text[copied..]);
    out
}

/// A string, or a number or boolean written without quotes (`samplingRate: 1`).
fn scalar_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Yaml>::deserialize(d)? {
        None | Some(Yaml::Null) => Ok(None),
        Some(Yaml::String(s)) => Ok(Some(s)),
        Some(Yaml::Number(n)) => Ok(Some(n.to_string())),
        Some(Yaml::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(de::Error::custom(format!("{other:?} is not a string"))),
    }
}

/// `true`/`false`, also quoted (as an expanded `${VAR}` may leave it).
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Yaml>::deserialize(d)? {
        None | Some(Yaml::Null) => Ok(None),
        Some(Yaml::Bool(b)) => Ok(Some(b)),
        Some(Yaml::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Yaml::String(s)) => dapr_rs_proto::go_value::parse_go_bool(s.trim())
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("{s:?} is not true or false"))),
        Some(other) => Err(de::Error::custom(format!("{other:?} is not true or false"))),
    }
}

/// A Go duration (`10s`, `1m30s`), or an integer of nanoseconds as yaml.v3 reads a `time.Duration`.
fn go_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match Option::<Yaml>::deserialize(d)? {
        None | Some(Yaml::Null) => Ok(None),
        Some(Yaml::String(s)) => dapr_rs_proto::go_value::parse_go_duration(s.trim())
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("{s:?} is not a duration such as 10s or 500ms"))),
        Some(Yaml::Number(n)) => {
            n.as_u64().map(|ns| Some(Duration::from_nanos(ns))).ok_or_else(|| de::Error::custom(format!("{n} is not a duration")))
        }
        Some(other) => Err(de::Error::custom(format!("{other:?} is not a duration such as 10s"))),
    }
}

impl<'de> Deserialize<'de> for HeaderField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Crd {
            name: String,
            #[serde(default, deserialize_with = "scalar_text")]
            value: Option<String>,
            #[serde(default)]
            env_ref: Option<String>,
            #[serde(default)]
            secret_key_ref: Option<Yaml>,
        }
        match Yaml::deserialize(d)? {
            Yaml::String(pair) => parse_header(&pair).map(|(k, v)| HeaderField(k, v)).map_err(de::Error::custom),
            map @ Yaml::Mapping(_) => {
                let crd: Crd = serde_yaml_ng::from_value(map).map_err(de::Error::custom)?;
                if crd.secret_key_ref.is_some() {
                    return Err(de::Error::custom(format!("header {}: secretKeyRef is not supported; use value or envRef", crd.name)));
                }
                let value = match (crd.value, crd.env_ref) {
                    (Some(v), _) => v,
                    (None, Some(var)) => std::env::var(var.trim()).unwrap_or_default(),
                    (None, None) => String::new(),
                };
                Ok(HeaderField(crd.name, value))
            }
            other => Err(de::Error::custom(format!("{other:?} is not \"name=value\" or {{name, value}}"))),
        }
    }
}

#[cfg(test)]
mod tests;

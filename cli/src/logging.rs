//! The process's log: compact text, or with `--log-as-json` one JSON object per line with
//! daprd's fields (`time`, `level`, `msg`, `scope`, `type`, `instance`, `ver`, `app_id`, and the
//! event's own fields, e.g. an API log's `method`, `code`, `duration`), so log pipelines built for
//! daprd read ours unchanged.

use serde_json::{Map, Value};
use std::fmt;
use std::time::SystemTime;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Installs the process's logger: `level` for dapr-rs's own crates, `warn` for the rest, unless
/// `RUST_LOG` says otherwise.
pub fn init(level: &str, as_json: bool, app_id: Option<&str>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "warn,dapr_rs_sidecar={level},dapr_rs_components={level},dapr_rs_cli={level},dapr_rs={level},{}=info",
            dapr_rs_sidecar::api::API_LOG_TARGET
        ))
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if as_json {
        builder.event_format(DaprdJson::new(app_id)).init();
    } else {
        builder.with_target(false).with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())).compact().init();
    }
}

/// daprd's JSON log line (dapr/kit's logger).
pub struct DaprdJson {
    app_id: String,
    instance: String,
}

impl DaprdJson {
    pub fn new(app_id: Option<&str>) -> Self {
        let instance = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
        Self { app_id: app_id.unwrap_or_default().to_owned(), instance }
    }

    /// One event as daprd writes it, without the newline.
    fn line(&self, now: SystemTime, level: &Level, target: &str, fields: Map<String, Value>) -> String {
        let mut line = fields;
        let msg = line.remove("message").unwrap_or(Value::String(String::new()));
        // An API log's `duration_ms` is daprd's `duration` (milliseconds).
        if let Some(duration) = line.remove("duration_ms") {
            line.insert("duration".into(), duration);
        }
        line.entry("app_id").or_insert_with(|| Value::String(self.app_id.clone()));
        line.insert("instance".into(), Value::String(self.instance.clone()));
        line.insert("level".into(), Value::String(level_name(level).into()));
        line.insert("msg".into(), msg);
        line.insert("scope".into(), Value::String(scope(target)));
        line.insert("time".into(), Value::String(humantime::format_rfc3339_nanos(now).to_string()));
        line.insert("type".into(), Value::String("log".into()));
        line.insert("ver".into(), Value::String(env!("CARGO_PKG_VERSION").into()));
        Value::Object(line).to_string()
    }
}

/// logrus's level names, which daprd writes.
fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// A module path as a dotted scope, like daprd's `dapr.runtime`: `dapr_rs_sidecar::delivery`
/// → `dapr-rs.sidecar.delivery`.
fn scope(target: &str) -> String {
    let dotted = target.replace("::", ".");
    match dotted.strip_prefix("dapr_rs_") {
        Some(rest) => format!("dapr-rs.{rest}"),
        None => dotted.replace('_', "-"),
    }
}

impl<S, N> FormatEvent<S, N> for DaprdJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        let meta = event.metadata();
        writeln!(writer, "{}", self.line(SystemTime::now(), meta.level(), meta.target(), fields.0))
    }
}

/// An event's fields as JSON values: numbers and booleans stay numbers and booleans.
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::String(value.into()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_line_has_daprds_fields() {
        let format = DaprdJson { app_id: "checkout".into(), instance: "host-1".into() };
        let mut fields = Map::new();
        fields.insert("message".into(), "HTTP API Called".into());
        fields.insert("code".into(), 204.into());
        fields.insert("duration_ms".into(), 1.5.into());
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let line: Value = serde_json::from_str(&format.line(at, &Level::WARN, "dapr_rs_sidecar::api::log", fields)).unwrap();
        assert_eq!(line["msg"], "HTTP API Called");
        assert_eq!(
            (line["level"].as_str(), line["type"].as_str(), line["app_id"].as_str()),
            (Some("warning"), Some("log"), Some("checkout"))
        );
        assert_eq!((line["scope"].as_str(), line["instance"].as_str()), (Some("dapr-rs.sidecar.api.log"), Some("host-1")));
        assert_eq!((line["code"].as_u64(), line["duration"].as_f64()), (Some(204), Some(1.5)));
        assert_eq!(line["time"], "2023-11-14T22:13:20.123000000Z");
        assert!(line.get("message").is_none() && line.get("duration_ms").is_none());
    }

    #[test]
    fn an_events_own_app_id_wins() {
        let format = DaprdJson { app_id: "launcher".into(), instance: String::new() };
        let fields =
            [("message".to_owned(), Value::from("x")), ("app_id".to_owned(), Value::from("order-processor"))].into_iter().collect();
        let line: Value = serde_json::from_str(&format.line(SystemTime::now(), &Level::INFO, "dapr_rs_cli", fields)).unwrap();
        assert_eq!(line["app_id"], "order-processor");
    }
}

//! What the page shows, gathered once per poll for every browser: each sidecar's app, ports,
//! components, subscriptions, traffic per topic and last dead letters. The traffic's rates need
//! the scrapes of the last few seconds, which [`History`] keeps between polls.

use super::exposition;
use super::sources::{MetricsAt, Reading, Target};
use super::traffic::{self, Scrape, TopicTraffic};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// Rates and recent latencies cover about this much time (the scrapes kept to compare).
pub const RATE_WINDOW_SECS: f64 = 5.0;

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// 0 until the first poll is done.
    pub generated_at_unix_ms: u64,
    pub rate_window_secs: f64,
    pub apps: Vec<AppView>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    pub app_id: String,
    /// `dapr-rs run`, or `--sidecar`.
    pub source: &'static str,
    pub api_url: String,
    pub pid: Option<u32>,
    pub app_pid: Option<u32>,
    pub http_port: Option<u16>,
    pub grpc_port: Option<u16>,
    pub app_port: Option<u16>,
    pub metrics_port: Option<u16>,
    pub command: Option<String>,
    pub uptime_secs: Option<u64>,
    /// Why the metadata could not be read; the sidecar is then shown as unreachable.
    pub error: Option<String>,
    pub components: Vec<ComponentView>,
    pub subscriptions: Vec<SubscriptionView>,
    pub metrics: MetricsView,
    pub dead_letters: DeadLettersView,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ComponentView {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub version: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SubscriptionView {
    #[serde(rename(deserialize = "pubsubname"))]
    pub pubsub_name: String,
    pub topic: String,
    pub rules: Vec<RouteView>,
    pub dead_letter_topic: String,
    /// DECLARATIVE, PROGRAMMATIC or STREAMING.
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteView {
    #[serde(rename = "match")]
    pub matches: String,
    pub path: String,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsView {
    /// `ok`, `off` (its `dapr-rs run` recorded no metrics port), `unknown` (a `--sidecar` without
    /// `metrics-port=`) or `error` (the scrape failed).
    pub status: &'static str,
    pub message: Option<String>,
    pub topics: Vec<TopicTraffic>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLettersView {
    /// False for a sidecar without dapr-rs' dead-letter endpoint (daprd), or one not answering.
    pub available: bool,
    pub message: Option<String>,
    /// Newest first, as the sidecar keeps them.
    pub events: Vec<serde_json::Value>,
}

/// The metadata fields the page shows (`GET /v1.0/metadata`, daprd's JSON).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Metadata {
    id: String,
    components: Vec<ComponentView>,
    subscriptions: Vec<SubscriptionView>,
    app_connection_properties: AppConnection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AppConnection {
    port: Option<u16>,
}

/// Each sidecar's recent scrapes, by API address.
#[derive(Debug, Default)]
pub struct History {
    started: Option<Instant>,
    scrapes: HashMap<String, VecDeque<Scrape>>,
}

impl History {
    /// Keeps `scrape` of `api`, forgets those older than the window, and answers the oldest kept
    /// (to compare with).
    fn push(&mut self, api: &str, samples: Vec<exposition::Sample>, at: Instant) -> (Scrape, Option<Scrape>) {
        let at_secs = at.duration_since(*self.started.get_or_insert(at)).as_secs_f64();
        let kept = self.scrapes.entry(api.to_owned()).or_default();
        let scrape = Scrape { at_secs, samples };
        kept.push_back(scrape.clone());
        while kept.front().is_some_and(|s| at_secs - s.at_secs > RATE_WINDOW_SECS) {
            kept.pop_front();
        }
        let oldest = kept.front().filter(|s| s.at_secs < at_secs).cloned();
        (scrape, oldest)
    }

    /// Forgets the sidecars no longer polled.
    fn retain(&mut self, apis: &[&str]) {
        self.scrapes.retain(|api, _| apis.contains(&api.as_str()));
    }
}

/// The snapshot of one poll: `readings[i]` was read from `targets[i]` at `at`.
pub fn build(targets: &[Target], readings: Vec<Reading>, history: &mut History, at: Instant) -> Snapshot {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    history.retain(&targets.iter().map(|t| t.api.as_str()).collect::<Vec<_>>());
    let apps = targets.iter().zip(readings).map(|(target, reading)| app(target, reading, history, at, now_ms / 1000)).collect();
    Snapshot { generated_at_unix_ms: now_ms, rate_window_secs: RATE_WINDOW_SECS, apps }
}

fn app(target: &Target, reading: Reading, history: &mut History, at: Instant, now_secs: u64) -> AppView {
    let record = target.record.as_ref();
    let mut view = AppView {
        app_id: record.map(|r| r.app_id.clone()).unwrap_or_default(),
        source: if record.is_some() { "dapr-rs run" } else { "--sidecar" },
        api_url: target.api.clone(),
        pid: record.map(|r| r.pid),
        app_pid: record.and_then(|r| r.app_pid),
        http_port: record.map(|r| r.http_port).or_else(|| target.api.parse::<http::Uri>().ok()?.port_u16()),
        grpc_port: record.map(|r| r.grpc_port),
        app_port: record.and_then(|r| r.app_port),
        metrics_port: match &target.metrics {
            MetricsAt::Url(url) => url.parse::<http::Uri>().ok().and_then(|u| u.port_u16()),
            _ => None,
        },
        command: record.map(|r| r.command.clone()).filter(|c| !c.is_empty()),
        uptime_secs: record.map(|r| now_secs.saturating_sub(r.started_at)),
        ..Default::default()
    };
    match reading.metadata.and_then(|m| serde_json::from_value::<Metadata>(m).map_err(|e| format!("unexpected metadata: {e}"))) {
        Ok(m) => {
            if !m.id.is_empty() {
                view.app_id = m.id;
            }
            view.app_port = view.app_port.or(m.app_connection_properties.port);
            view.components = m.components;
            view.subscriptions = m.subscriptions;
        }
        Err(e) => view.error = Some(e),
    }
    view.metrics = match (&target.metrics, reading.metrics) {
        (_, Some(Ok(text))) => match exposition::parse(&text) {
            Ok(samples) => {
                if view.uptime_secs.is_none() {
                    view.uptime_secs = process_start(&samples).map(|start| now_secs.saturating_sub(start));
                }
                let (newest, oldest) = history.push(&target.api, samples, at);
                MetricsView { status: "ok", message: None, topics: traffic::per_topic(&newest, oldest.as_ref()) }
            }
            Err(e) => MetricsView { status: "error", message: Some(e.to_string()), topics: Vec::new() },
        },
        (_, Some(Err(e))) => {
            MetricsView { status: "error", message: Some(format!("cannot scrape the metrics: {e}")), ..Default::default() }
        }
        (MetricsAt::Off, None) => MetricsView {
            status: "off",
            message: Some("this sidecar serves no metrics (started with --enable-metrics=false)".into()),
            ..Default::default()
        },
        (_, None) => MetricsView {
            status: "unknown",
            message: Some("metrics port unknown: name it with --sidecar URL,metrics-port=PORT".into()),
            ..Default::default()
        },
    };
    view.dead_letters = match reading.dead_letters {
        Ok(body) => DeadLettersView {
            available: true,
            message: None,
            events: body.get("deadLetters").and_then(|d| d.as_array()).cloned().unwrap_or_default(),
        },
        Err(e) => DeadLettersView { available: false, message: Some(format!("not available from this sidecar ({e})")), events: Vec::new() },
    };
    view
}

/// `process_start_time_seconds`, the sidecar process' start (Unix seconds).
fn process_start(samples: &[exposition::Sample]) -> Option<u64> {
    samples.iter().find(|s| s.name == "process_start_time_seconds").map(|s| s.value as u64).filter(|s| *s > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn named(api: &str, metrics: MetricsAt) -> Target {
        Target { api: api.into(), record: None, metrics }
    }

    fn metrics(delivered: u64) -> String {
        format!(
            "process_start_time_seconds 1000\n\
             dapr_component_pubsub_ingress_count{{component=\"ps\",topic=\"orders\",process_status=\"success\",status=\"success\"}} {delivered}\n"
        )
    }

    fn reading(metrics: Option<Result<String, String>>) -> Reading {
        Reading {
            metadata: Ok(json!({
                "id": "orders",
                "components": [{"name": "ps", "type": "pubsub.sqlite", "version": "v1"}],
                "subscriptions": [{"pubsubname": "ps", "topic": "orders", "rules": [{"path": "/orders"}], "deadLetterTopic": "orders-dead", "type": "PROGRAMMATIC"}],
                "appConnectionProperties": {"port": 6001, "protocol": "http"}
            })),
            dead_letters: Ok(json!({"deadLetters": [{"eventId": "e1", "reason": "the app answered DROP"}]})),
            metrics,
        }
    }

    #[test]
    fn a_sidecar_seen_through_its_metadata_metrics_and_dead_letters() {
        let target = named("http://127.0.0.1:3500", MetricsAt::Url("http://127.0.0.1:9090/metrics".into()));
        let mut history = History::default();
        let t0 = Instant::now();
        let first = build(std::slice::from_ref(&target), vec![reading(Some(Ok(metrics(10))))], &mut history, t0);
        let second = build(std::slice::from_ref(&target), vec![reading(Some(Ok(metrics(30))))], &mut history, t0 + Duration::from_secs(2));
        let app = &second.apps[0];
        assert_eq!(
            (app.app_id.as_str(), app.source, app.http_port, app.app_port, app.metrics_port),
            ("orders", "--sidecar", Some(3500), Some(6001), Some(9090))
        );
        assert!(app.uptime_secs.unwrap() > 1_000_000, "from process_start_time_seconds");
        assert_eq!(app.components[0].kind, "pubsub.sqlite");
        let sub = &app.subscriptions[0];
        assert_eq!(
            (sub.pubsub_name.as_str(), sub.dead_letter_topic.as_str(), sub.rules[0].path.as_str()),
            ("ps", "orders-dead", "/orders")
        );
        assert_eq!(first.apps[0].metrics.topics[0].delivered_per_sec, None, "one scrape: no rate yet");
        assert_eq!((app.metrics.status, app.metrics.topics[0].delivered, app.metrics.topics[0].delivered_per_sec), ("ok", 30, Some(10.0)));
        assert!(app.dead_letters.available && app.dead_letters.events[0]["eventId"] == "e1");

        let json = serde_json::to_value(&second).unwrap();
        assert_eq!(json["apps"][0]["subscriptions"][0]["pubsubName"], "ps");
        assert_eq!(json["apps"][0]["metrics"]["topics"][0]["deliveredPerSec"], 10.0);
    }

    #[test]
    fn what_cannot_be_read_is_said_not_failed() {
        let targets = [
            named("http://127.0.0.1:1", MetricsAt::Off),
            named("http://127.0.0.1:2", MetricsAt::Unknown),
            named("http://127.0.0.1:3", MetricsAt::Url("http://127.0.0.1:4/metrics".into())),
            named("http://127.0.0.1:5", MetricsAt::Url("http://127.0.0.1:6/metrics".into())),
        ];
        let mut gone = reading(Some(Err("cannot reach http://127.0.0.1:4/metrics".into())));
        gone.metadata = Err("cannot reach http://127.0.0.1:3/v1.0/metadata".into());
        gone.dead_letters = Err("http://127.0.0.1:3/... answered 404 Not Found".into());
        let readings = vec![reading(None), reading(None), gone, reading(Some(Ok("garbage here".into())))];
        let s = build(&targets, readings, &mut History::default(), Instant::now());
        let statuses: Vec<_> = s.apps.iter().map(|a| a.metrics.status).collect();
        assert_eq!(statuses, ["off", "unknown", "error", "error"]);
        assert!(s.apps[0].metrics.message.as_deref().unwrap().contains("--enable-metrics=false"));
        assert!(s.apps[1].metrics.message.as_deref().unwrap().contains("metrics-port=PORT"));
        let gone = &s.apps[2];
        assert!(gone.error.as_deref().unwrap().contains("cannot reach") && gone.app_id.is_empty());
        assert!(!gone.dead_letters.available && gone.dead_letters.message.as_deref().unwrap().contains("404"));
        assert!(s.apps[3].metrics.message.as_deref().unwrap().contains("line 1"), "{:?}", s.apps[3].metrics);
    }

    #[test]
    fn old_scrapes_leave_the_window_and_gone_sidecars_the_history() {
        let mut history = History::default();
        let t0 = Instant::now();
        for s in 0..8 {
            history.push("a", Vec::new(), t0 + Duration::from_secs(s));
        }
        let (newest, oldest) = history.push("a", Vec::new(), t0 + Duration::from_secs(8));
        assert_eq!((newest.at_secs, oldest.unwrap().at_secs), (8.0, 3.0));
        history.push("b", Vec::new(), t0);
        history.retain(&["b"]);
        assert_eq!(history.scrapes.keys().collect::<Vec<_>>(), ["b"]);
    }
}

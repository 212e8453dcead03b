//! Message traffic per topic from two scrapes of a sidecar's `/metrics` (daprd's
//! `dapr_component_pubsub_*`): totals from the newest, rates from the counters' increase between
//! the two, and delivery latency quantiles from the histogram's buckets as Prometheus'
//! `histogram_quantile` computes them.

use super::exposition::{Sample, parse_value};
use serde::Serialize;
use std::collections::BTreeMap;

pub const EGRESS_COUNT: &str = "dapr_component_pubsub_egress_count";
/// Entries published through bulk publish (one `_egress_count` is not recorded for them).
pub const EGRESS_BULK_EVENT_COUNT: &str = "dapr_component_pubsub_egress_bulk_event_count";
pub const INGRESS_COUNT: &str = "dapr_component_pubsub_ingress_count";
pub const INGRESS_LATENCIES: &str = "dapr_component_pubsub_ingress_latencies";

/// One scrape, and when it was taken (seconds on any clock that only goes forward).
#[derive(Debug, Clone)]
pub struct Scrape {
    pub at_secs: f64,
    pub samples: Vec<Sample>,
}

/// What went through one topic of one component, as one sidecar saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicTraffic {
    pub pubsub_name: String,
    pub topic: String,
    /// Events this sidecar published to the topic.
    pub published: u64,
    pub publish_failed: u64,
    /// None until there are two scrapes to compare.
    pub published_per_sec: Option<f64>,
    /// Events the app took (answered SUCCESS).
    pub delivered: u64,
    pub delivered_per_sec: Option<f64>,
    /// Calls the app answered RETRY (or that failed).
    pub retried: u64,
    /// Events dropped or dead-lettered.
    pub dropped: u64,
    pub latency: Option<Latency>,
}

/// Quantiles of the time the app took to answer a delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// How many calls they are computed from.
    pub calls: u64,
    /// True when they cover only the calls between the two scrapes, false when (none came in
    /// between) every call since the sidecar started.
    pub recent: bool,
}

type Key = (String, String);

/// The traffic of every topic `newest` counts, with rates and recent latencies since `older`.
pub fn per_topic(newest: &Scrape, older: Option<&Scrape>) -> Vec<TopicTraffic> {
    let published = |s: &Sample| s.label("success") == "true";
    let failed = |s: &Sample| s.label("success") == "false";
    let status = |word: &'static str| move |s: &Sample| s.label("process_status") == word;
    let counters = |scrape: &Scrape| Counters {
        published: add(&totals(&scrape.samples, EGRESS_COUNT, published), &totals(&scrape.samples, EGRESS_BULK_EVENT_COUNT, published)),
        publish_failed: totals(&scrape.samples, EGRESS_COUNT, failed),
        delivered: totals(&scrape.samples, INGRESS_COUNT, status("success")),
        retried: totals(&scrape.samples, INGRESS_COUNT, status("retry")),
        dropped: totals(&scrape.samples, INGRESS_COUNT, status("drop")),
    };
    let now = counters(newest);
    let before = older.filter(|o| newest.at_secs > o.at_secs).map(|o| (counters(o), newest.at_secs - o.at_secs));
    let buckets_now = buckets(&newest.samples);
    let buckets_before = older.map(|o| buckets(&o.samples)).unwrap_or_default();

    let mut keys: Vec<&Key> = [&now.published, &now.publish_failed, &now.delivered, &now.retried, &now.dropped]
        .into_iter()
        .flat_map(|m| m.keys())
        .chain(buckets_now.keys())
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|key| {
            let get = |m: &BTreeMap<Key, f64>| m.get(key).copied().unwrap_or(0.0);
            let rate = |pick: fn(&Counters) -> &BTreeMap<Key, f64>| {
                before.as_ref().map(|(then, secs)| increase(get(pick(&now)), get(pick(then))) / secs)
            };
            TopicTraffic {
                pubsub_name: key.0.clone(),
                topic: key.1.clone(),
                published: get(&now.published) as u64,
                publish_failed: get(&now.publish_failed) as u64,
                published_per_sec: rate(|c| &c.published),
                delivered: get(&now.delivered) as u64,
                delivered_per_sec: rate(|c| &c.delivered),
                retried: get(&now.retried) as u64,
                dropped: get(&now.dropped) as u64,
                latency: buckets_now.get(key).and_then(|all| latency(all, buckets_before.get(key))),
            }
        })
        .collect()
}

struct Counters {
    published: BTreeMap<Key, f64>,
    publish_failed: BTreeMap<Key, f64>,
    delivered: BTreeMap<Key, f64>,
    retried: BTreeMap<Key, f64>,
    dropped: BTreeMap<Key, f64>,
}

/// The sum of the samples named `name` that `keep` keeps, per (component, topic).
fn totals(samples: &[Sample], name: &str, keep: impl Fn(&Sample) -> bool) -> BTreeMap<Key, f64> {
    let mut out = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name == name && keep(s)) {
        *out.entry((s.label("component").to_owned(), s.label("topic").to_owned())).or_insert(0.0) += s.value;
    }
    out
}

fn add(a: &BTreeMap<Key, f64>, b: &BTreeMap<Key, f64>) -> BTreeMap<Key, f64> {
    let mut out = a.clone();
    for (k, v) in b {
        *out.entry(k.clone()).or_insert(0.0) += v;
    }
    out
}

/// A counter's increase; a counter that went down was reset (its sidecar restarted), so all of
/// its value is new, as Prometheus' `rate` takes it.
pub fn increase(now: f64, before: f64) -> f64 {
    if now >= before { now - before } else { now }
}

/// The cumulative `(le, count)` buckets of the delivery latency histogram per (component, topic),
/// summed over its other labels (every answer: success, retry, drop), sorted by `le`.
fn buckets(samples: &[Sample]) -> BTreeMap<Key, Vec<(f64, f64)>> {
    let bucket_name = format!("{INGRESS_LATENCIES}_bucket");
    let mut by_key: BTreeMap<Key, Vec<(f64, f64)>> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name == bucket_name) {
        let Some(le) = parse_value(s.label("le")) else { continue };
        let buckets = by_key.entry((s.label("component").to_owned(), s.label("topic").to_owned())).or_default();
        match buckets.iter_mut().find(|(b, _)| *b == le) {
            Some((_, count)) => *count += s.value,
            None => buckets.push((le, s.value)),
        }
    }
    for buckets in by_key.values_mut() {
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    by_key
}

/// p50 and p99 of the calls since `before` when there were some, else of every call.
fn latency(all: &[(f64, f64)], before: Option<&Vec<(f64, f64)>>) -> Option<Latency> {
    let recent: Option<Vec<(f64, f64)>> = before.map(|before| {
        all.iter().map(|&(le, n)| (le, increase(n, before.iter().find(|(b, _)| *b == le).map_or(0.0, |(_, c)| *c)))).collect()
    });
    let (buckets, recent) = match recent {
        Some(r) if r.last().is_some_and(|(_, n)| *n > 0.0) => (r, true),
        _ => (all.to_vec(), false),
    };
    let calls = buckets.last()?.1;
    Some(Latency { p50_ms: quantile(0.5, &buckets)?, p99_ms: quantile(0.99, &buckets)?, calls: calls as u64, recent })
}

/// Prometheus' `histogram_quantile` over cumulative `(le, count)` buckets sorted by `le`, the last
/// one `+Inf`: the bucket holding the rank, interpolated linearly within it; a rank in the `+Inf`
/// bucket answers the highest finite bound. None without observations.
pub fn quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let (&(last_le, observations), finite) = buckets.split_last()?;
    if last_le != f64::INFINITY || finite.is_empty() || observations <= 0.0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let rank = q * observations;
    let b = buckets.iter().position(|&(_, n)| n >= rank)?;
    if b == buckets.len() - 1 {
        return Some(finite[finite.len() - 1].0);
    }
    let (end, count) = buckets[b];
    if b == 0 {
        return Some(if end <= 0.0 { end } else { end * (rank / count) });
    }
    let (start, below) = buckets[b - 1];
    Some(start + (end - start) * ((rank - below) / (count - below)))
}

#[cfg(test)]
mod tests {
    use super::super::exposition::parse;
    use super::*;

    fn scrape(at_secs: f64, text: &str) -> Scrape {
        Scrape { at_secs, samples: parse(text).unwrap() }
    }

    /// A scrape of a sidecar that published `published` events to `orders` and delivered
    /// `delivered` from it, their latencies in the buckets 5, 10, 50, +Inf as `latencies`.
    fn sidecar(at_secs: f64, published: u64, delivered: u64, latencies: [u64; 4]) -> Scrape {
        let l = r#"app_id="a",component="ps",namespace="",process_status="success",status="success",topic="orders""#;
        let [b5, b10, b50, inf] = latencies;
        scrape(
            at_secs,
            &format!(
                "# TYPE {EGRESS_COUNT} counter\n\
                 {EGRESS_COUNT}{{app_id=\"a\",component=\"ps\",namespace=\"\",success=\"true\",topic=\"orders\"}} {published}\n\
                 {EGRESS_COUNT}{{app_id=\"a\",component=\"ps\",namespace=\"\",success=\"false\",topic=\"orders\"}} 2\n\
                 {INGRESS_COUNT}{{{l}}} {delivered}\n\
                 {INGRESS_COUNT}{{app_id=\"a\",component=\"ps\",namespace=\"\",process_status=\"retry\",status=\"retry\",topic=\"orders\"}} 3\n\
                 {INGRESS_COUNT}{{app_id=\"a\",component=\"ps\",namespace=\"\",process_status=\"drop\",status=\"success\",topic=\"orders\"}} 1\n\
                 {INGRESS_LATENCIES}_bucket{{{l},le=\"5\"}} {b5}\n\
                 {INGRESS_LATENCIES}_bucket{{{l},le=\"10\"}} {b10}\n\
                 {INGRESS_LATENCIES}_bucket{{{l},le=\"50\"}} {b50}\n\
                 {INGRESS_LATENCIES}_bucket{{{l},le=\"+Inf\"}} {inf}\n\
                 {INGRESS_LATENCIES}_count{{{l}}} {inf}\n"
            ),
        )
    }

    #[test]
    fn totals_and_rates_per_topic() {
        let before = sidecar(10.0, 100, 40, [10, 30, 40, 40]);
        let now = sidecar(12.0, 130, 50, [10, 30, 40, 40]);
        let t = per_topic(&now, Some(&before));
        assert_eq!(t.len(), 1);
        let t = &t[0];
        assert_eq!((t.pubsub_name.as_str(), t.topic.as_str()), ("ps", "orders"));
        assert_eq!((t.published, t.publish_failed, t.delivered, t.retried, t.dropped), (130, 2, 50, 3, 1));
        assert_eq!(t.published_per_sec, Some(15.0), "30 more in 2 s");
        assert_eq!(t.delivered_per_sec, Some(5.0), "10 more in 2 s");

        // The first scrape has no rate yet; a counter that went down was reset.
        assert_eq!(per_topic(&now, None)[0].published_per_sec, None);
        let restarted = sidecar(14.0, 4, 2, [0, 0, 0, 0]);
        assert_eq!(per_topic(&restarted, Some(&now))[0].published_per_sec, Some(2.0));
        assert_eq!(per_topic(&now, Some(&now))[0].published_per_sec, None, "no time between them, no rate");
    }

    #[test]
    fn latency_is_recent_when_calls_came_in_between_else_since_start() {
        let before = sidecar(10.0, 0, 40, [10, 30, 40, 40]);
        // 100 new calls between the scrapes, all in (10, 50].
        let now = sidecar(11.0, 0, 140, [10, 30, 140, 140]);
        let l = per_topic(&now, Some(&before))[0].latency.clone().unwrap();
        assert!(l.recent);
        assert_eq!(l.calls, 100);
        assert!((l.p50_ms - 30.0).abs() < 1e-9 && (l.p99_ms - 49.6).abs() < 1e-9, "interpolated within (10, 50]: {l:?}");

        let idle = per_topic(&now, Some(&now))[0].latency.clone().unwrap();
        assert!(!idle.recent, "no calls in between: every call since start");
        assert_eq!(idle.calls, 140);
        assert_eq!(per_topic(&sidecar(0.0, 1, 0, [0, 0, 0, 0]), None)[0].latency, None, "no calls at all");
    }

    #[test]
    fn several_series_of_a_topic_add_up_and_topics_stay_apart() {
        let text = format!(
            "{INGRESS_COUNT}{{component=\"ps\",topic=\"a\",process_status=\"success\",status=\"success\"}} 2\n\
             {INGRESS_COUNT}{{component=\"ps\",topic=\"b\",process_status=\"success\",status=\"success\"}} 5\n\
             {INGRESS_COUNT}{{component=\"ps\",topic=\"a\",process_status=\"drop\",status=\"drop\"}} 1\n\
             {INGRESS_COUNT}{{component=\"other\",topic=\"a\",process_status=\"success\",status=\"success\"}} 7\n\
             {EGRESS_BULK_EVENT_COUNT}{{component=\"ps\",topic=\"c\",success=\"true\"}} 4\n\
             {EGRESS_COUNT}{{component=\"ps\",topic=\"c\",success=\"true\"}} 1\n\
             {INGRESS_LATENCIES}_bucket{{component=\"ps\",topic=\"a\",process_status=\"success\",le=\"10\"}} 2\n\
             {INGRESS_LATENCIES}_bucket{{component=\"ps\",topic=\"a\",process_status=\"success\",le=\"+Inf\"}} 2\n\
             {INGRESS_LATENCIES}_bucket{{component=\"ps\",topic=\"a\",process_status=\"drop\",le=\"10\"}} 0\n\
             {INGRESS_LATENCIES}_bucket{{component=\"ps\",topic=\"a\",process_status=\"drop\",le=\"+Inf\"}} 2\n\
             dapr_component_pubsub_ingress_bulk_event_count{{component=\"pubsubName\",topic=\"a\"}} 9\n"
        );
        let t = per_topic(&scrape(0.0, &text), None);
        let keys: Vec<(&str, &str, u64, u64, u64)> =
            t.iter().map(|t| (t.pubsub_name.as_str(), t.topic.as_str(), t.published, t.delivered, t.dropped)).collect();
        assert_eq!(keys, [("other", "a", 0, 7, 0), ("ps", "a", 0, 2, 1), ("ps", "b", 0, 5, 0), ("ps", "c", 5, 0, 0)]);
        let l = t[1].latency.clone().unwrap();
        assert_eq!((l.calls, l.p50_ms, l.p99_ms), (4, 10.0, 10.0), "the answers' buckets are merged; a rank in +Inf answers 10");
    }

    #[tokio::test]
    async fn reads_what_the_sidecars_metrics_render() {
        use dapr_rs_proto::outcome::DeliveryOutcome;
        use dapr_rs_sidecar::metrics::{Metrics, pubsub::Ingress};
        let metrics = std::sync::Arc::new(Metrics::new("orders", true));
        for _ in 0..3 {
            let _: Result<(), ()> = metrics.pubsub.egress("ps", "orders", async { Ok(()) }).await;
        }
        let ingress = Ingress::new(metrics.clone(), "ps", "orders", true);
        for outcome in [DeliveryOutcome::Success, DeliveryOutcome::Success, DeliveryOutcome::Retry, DeliveryOutcome::Drop] {
            ingress.delivered(async move { outcome }).await;
        }
        let t = per_topic(&scrape(0.0, &metrics.render()), None);
        assert_eq!(t.len(), 1, "{t:?}");
        assert_eq!((t[0].published, t[0].delivered, t[0].retried, t[0].dropped), (3, 2, 1, 1));
        let l = t[0].latency.clone().unwrap();
        assert_eq!((l.calls, l.recent), (4, false));
        assert!(l.p50_ms <= 1.0 && l.p99_ms <= 1.0, "instant answers fall in the first bucket: {l:?}");
    }

    #[test]
    fn quantiles_as_prometheus_computes_them() {
        let b = [(1.0, 10.0), (2.0, 20.0), (4.0, 40.0), (f64::INFINITY, 40.0)];
        assert_eq!(quantile(0.5, &b), Some(2.0));
        assert_eq!(quantile(0.25, &b), Some(1.0));
        assert_eq!(quantile(0.75, &b), Some(3.0));
        assert_eq!(quantile(0.125, &b), Some(0.5), "the first bucket starts at 0");
        assert_eq!(quantile(1.0, &b), Some(4.0));
        assert_eq!(quantile(0.99, &[(1.0, 0.0), (f64::INFINITY, 5.0)]), Some(1.0), "in +Inf: the highest finite bound");
        assert_eq!(quantile(0.5, &[(1.0, 0.0), (f64::INFINITY, 0.0)]), None, "no observations");
        assert_eq!(quantile(0.5, &[(1.0, 3.0)]), None, "no +Inf bucket");
        assert_eq!(quantile(1.5, &b), None);
        assert_eq!(quantile(0.5, &[(-1.0, 4.0), (f64::INFINITY, 4.0)]), Some(-1.0), "a first bound at or below 0 is the answer");
    }
}

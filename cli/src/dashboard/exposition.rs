//! The Prometheus text exposition format (version 0.0.4), read into samples: what a sidecar's
//! `/metrics` serves. Comments (`# HELP`, `# TYPE`) are skipped; a sample is
//! `name{label="value",...} value [timestamp]`, label values escaped with `\\`, `\"` and `\n`.

use std::collections::BTreeMap;

/// One line of a scrape: a series and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map(String::as_str).unwrap_or("")
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line} of the metrics: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Every sample of `text`, in order.
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut samples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        samples.push(sample(line).map_err(|message| ParseError { line: i + 1, message })?);
    }
    Ok(samples)
}

fn sample(line: &str) -> Result<Sample, String> {
    let mut rest = line;
    let name = take_name(&mut rest, true).ok_or_else(|| format!("no metric name in {line:?}"))?;
    let mut labels = BTreeMap::new();
    rest = rest.trim_start();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let label = take_name(&mut rest, false).ok_or_else(|| format!("a bad label name in {line:?}"))?;
            rest = rest.trim_start().strip_prefix('=').ok_or_else(|| format!("no '=' after label {label} in {line:?}"))?.trim_start();
            let value = take_quoted(&mut rest).ok_or_else(|| format!("a bad value of label {label} in {line:?}"))?;
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if !rest.starts_with('}') {
                return Err(format!("expected ',' or '}}' after label {label} in {line:?}"));
            }
            labels.insert(label, value);
        }
    }
    let mut fields = rest.split_ascii_whitespace();
    let value = fields.next().ok_or_else(|| format!("no value in {line:?}"))?;
    let value = parse_value(value).ok_or_else(|| format!("{value:?} is not a number in {line:?}"))?;
    if let Some(timestamp) = fields.next() {
        timestamp.parse::<i64>().map_err(|_| format!("{timestamp:?} is not a timestamp in {line:?}"))?;
    }
    if let Some(extra) = fields.next() {
        return Err(format!("unexpected {extra:?} at the end of {line:?}"));
    }
    Ok(Sample { name, labels, value })
}

/// A metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) or, without colons, a label name.
fn take_name(rest: &mut &str, colons: bool) -> Option<String> {
    let ok = |c: char, first: bool| c == '_' || c.is_ascii_alphabetic() || (colons && c == ':') || (!first && c.is_ascii_digit());
    let end = rest.char_indices().find(|&(i, c)| !ok(c, i == 0)).map(|(i, _)| i).unwrap_or(rest.len());
    if end == 0 {
        return None;
    }
    let name = rest[..end].to_owned();
    *rest = &rest[end..];
    Some(name)
}

/// A double-quoted label value, unescaped.
fn take_quoted(rest: &mut &str) -> Option<String> {
    let body = rest.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                *rest = &body[i + 1..];
                return Some(value);
            }
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                '\\' => value.push('\\'),
                '"' => value.push('"'),
                // The format allows no other escape; keep it as written, as Prometheus does.
                other => {
                    value.push('\\');
                    value.push(other);
                }
            },
            c => value.push(c),
        }
    }
    None
}

/// Go's float syntax as Prometheus writes it: decimals, exponents, `+Inf`, `-Inf`, `NaN`.
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ if s.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the sidecar's `/metrics` serves (the prometheus crate's encoder), trimmed.
    const SCRAPE: &str = r#"# HELP dapr_component_pubsub_ingress_count The number of incoming messages arriving from the pub/sub component.
# TYPE dapr_component_pubsub_ingress_count counter
dapr_component_pubsub_ingress_count{app_id="orders",component="pubsub",namespace="",process_status="success",status="success",topic="orders"} 9
dapr_component_pubsub_ingress_count{app_id="orders",component="pubsub",namespace="",process_status="drop",status="success",topic="orders"} 1
# HELP dapr_component_pubsub_ingress_latencies The consuming app event processing latency.
# TYPE dapr_component_pubsub_ingress_latencies histogram
dapr_component_pubsub_ingress_latencies_bucket{app_id="orders",component="pubsub",namespace="",process_status="success",status="success",topic="orders",le="1"} 2
dapr_component_pubsub_ingress_latencies_bucket{app_id="orders",component="pubsub",namespace="",process_status="success",status="success",topic="orders",le="+Inf"} 9
dapr_component_pubsub_ingress_latencies_sum{app_id="orders",component="pubsub",namespace="",process_status="success",status="success",topic="orders"} 31.25
dapr_component_pubsub_ingress_latencies_count{app_id="orders",component="pubsub",namespace="",process_status="success",status="success",topic="orders"} 9
# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1700000000
"#;

    #[test]
    fn reads_a_sidecars_scrape() {
        let samples = parse(SCRAPE).unwrap();
        assert_eq!(samples.len(), 7);
        let first = &samples[0];
        assert_eq!(first.name, "dapr_component_pubsub_ingress_count");
        assert_eq!(first.value, 9.0);
        assert_eq!((first.label("app_id"), first.label("process_status"), first.label("topic")), ("orders", "success", "orders"));
        assert_eq!(first.label("namespace"), "", "an empty label is present and empty");
        assert_eq!(first.label("missing"), "");
        assert_eq!(samples[2].label("le"), "1");
        assert_eq!(samples[3].label("le"), "+Inf");
        assert_eq!(samples[4].value, 31.25);
        assert_eq!((samples[6].name.as_str(), samples[6].labels.len(), samples[6].value), ("process_start_time_seconds", 0, 1.7e9));
    }

    #[test]
    fn reads_the_whole_format() {
        let text = "metric_without_labels 12.5e3\n\
                    \n  # a comment\n\
                    with_timestamp{a=\"1\"} -3 1395066363000\n\
                    spaced { a = \"x\" , b=\"y\", } +Inf\n\
                    escaped{path=\"C:\\\\dir \\\"q\\\"\\nnext\",odd=\"\\t\"} NaN\n\
                    ns:colon_name{} -Inf\n\
                    unicode{v=\"caf\u{e9} {}=,\"} 0.001\n";
        let samples = parse(text).unwrap();
        assert_eq!(samples.len(), 6);
        assert_eq!(samples[0].value, 12500.0);
        assert_eq!((samples[1].name.as_str(), samples[1].value), ("with_timestamp", -3.0));
        assert_eq!((samples[2].label("a"), samples[2].label("b"), samples[2].value), ("x", "y", f64::INFINITY));
        assert_eq!(samples[3].label("path"), "C:\\dir \"q\"\nnext");
        assert_eq!(samples[3].label("odd"), "\\t", "an unknown escape is kept as written");
        assert!(samples[3].value.is_nan());
        assert_eq!((samples[4].name.as_str(), samples[4].labels.len(), samples[4].value), ("ns:colon_name", 0, f64::NEG_INFINITY));
        assert_eq!(samples[5].label("v"), "café {}=,");
    }

    #[test]
    fn a_broken_line_is_an_error_naming_it() {
        for (text, line, says) in [
            ("ok 1\n{a=\"b\"} 1", 2, "no metric name"),
            ("m{a=b} 1", 1, "a bad value of label a"),
            ("m{a=\"b} 1", 1, "a bad value of label a"),
            ("m{a\"b\"} 1", 1, "no '=' after label a"),
            ("m{a=\"b\" c=\"d\"} 1", 1, "expected ',' or '}'"),
            ("m{1a=\"b\"} 1", 1, "a bad label name"),
            ("m", 1, "no value"),
            ("m one", 1, "\"one\" is not a number"),
            ("m 0x10", 1, "is not a number"),
            ("m 1 later", 1, "is not a timestamp"),
            ("m 1 2 3", 1, "unexpected \"3\""),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.to_string().contains(says), "{text:?}: {err}");
        }
    }
}

//! Reading component metadata values the way Dapr components read them: an empty value means
//! "use the default", durations are Go durations or bare milliseconds, numbers and booleans as
//! Go's `strconv` accepts them.

use super::{BrokerError, ComponentConfig};
use std::time::Duration;

impl ComponentConfig {
    /// A non-empty, trimmed value; an empty one means "use the default", as in Dapr component files.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.get(key).map(str::trim).filter(|v| !v.is_empty())
    }

    /// A positive duration, or `default` when the key is missing or empty.
    pub fn positive_duration(&self, key: &str, default: Duration) -> Result<Duration, BrokerError> {
        let duration = self.duration(key, default)?;
        if duration.is_zero() {
            return Err(duration_error(key, self.value(key).unwrap_or_default(), "a positive duration"));
        }
        Ok(duration)
    }

    /// A duration that may be zero (which some keys use to switch a feature off).
    pub fn duration(&self, key: &str, default: Duration) -> Result<Duration, BrokerError> {
        let Some(raw) = self.value(key) else { return Ok(default) };
        parse_duration(raw).ok_or_else(|| duration_error(key, raw, "a duration"))
    }

    /// An unsigned integer, or `None` when the key is missing or empty.
    pub fn unsigned(&self, key: &str) -> Result<Option<u64>, BrokerError> {
        let Some(raw) = self.value(key) else { return Ok(None) };
        raw.parse().map(Some).map_err(|_| BrokerError::Config(format!("{key}: {raw:?} is not a whole number (expected e.g. \"10\")")))
    }

    /// A boolean as Go's `strconv.ParseBool` reads it; `false` when missing or empty.
    pub fn flag(&self, key: &str) -> Result<bool, BrokerError> {
        match self.value(key) {
            None => Ok(false),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(raw) => Err(BrokerError::Config(format!("{key}: {raw:?} is not a boolean (expected \"true\" or \"false\")"))),
        }
    }
}

fn duration_error(key: &str, raw: &str, what: &str) -> BrokerError {
    BrokerError::Config(format!(
        "{key}: {raw:?} is not {what} (use a Go duration such as \"60s\" or \"500ms\", or a number of milliseconds)"
    ))
}

/// Parses a Go duration ("1h30m", "1.5s", "250ms", "100us") or a bare number of milliseconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok().map(Duration::from_millis);
    }
    let mut rest = text;
    let mut total_nanos = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if number.is_empty() || number == "." {
            return None;
        }
        let unit_nanos = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total_nanos += number.parse::<f64>().ok()? * unit_nanos;
        rest = after;
    }
    (total_nanos.is_finite() && total_nanos < u64::MAX as f64).then(|| Duration::from_nanos(total_nanos as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> ComponentConfig {
        ComponentConfig { metadata: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Default::default() }
    }

    #[test]
    fn parses_go_durations_and_bare_milliseconds() {
        assert_eq!(parse_duration("60s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("100us"), Some(Duration::from_micros(100)));
        assert_eq!(parse_duration("250"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        for bad in ["", "s", "10x", "-5s", "1.2.3s", "abc", "5 s"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn typed_values_name_their_key_when_wrong() {
        let c = config(&[("n", "ten"), ("b", "yes"), ("d", "soon"), ("zero", "0s"), ("ok", "true"), ("empty", " ")]);
        for (err, key) in [
            (c.unsigned("n").unwrap_err(), "n"),
            (c.flag("b").unwrap_err(), "b"),
            (c.duration("d", Duration::ZERO).unwrap_err(), "d"),
            (c.positive_duration("zero", Duration::ZERO).unwrap_err(), "zero"),
        ] {
            assert!(matches!(&err, BrokerError::Config(m) if m.starts_with(key)), "{err}");
        }
        assert!(c.flag("ok").unwrap());
        assert!(!c.flag("missing").unwrap());
        assert_eq!(c.duration("zero", Duration::from_secs(1)).unwrap(), Duration::ZERO);
        assert_eq!(c.duration("empty", Duration::from_secs(1)).unwrap(), Duration::from_secs(1));
        assert_eq!(c.unsigned("empty").unwrap(), None);
    }
}

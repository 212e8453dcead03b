//! Reading component metadata values the way Dapr components read them: an empty value means
//! "use the default", durations are Go durations or bare milliseconds, numbers and booleans as
//! Go's `strconv` accepts them.

use super::{BrokerError, ComponentConfig};
use dapr_rs_proto::go_value::{parse_go_bool, parse_go_duration};
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
        let Some(raw) = self.value(key) else { return Ok(false) };
        parse_go_bool(raw).ok_or_else(|| BrokerError::Config(format!("{key}: {raw:?} is not a boolean (expected \"true\" or \"false\")")))
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
    parse_go_duration(text)
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

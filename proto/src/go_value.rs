//! Values as Go reads them, for the flags, metadata and YAML daprd takes: `strconv.ParseBool`,
//! `time.ParseDuration` and the range of a `time.Duration`. One home, so the sidecar, the
//! components and the client accept exactly the same spellings.

use std::time::Duration;

/// Go's `strconv.ParseBool`, which daprd uses for metadata flags.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The longest Go `time.Duration` (`math.MaxInt64` nanoseconds, about 292 years): Go refuses a
/// longer one as an invalid duration, and it keeps `now + d` (an `expiration`, a deadline) in range.
pub const MAX_GO_DURATION: Duration = Duration::new(9_223_372_036, 854_775_807);

/// A number of seconds from outside (a flag, an environment variable, a binding's argument) as a
/// `Duration`: `None` for a negative, NaN or infinite number and for one past [`MAX_GO_DURATION`],
/// where `Duration::from_secs_f64` would panic or a deadline computed from it would overflow.
pub fn duration_from_secs(secs: f64) -> Option<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(secs).ok().filter(|d| *d <= MAX_GO_DURATION)
}

/// Go's `time.ParseDuration` for non-negative values, up to [`MAX_GO_DURATION`] as in Go.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    // A value too large for a Duration is no duration (from_secs_f64 would panic on it).
    Duration::try_from_secs_f64(total).ok().filter(|d| *d <= MAX_GO_DURATION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_booleans_are_strconv_parse_bool() {
        for yes in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(yes), Some(true), "{yes}");
        }
        for no in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(no), Some(false), "{no}");
        }
        for neither in ["", "yes", "tRUE", " true", "maybe"] {
            assert_eq!(parse_go_bool(neither), None, "{neither}");
        }
    }

    #[test]
    fn go_durations_too_large_are_refused_not_a_panic() {
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("99999999999999999999h"), None);
    }

    #[test]
    fn seconds_from_outside_become_durations_only_in_range() {
        assert_eq!(duration_from_secs(1.5), Some(Duration::from_millis(1500)));
        assert_eq!(duration_from_secs(0.0), Some(Duration::ZERO));
        assert_eq!(duration_from_secs(9_223_372_036.0), Some(Duration::from_secs(9_223_372_036)));
        for bad in [-1.0, -0.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e30, 9_223_372_037.0] {
            assert_eq!(duration_from_secs(bad), None, "{bad}");
        }
    }
}

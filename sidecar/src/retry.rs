//! How a delivery the app did not accept is tried again: Dapr's Resiliency retry policies
//! (`constant` or `exponential` back-off, a bounded or unbounded count) and the per-attempt timeout.

use std::time::{Duration, Instant};

/// The back-off between two attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backoff {
    /// The same delay before every retry.
    Constant(Duration),
    /// Starts at `initial` and grows by `multiplier` up to `max_interval`, each delay randomised by
    /// ±`randomization` (as dapr/kit's retry, on cenkalti/backoff); no retry starts after `max_elapsed`.
    Exponential { initial: Duration, multiplier: f64, randomization: f64, max_interval: Duration, max_elapsed: Option<Duration> },
}

/// How often a RETRY is tried again before the message goes to the dead-letter topic (or back to
/// the broker).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub backoff: Backoff,
    /// `None`: retry until the app takes the event (Resiliency `maxRetries: -1`).
    pub max_retries: Option<u32>,
}

/// Dapr's defaults for a Resiliency retry policy (dapr/kit `retry.DefaultConfig`).
pub const DAPR_CONSTANT_DURATION: Duration = Duration::from_secs(5);
pub const DAPR_EXPONENTIAL_INITIAL: Duration = Duration::from_millis(500);
pub const DAPR_EXPONENTIAL_MULTIPLIER: f64 = 1.5;
pub const DAPR_EXPONENTIAL_RANDOMIZATION: f64 = 0.5;
pub const DAPR_EXPONENTIAL_MAX_INTERVAL: Duration = Duration::from_secs(60);
pub const DAPR_EXPONENTIAL_MAX_ELAPSED: Duration = Duration::from_secs(15 * 60);

impl Default for RetryPolicy {
    /// Without a Resiliency policy: three quick retries, then the broker's redelivery.
    fn default() -> Self {
        Self {
            backoff: Backoff::Exponential {
                initial: Duration::from_millis(50),
                multiplier: 2.0,
                randomization: 0.0,
                max_interval: Duration::from_secs(2),
                max_elapsed: None,
            },
            max_retries: Some(3),
        }
    }
}

impl RetryPolicy {
    /// The delays before each retry, in order; the iterator ends when no retry is left.
    pub fn delays(&self) -> RetryDelays {
        let current = match self.backoff {
            Backoff::Constant(d) => d,
            Backoff::Exponential { initial, .. } => initial,
        };
        RetryDelays { policy: *self, retries: 0, current, started: Instant::now() }
    }
}

pub struct RetryDelays {
    policy: RetryPolicy,
    retries: u32,
    current: Duration,
    started: Instant,
}

impl Iterator for RetryDelays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.policy.max_retries.is_some_and(|max| self.retries >= max) {
            return None;
        }
        self.retries = self.retries.saturating_add(1);
        match self.policy.backoff {
            Backoff::Constant(delay) => Some(delay),
            Backoff::Exponential { multiplier, randomization, max_interval, max_elapsed, .. } => {
                let base = self.current;
                // `mul_f64` panics past `Duration::MAX`; a YAML `maxInterval` can be that long.
                self.current = scale(base, multiplier).min(max_interval);
                // Jitter spreads the retries of many messages failing together.
                let factor = 1.0 - randomization + 2.0 * randomization * fastrand::f64();
                let delay = scale(base, factor);
                if max_elapsed.is_some_and(|limit| self.started.elapsed().saturating_add(delay) > limit) {
                    return None;
                }
                Some(delay)
            }
        }
    }
}

/// `d * factor`, saturating at `Duration::MAX` (and at zero for a negative or NaN factor).
fn scale(d: Duration, factor: f64) -> Duration {
    let secs = d.as_secs_f64() * factor;
    if secs.is_nan() || secs <= 0.0 { Duration::ZERO } else { Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX) }
}

/// What the Resiliency `targets.components.<pubsub>.inbound` asks of deliveries to the app.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InboundPolicy {
    pub retry: RetryPolicy,
    /// Each attempt is given up (and counts as a RETRY) after this long.
    pub timeout: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_three_doubling_retries() {
        let delays: Vec<_> = RetryPolicy::default().delays().collect();
        assert_eq!(delays, [Duration::from_millis(50), Duration::from_millis(100), Duration::from_millis(200)]);
    }

    #[test]
    fn constant_policies_repeat_their_duration_and_unbounded_ones_never_end() {
        let constant = RetryPolicy { backoff: Backoff::Constant(Duration::from_millis(7)), max_retries: Some(2) };
        assert_eq!(constant.delays().collect::<Vec<_>>(), [Duration::from_millis(7); 2]);
        assert_eq!(RetryPolicy { max_retries: Some(0), ..constant }.delays().next(), None);
        assert_eq!(RetryPolicy { max_retries: None, ..constant }.delays().take(1000).count(), 1000);
    }

    #[test]
    fn exponential_delays_grow_with_jitter_up_to_the_cap() {
        let policy = RetryPolicy {
            backoff: Backoff::Exponential {
                initial: DAPR_EXPONENTIAL_INITIAL,
                multiplier: DAPR_EXPONENTIAL_MULTIPLIER,
                randomization: DAPR_EXPONENTIAL_RANDOMIZATION,
                max_interval: Duration::from_secs(2),
                max_elapsed: Some(DAPR_EXPONENTIAL_MAX_ELAPSED),
            },
            max_retries: Some(10),
        };
        let delays: Vec<_> = policy.delays().collect();
        assert_eq!(delays.len(), 10);
        let (first, last) = (delays[0], delays[9]);
        assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(750), "{first:?}");
        assert!(last >= Duration::from_secs(1) && last <= Duration::from_secs(3), "{last:?}");
    }

    #[test]
    fn huge_intervals_saturate_instead_of_panicking() {
        let policy = RetryPolicy {
            backoff: Backoff::Exponential {
                initial: Duration::MAX / 2,
                multiplier: 1e300,
                randomization: 0.5,
                max_interval: Duration::MAX,
                max_elapsed: Some(Duration::MAX),
            },
            max_retries: Some(5),
        };
        assert!(policy.delays().count() <= 5);
        assert_eq!(scale(Duration::MAX, 2.0), Duration::MAX);
        assert_eq!(scale(Duration::from_secs(1), f64::NAN), Duration::ZERO);
        assert_eq!(scale(Duration::from_secs(2), 0.5), Duration::from_secs(1));
    }
}

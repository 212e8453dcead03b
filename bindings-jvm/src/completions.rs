//! Publishes started by the Java layer ([`crate::Client::start_publish`]) end here, each under
//! the token its caller gave, and one JVM thread takes them in batches ([`Completions::take`]).
//! Through a uniffi `suspend fun` a publish cost the JVM a JNA callback from a tokio thread, a
//! coroutine dispatch and five more native calls, each allocating JNA structures that only a GC
//! frees (JNA tracks every one in a global map); this way a publish is one native call and its
//! reply a share of one.

use crate::errors::DaprError;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

/// A finished call: its token, and whether it failed ([`Completions::failure`] gives the error).
#[derive(Debug, Clone, uniffi::Record)]
pub struct Completion {
    pub token: i64,
    pub failed: bool,
}

#[derive(Default)]
struct State {
    done: Vec<Completion>,
    failures: HashMap<i64, DaprError>,
}

/// The process's finished calls, waiting to be taken.
#[derive(Default, uniffi::Object)]
pub struct Completions {
    state: Mutex<State>,
    ready: Condvar,
}

/// The longest a [`Completions::take`] waits: its caller loops, so this only bounds how long a
/// taker stays in native code at once.
const MAX_TAKE_WAIT: Duration = Duration::from_secs(60);

impl Completions {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records how the call under `token` ended and wakes the taker.
    pub fn finish(&self, token: i64, outcome: Result<(), DaprError>) {
        let mut state = self.state();
        let failed = match outcome {
            Ok(()) => false,
            Err(e) => {
                state.failures.insert(token, e);
                true
            }
        };
        state.done.push(Completion { token, failed });
        // Only the first of a batch wakes the taker; it takes the rest with it.
        if state.done.len() == 1 {
            self.ready.notify_one();
        }
    }
}

/// The process's one [`Completions`].
#[uniffi::export]
pub fn completions() -> Arc<Completions> {
    static COMPLETIONS: OnceLock<Arc<Completions>> = OnceLock::new();
    COMPLETIONS.get_or_init(Arc::default).clone()
}

#[uniffi::export]
impl Completions {
    /// Every call finished since the last take, waiting up to `max_wait_ms` (at most a minute)
    /// for the first; empty when none finished in that time.
    pub fn take(&self, max_wait_ms: i64) -> Vec<Completion> {
        let wait = Duration::from_millis(u64::try_from(max_wait_ms).unwrap_or(0)).min(MAX_TAKE_WAIT);
        let state = self.state();
        let (mut state, _) = self.ready.wait_timeout_while(state, wait, |s| s.done.is_empty()).unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut state.done)
    }

    /// Throws the error of the call under `token`, which [`Completions::take`] gave as failed
    /// (once: the error is handed over).
    pub fn failure(&self, token: i64) -> Result<(), DaprError> {
        match self.state().failures.remove(&token) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

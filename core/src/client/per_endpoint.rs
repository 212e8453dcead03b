//! What clients of one sidecar endpoint share in a process (a gRPC channel, an HTTP connection
//! pool), so a client per message costs no new connection.

use crate::Result;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// One value per endpoint, shared by every client of the process. A value is only reused while
/// the runtime that drives its connections lives (tests and apps may drop a runtime and start
/// another); a forked child starts afresh: the parent's connections are driven by threads the
/// child lacks.
pub(super) struct PerEndpoint<T> {
    values: OnceLock<Mutex<Values<T>>>,
}

struct Values<T> {
    /// The process that made them.
    owner: u32,
    by_endpoint: HashMap<String, Shared<T>>,
}

struct Shared<T> {
    value: T,
    /// Dangles once that runtime is dropped (its tasks, holding the `Arc`, are dropped with it).
    runtime_alive: Weak<()>,
}

impl<T: Clone> PerEndpoint<T> {
    pub(super) const fn new() -> Self {
        Self { values: OnceLock::new() }
    }

    /// The value for `endpoint`, made by `make` when there is none yet (or only a dead one).
    /// Must be called inside a tokio runtime.
    pub(super) fn get_or_make(&self, endpoint: &str, make: impl FnOnce() -> Result<T>) -> Result<T> {
        let values = self.values.get_or_init(|| Mutex::new(Values { owner: std::process::id(), by_endpoint: HashMap::new() }));
        let mut guard = values.lock().unwrap_or_else(|e| e.into_inner());
        let values = &mut *guard;
        if values.owner != std::process::id() {
            // Forgotten, not dropped: dropping would wake tasks of the parent's runtime.
            std::mem::forget(std::mem::take(&mut values.by_endpoint));
            values.owner = std::process::id();
        }
        if let Some(shared) = values.by_endpoint.get(endpoint).filter(|s| s.runtime_alive.strong_count() > 0) {
            return Ok(shared.value.clone());
        }
        let value = make()?;
        let alive = Arc::new(());
        let runtime_alive = Arc::downgrade(&alive);
        tokio::spawn(async move {
            let _alive = alive;
            std::future::pending::<()>().await
        });
        values.by_endpoint.insert(endpoint.to_owned(), Shared { value: value.clone(), runtime_alive });
        Ok(value)
    }
}

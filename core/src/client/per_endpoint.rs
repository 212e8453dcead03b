//! What clients of one sidecar endpoint share in a process (a gRPC channel, an HTTP connection
//! pool), so a client per message costs no new connection. Each runtime has its own: a connection's
//! I/O runs on the runtime that made it, and a caller driving a runtime of its own
//! ([`crate::this_thread_runtime`]) gains only if no other runtime's thread must wake for its calls.

use crate::Result;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// One value per endpoint and runtime, shared by every client of the process on that runtime. A
/// runtime's values are dropped once it is (tests and apps drop runtimes, and a thread driving its
/// own drops it when it exits); a forked child starts afresh: the parent's connections are driven
/// by threads the child lacks.
pub(super) struct PerEndpoint<T> {
    values: OnceLock<Mutex<Values<T>>>,
}

struct Values<T> {
    /// The process that made them.
    owner: u32,
    by_runtime: HashMap<tokio::runtime::Id, OfRuntime<T>>,
}

struct OfRuntime<T> {
    /// Dangles once the runtime is dropped (its tasks, holding the `Arc`, are dropped with it).
    alive: Weak<()>,
    by_endpoint: HashMap<String, T>,
}

impl<T: Clone> PerEndpoint<T> {
    pub(super) const fn new() -> Self {
        Self { values: OnceLock::new() }
    }

    /// The current runtime's value for `endpoint`, made by `make` when there is none yet. Must be
    /// called inside a tokio runtime.
    pub(super) fn get_or_make(&self, endpoint: &str, make: impl FnOnce() -> Result<T>) -> Result<T> {
        let values = self.values.get_or_init(|| Mutex::new(Values { owner: std::process::id(), by_runtime: HashMap::new() }));
        let mut guard = values.lock().unwrap_or_else(|e| e.into_inner());
        let values = &mut *guard;
        if values.owner != std::process::id() {
            // Forgotten, not dropped: dropping would wake tasks of the parent's runtime.
            std::mem::forget(std::mem::take(&mut values.by_runtime));
            values.owner = std::process::id();
        }
        let runtime = tokio::runtime::Handle::current().id();
        if let Some(value) = values.by_runtime.get(&runtime).and_then(|of| of.by_endpoint.get(endpoint)) {
            return Ok(value.clone());
        }
        let value = make()?;
        if !values.by_runtime.contains_key(&runtime) {
            // A runtime's id is never reused within a process, so what dropped runtimes left is
            // only memory; it goes when a new runtime comes.
            values.by_runtime.retain(|_, of| of.alive.strong_count() > 0);
            let alive = Arc::new(());
            let of = OfRuntime { alive: Arc::downgrade(&alive), by_endpoint: HashMap::new() };
            tokio::spawn(async move {
                let _alive = alive;
                std::future::pending::<()>().await
            });
            values.by_runtime.insert(runtime, of);
        }
        if let Some(of) = values.by_runtime.get_mut(&runtime) {
            of.by_endpoint.insert(endpoint.to_owned(), value.clone());
        }
        Ok(value)
    }
}

//! `dapr_rs._native`: the private native module behind the `dapr_rs` package. It converts Python
//! values into `dapr-rs-core` calls and back; every protocol rule stays in core.

mod app;
#[cfg(feature = "cli")]
mod cli;
mod client;
mod errors;
mod event;
mod handler;
mod http_routes;
mod runtime;
mod stream;

use pyo3::prelude::*;

/// Rust's allocations in the module go to mimalloc (see ARCHITECTURE.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::PyDaprClient>()?;
    m.add_class::<app::PyApp>()?;
    m.add_class::<event::PyTopicEvent>()?;
    m.add_class::<http_routes::PyHttpSubscriptions>()?;
    m.add_class::<http_routes::PyHttpDelivery>()?;
    m.add_class::<stream::PySubscriptionStream>()?;
    m.add_function(wrap_pyfunction!(handler::in_topic_handler, m)?)?;
    // The bench's floors (bench/python/publish.py).
    m.add_function(wrap_pyfunction!(runtime::_round_trip, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::_round_trip_async, m)?)?;
    #[cfg(feature = "cli")]
    m.add_function(wrap_pyfunction!(cli::run_cli, m)?)?;
    errors::add_classes(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

//! dapr-rs core behind a C ABI (`libdapr_rs_ffi.so`), for the .NET binding `DaprRs` (and any other
//! language with a C FFI). It only converts between C values and core types; every rule lives in
//! core.
//!
//! # The ABI in one page
//! - **Requests in**: a call with arguments beyond handles takes one encoded protobuf message of
//!   `dapr_rs.bridge.v1` (`proto/dapr_rs_bridge.proto`; [`requests`] decodes them) as a
//!   `(ptr, len)` pair owned by the caller and read before the call returns. A malformed request
//!   is an INVALID_ARGUMENT error naming what is wrong.
//! - **Bytes out** are a [`DaprBuffer`] that Rust allocates and only Rust frees
//!   (`dapr_rs_buffer_free`); an event's bytes live until the event is acknowledged.
//! - **Errors** are a [`DaprError`] (the exception class core picked for it, gRPC code, Dapr
//!   `errorCode`, message), freed with `dapr_rs_error_free`. Synchronous calls return one (null on
//!   success).
//! - **Handles** (client, app host, subscription stream, event) are opaque pointers,
//!   each with its own `_free` function; freeing a handle never breaks a call still running on it.
//! - **Async calls** take a `user_data` pointer and return an operation handle. They finish on a
//!   tokio thread by calling the one completion callback given to `dapr_rs_init` with
//!   `(user_data, result, error)`; the operation can be cancelled (`dapr_rs_operation_cancel`,
//!   which completes it with CANCELLED) and is freed by the caller (`dapr_rs_operation_free`).
//!   The callback must only hand the result over (complete a task), never run user code.
//! - **Deliveries are pulled**: the caller asks for the next event (`dapr_rs_app_next`,
//!   `dapr_rs_stream_next`), reads it (`dapr_rs_event_view`) and answers it with a status or its
//!   handler's failure (`dapr_rs_event_ack`, which frees it); core's one rule turns a failure into
//!   RETRY. A batch handler's batches are pulled whole (`dapr_rs_app_next_batch`), read as one
//!   encoded `DeliveredBatch` (`dapr_rs_batch_view`) and answered with statuses by entry id or a
//!   failure (`dapr_rs_batch_ack`); core makes an entry left out, or every entry of a failure, RETRY.
//!   So no user code ever runs on a tokio thread.
//! - **Logs**: core's log lines (a handler's failure, a stream reconnecting) go to stderr, warnings
//!   and errors unless `RUST_LOG` says otherwise.
//! - `dapr_rs_shutdown` stops the runtime (Mono does not exit while a runtime thread that has
//!   called into managed code lives); the next call starts a new one.

/// Rust's allocations in the library go to mimalloc (see ARCHITECTURE.md, "Allocator").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod abi;
mod app;
mod batch;
mod client;
mod delivery;
/// Public for the fuzz target in `fuzz/`; C callers see only the `extern "C"` functions.
pub mod requests;
mod runtime;

pub use abi::{DaprBuffer, DaprError, DaprErrorKind};
pub use batch::DaprBatchView;
pub use delivery::DaprEventView;

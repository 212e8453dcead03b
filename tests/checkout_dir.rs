//! Where a Rust test finds this checkout's files (`tests/vectors/`, `scripts/`), included by the
//! tests that read them (`#[path]`), so `env!` below is the including crate's.

/// The including crate's directory in this checkout: cargo's `CARGO_MANIFEST_DIR` at run time
/// first, since a test binary reused from a shared target dir may have been compiled in another
/// clone, whose files (older, or gone) its compile-time path names.
pub fn checkout_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()).into()
}

//! The shared vectors of `tests/vectors/` whose rules are the sidecar's and proto's, one module per
//! file: the envelope it writes, the route it picks, the statuses of the errors it answers with.
//! The others are read where their rule lives: core/tests (content types, handler answers) and
//! cli/tests/error_vectors.rs (a running sidecar's error answers, and the errors core raises).

mod envelopes;
mod errors;
mod routing;
mod support;

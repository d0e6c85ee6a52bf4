//! Benchmarks and the constant-time test of `mfa-core` (not published).
//!
//! - `cargo bench -p mfa-benches`: criterion benches, each engine figure
//!   next to a baseline measured in the same run (see `docs/PERFORMANCE.md`).
//! - `cargo run --release -p mfa-benches --example ct_eq`: the dudect
//!   constant-time test of `mfa_core::crypto::ct_eq`.
//! - `cargo run --release -p mfa-benches --example totp_loop`: a plain loop
//!   of TOTP verifications to run under a profiler.
//!
//! The library part holds only what the benches share.

use std::future::Future;
use std::task::{Context, Poll, Waker};

/// Drives a future that does not wait on I/O (the engine on `MemoryStore`)
/// to completion on the current thread: polls it with a no-op waker, so the
/// measurement holds no executor overhead beyond the poll itself. A future
/// that does wait is polled again after a yield (busy waiting), which is
/// correct but meant only for the in-memory store.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

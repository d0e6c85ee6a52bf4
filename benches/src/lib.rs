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

use mfa_core::LockoutRules;
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

/// The lock-out every bench runs with: the back-off as late as the
/// configuration allows (98 free failures, hard stop at 100, the NIST
/// ceiling the builder enforces). Wrong-code benches clear the count,
/// untimed, well before it; the back-off arithmetic runs either way.
///
/// ```
/// let rules = mfa_benches::late_lockout();
/// assert!(mfa_core::MfaConfig::builder("Bench").lockout(rules).build().is_ok());
/// ```
pub fn late_lockout() -> LockoutRules {
    LockoutRules {
        free_failures: 98,
        hard_stop: 100,
        ..LockoutRules::default()
    }
}

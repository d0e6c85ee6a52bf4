//! dudect constant-time test of `mfa_core::crypto::ct_eq`, the comparison of
//! code hashes and token digests: equal 32-byte digests (class Left) against
//! digests that differ (class Right; half differ in the first byte, half in
//! the last, the cases an early-exit comparison would tell apart).
//!
//! `cargo run --release -p mfa-benches --example ct_eq` (add
//! `-- --continuous ct_eq_32` to run until interrupted). A |t| above 5
//! suggests a timing leak; on 2 noisy cores even constant-time code crosses
//! it now and then: read several runs, and never gate CI on one.
//! A control bench, `slice_eq_32` (`==` on the same inputs, which exits
//! early), shows what a leak looks like.

// Example code driven by dudect's macro: it generates undocumented items.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use dudect_bencher::rand::{Rng, RngExt};
use dudect_bencher::{BenchRng, Class, CtRunner, ctbench_main};
use mfa_core::crypto::ct_eq;

const N: usize = 1_000_000;

fn inputs(rng: &mut BenchRng) -> Vec<(Class, [u8; 32], [u8; 32])> {
    (0..N)
        .map(|_| {
            let mut a = [0u8; 32];
            rng.fill_bytes(&mut a);
            let mut b = a;
            if rng.random::<bool>() {
                (Class::Left, a, b)
            } else {
                let i = if rng.random::<bool>() { 0 } else { 31 };
                b[i] ^= 1 + (rng.random::<u8>() & 0x7f);
                (Class::Right, a, b)
            }
        })
        .collect()
}

fn ct_eq_32(runner: &mut CtRunner, rng: &mut BenchRng) {
    for (class, a, b) in inputs(rng) {
        runner.run_one(class, || {
            ct_eq(std::hint::black_box(&a), std::hint::black_box(&b))
        });
    }
}

fn slice_eq_32(runner: &mut CtRunner, rng: &mut BenchRng) {
    for (class, a, b) in inputs(rng) {
        runner.run_one(class, || {
            std::hint::black_box(&a[..]) == std::hint::black_box(&b[..])
        });
    }
}

ctbench_main!(ct_eq_32, slice_eq_32);

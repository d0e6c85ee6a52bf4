//! Model-based security tests of the engine and the HTTP contract.
//!
//! Generated cases (see `model/mod.rs`) give three users initial factor
//! sets, a rollout policy (cohorts by platform and group, methods per
//! cohort including single-method cohorts, `enforce_from` in the past or
//! future, grace, trust on/off, `trust_for`, re-login cut-offs), then an
//! arbitrary sequence of engine and `mfa_core::http` calls: logins through
//! `http::begin_login` claiming platforms (web, android, ios, white-label)
//! and the staff group, with trust cookies (valid, another user's,
//! revoked, tampered), send code, verify right/wrong (TOTP, SMS/email,
//! recovery code) with or without trusting the device, step-up, enrol
//! TOTP/SMS/email and confirm, recovery codes, remove factor, revoke
//! devices, password change, admin reset and unlock, policy changes
//! mid-session, logout, replayed old session tokens, tampered, re-serialized
//! and foreign-key session tokens, clock moves from a second to 100 days.
//! A reference model runs beside the engine; after **every** step the
//! invariants below are checked, and the model's predictions of what must
//! succeed (a right code for a live challenge of an unlocked user, a valid
//! trust cookie, a first enrolment, a valid session) are asserted too, so an
//! engine that refuses everything fails.
//!
//! The invariants:
//! - I1: A user with at least one active factor ends a login only by a verified factor, a recovery code, or a valid trusted device of theirs; never by the policy (no `CompletedBy::NotRequired`, no `LoginStep::OfferEnroll`/`MustEnroll` for them).
//! - I2: A session that has checked only the password may enrol a first factor only when the user has no active factor (never enrolled, or after an admin reset).
//! - I3: Assurance is raised only by the engine (verify, enrolment confirmation, step-up, trusted device at login). (Type-level: `Assurance::SecondFactor/TrustedDevice` and `Caller` are `#[non_exhaustive]`; session records are sealed with an HMAC and opened only by `mfa_core::http::admit`. This test checks the dynamic part: a session token not produced by the engine (tampered, from another engine's key, or re-serialized) is never admitted as a login.)
//! - I4: What the client claims (platform, groups) may change which methods are offered first and how long trust lasts; it never changes whether an enrolled user is asked for a factor.
//!
//! Run: `cargo test -p mfa-core --all-features --test model` (800 cases
//! of up to 40 ops by default; `PROPTEST_CASES=N` overrides the count,
//! `MODEL_OPS=N` the longest sequence).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "model/mod.rs"]
mod machine;

use proptest::test_runner::{Config, TestRunner};

fn env_or(var: &str, default: u32) -> u32 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn engine_and_http_keep_the_invariants() {
    let cases = env_or("PROPTEST_CASES", 800);
    let ops = env_or("MODEL_OPS", 40) as usize;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..Config::default()
    });
    let started = std::time::Instant::now();
    // Shrinking re-runs failing cases hundreds of times: keep their panic
    // messages out of the output (proptest reports the minimal one).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = runner.run(&machine::case(1..ops + 1), |case| {
        rt.block_on(machine::run_case(mfa_core::MemoryStore::new(), &case, ""));
        Ok(())
    });
    std::panic::set_hook(hook);
    let stats = machine::stats();
    eprintln!(
        "model: {cases} cases in {:.1} s; {}",
        started.elapsed().as_secs_f64(),
        stats
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    // Not vacuous: with enough cases every kind of success was seen.
    if cases >= 64 {
        for (name, v) in &stats {
            assert!(*v > 0, "no {name} in {cases} cases: the model is not exercised");
        }
    }
}

//! A plain loop of wrong-code TOTP verifications through the engine on
//! `MemoryStore` (or of totp-rs `check`), for profilers: criterion's
//! harness would dominate a profile. docs/PERFORMANCE.md's breakdown of
//! the engine's time came from
//!
//! ```sh
//! RUSTFLAGS="-C force-frame-pointers=yes" cargo build --release -p mfa-benches --example totp_loop
//! perf record --call-graph fp target/release/examples/totp_loop 2000000
//! perf report --children
//! ```
//!
//! `totp_loop N` runs N engine verifications, `totp_loop N rs` N totp-rs
//! checks; each prints ns per operation (a rough figure: the criterion
//! benches are the measurement).

// Example code: a failed setup step must stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa_benches::block_on;
use mfa_core::*;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N"))
        .unwrap_or(200_000);
    let totp_rs_only = std::env::args().nth(2).as_deref() == Some("rs");
    // As in the criterion benches: 98 free failures, cleared every 64.
    let config = MfaConfig::builder("Bench")
        .lockout(mfa_benches::late_lockout())
        .build()
        .unwrap();
    let start = 1_700_000_010u64;
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix_secs(start as i64)));
    let mfa = Mfa::builder(
        MemoryStore::new(),
        Keys::new(&[7; 32], 1, &[9; 32]).unwrap(),
        config,
    )
    .clock(clock.clone())
    .policy(Policy::required_from(Timestamp::EPOCH))
    .build();
    let user = UserId::new("alice").unwrap();
    let caller = Caller::password_only(Audience::new(Platform::WEB));
    let request = EnrollRequest::Totp {
        label: "Phone".into(),
        account_name: "alice@example.org".into(),
    };
    let Enrollment::Totp(t) = block_on(mfa.begin_enrollment(&user, request, &caller)).unwrap() else {
        panic!("not a TOTP enrolment")
    };
    let seed = base32::decode(
        base32::Alphabet::Rfc4648 { padding: false },
        t.secret_base32.expose(),
    )
    .unwrap();
    let rs = totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(seed)
        .build()
        .unwrap();
    block_on(mfa.confirm_enrollment(&user, &t.factor, &rs.generate(start).to_string())).unwrap();
    clock.advance(Duration::from_secs(60));
    let at = start + 60;
    let window: Vec<String> = [at - 30, at, at + 30]
        .iter()
        .map(|&s| rs.generate(s).to_string())
        .collect();
    let wrong = (0u32..)
        .map(|v| format!("{:06}", (v * 7919 + 123_457) % 1_000_000))
        .find(|c| !window.contains(c))
        .unwrap();
    let attempt = Attempt::login(
        AttemptTarget::Totp(t.factor.clone()),
        wrong.clone(),
        Audience::new(Platform::WEB),
    );
    let began = Instant::now();
    for i in 0..n {
        if totp_rs_only {
            black_box(rs.check(black_box(&wrong), at));
            continue;
        }
        if i % 64 == 0 {
            block_on(mfa.store().clear_failures(&user)).unwrap();
        }
        let r = block_on(mfa.verify(&user, &attempt));
        assert!(matches!(r, Err(MfaError::InvalidCode { .. })));
    }
    let what = if totp_rs_only {
        "totp-rs check"
    } else {
        "engine verify"
    };
    println!(
        "{what}: {:.0} ns/op (wrong code)",
        began.elapsed().as_nanos() as f64 / n as f64
    );
}

//! Authenticator apps on a `ManualClock` (docs/SECURITY-REVIEW.md §2): enrolment
//! (160-bit secret, URI, QR), confirmation only by a correct code, the ±1
//! step window (configurable), replay refusal for every step <= the last
//! accepted, strict digit parsing, several TOTP factors per user.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use mfa_core::*;

const STEP: Duration = Duration::from_secs(30);

#[tokio::test]
async fn enrolment_gives_a_160_bit_secret_uri_and_qr_codes() {
    let f = fx();
    let u = user("totp-enrol");
    let e = f.begin_totp(&u, &f.password_only()).await.unwrap();
    let seed = decode_base32(e.secret_base32.expose());
    assert_eq!(seed.len(), 20);
    assert!(
        e.otpauth_uri
            .expose()
            .starts_with("otpauth://totp/Alliance%20Homes:")
    );
    assert!(e.qr_svg.expose().contains("<svg"));
    assert_eq!(&e.qr_png.expose()[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(e.secret_grouped().expose().split(' ').count(), 8);
    // Two enrolments never share a secret.
    let other = f
        .begin_totp(&user("totp-enrol-2"), &f.password_only())
        .await
        .unwrap();
    assert_ne!(other.secret_base32.expose(), e.secret_base32.expose());
}

#[tokio::test]
async fn a_pending_factor_is_unusable_until_confirmed_by_a_correct_code() {
    let f = fx_policy(Policy::required_from(T0));
    let u = user("totp-pending");
    let e = f.begin_totp(&u, &f.password_only()).await.unwrap();
    let seed = decode_base32(e.secret_base32.expose());
    let code = totp_code(&seed, f.now());

    // Not a login factor yet.
    let err = f.verify_totp(&u, &e.factor, &code).await.unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
    assert!(f.mfa.factors(&u).await.unwrap().is_empty());
    assert!(matches!(
        f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
        LoginStep::MustEnroll { .. }
    ));

    // A wrong code does not confirm.
    let err = f
        .mfa
        .confirm_enrollment(&u, &e.factor, &wrong(&code))
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::InvalidCode { .. }), "{err:?}");
    let err = f
        .mfa
        .confirm_enrollment(&u, &e.factor, "12345")
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::MalformedCode { digits: 6 }), "{err:?}");
    assert!(f.mfa.factors(&u).await.unwrap().is_empty());

    let done = f.mfa.confirm_enrollment(&u, &e.factor, &code).await.unwrap();
    assert_eq!(done.factor.kind, FactorKind::Totp);
    assert_eq!(done.factor.label, "Phone");
    assert_eq!(done.factor.confirmed_at, Some(f.now()));
    assert!(f.mfa.is_fresh(&done.assurance));
    assert!(f.saw("factor_enrolled"));
    assert!(matches!(
        f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
        LoginStep::ChooseFactor { .. }
    ));
}

#[tokio::test]
async fn the_confirmation_code_cannot_be_replayed_to_log_in() {
    let f = fx();
    let u = user("totp-confirm-replay");
    let e = f.begin_totp(&u, &f.password_only()).await.unwrap();
    let seed = decode_base32(e.secret_base32.expose());
    let code = totp_code(&seed, f.now());
    let _ = f.mfa.confirm_enrollment(&u, &e.factor, &code).await.unwrap();
    let err = f.verify_totp(&u, &e.factor, &code).await.unwrap_err();
    assert!(matches!(err, MfaError::InvalidCode { .. }), "{err:?}");
    assert!(f.saw("replay_refused"));
}

#[tokio::test]
async fn an_unconfirmed_enrolment_expires_after_15_minutes() {
    let f = fx();
    let u = user("totp-stale");
    let e = f.begin_totp(&u, &f.password_only()).await.unwrap();
    let seed = decode_base32(e.secret_base32.expose());
    f.advance(15 * MIN + SEC);
    let code = totp_code(&seed, f.now());
    let err = f.mfa.confirm_enrollment(&u, &e.factor, &code).await.unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
}

#[tokio::test]
async fn codes_one_step_either_side_are_accepted() {
    let f = fx();
    let u = user("totp-window");
    let t = f.enroll_totp(&u).await;
    f.advance(10 * MIN);
    // One step behind (a slow phone).
    let behind = totp_code(&t.seed, f.now() - STEP);
    let _ = f.verify_totp(&u, &t.id, &behind).await.unwrap();
    // Later, one step ahead (a fast phone).
    f.advance(10 * MIN);
    let ahead = totp_code(&t.seed, f.now() + STEP);
    let ok = f.verify_totp(&u, &t.id, &ahead).await.unwrap();
    assert_eq!(ok.factor, Some(t.id.clone()));
    assert!(
        matches!(ok.assurance, Assurance::SecondFactor { at, method: FactorKind::Totp, .. } if at == f.now()),
        "{:?}",
        ok.assurance
    );
}

#[tokio::test]
async fn codes_two_steps_away_are_refused() {
    let f = fx();
    let u = user("totp-window-2");
    let t = f.enroll_totp(&u).await;
    f.advance(10 * MIN);
    let valid: Vec<String> = [f.now() - STEP, f.now(), f.now() + STEP]
        .into_iter()
        .map(|at| totp_code(&t.seed, at))
        .collect();
    for at in [f.now() - 2 * STEP, f.now() + 2 * STEP, f.now() - 10 * STEP] {
        let code = totp_code(&t.seed, at);
        if valid.contains(&code) {
            continue; // a one-in-a-million collision
        }
        let err = f.verify_totp(&u, &t.id, &code).await.unwrap_err();
        assert!(matches!(err, MfaError::InvalidCode { .. }), "{at}: {err:?}");
    }
}

#[tokio::test]
async fn the_window_is_configurable() {
    let strict = TotpParams {
        skew_back: 0,
        skew_ahead: 0,
        ..TotpParams::default()
    };
    let f = fx_with(config().totp(strict), Policy::default());
    let u = user("totp-strict");
    let t = f.enroll_totp(&u).await;
    f.advance(10 * MIN);
    let behind = totp_code(&t.seed, f.now() - STEP);
    if behind != totp_code(&t.seed, f.now()) {
        let err = f.verify_totp(&u, &t.id, &behind).await.unwrap_err();
        assert!(matches!(err, MfaError::InvalidCode { .. }), "{err:?}");
    }
    let _ = f
        .verify_totp(&u, &t.id, &totp_code(&t.seed, f.now()))
        .await
        .unwrap();
    // Out of range settings are refused at build time.
    let err = config()
        .totp(TotpParams {
            skew_back: 3,
            ..TotpParams::default()
        })
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::OutOfRange(_)));
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_reported() {
    let f = fx();
    let u = user("totp-replay");
    let t = f.enroll_totp(&u).await;
    let code = totp_code(&t.seed, f.now());
    let _ = f.verify_totp(&u, &t.id, &code).await.unwrap();
    // Same step, same code: refused, even 29 s later.
    f.advance(29 * SEC);
    let err = f.verify_totp(&u, &t.id, &code).await.unwrap_err();
    assert!(matches!(err, MfaError::InvalidCode { .. }), "{err:?}");
    let replays: Vec<_> = f
        .events
        .events()
        .into_iter()
        .filter(|e| matches!(&e.kind, EventKind::ReplayRefused { factor } if *factor == t.id))
        .collect();
    assert_eq!(replays.len(), 1);
}

#[tokio::test]
async fn after_accepting_a_step_ahead_the_current_and_previous_steps_are_refused() {
    let f = fx();
    let u = user("totp-replay-ahead");
    let t = f.enroll_totp(&u).await;
    f.advance(10 * MIN);
    let now = f.now();
    let ahead = totp_code(&t.seed, now + STEP);
    let _ = f.verify_totp(&u, &t.id, &ahead).await.unwrap();
    for at in [now, now - STEP] {
        let code = totp_code(&t.seed, at);
        if code == ahead {
            continue;
        }
        let err = f.verify_totp(&u, &t.id, &code).await.unwrap_err();
        assert!(matches!(err, MfaError::InvalidCode { .. }), "{at}: {err:?}");
    }
    // Two steps on, the next code works again.
    f.advance(2 * STEP);
    let _ = f
        .verify_totp(&u, &t.id, &totp_code(&t.seed, f.now()))
        .await
        .unwrap();
}

#[tokio::test]
async fn several_totp_factors_per_user_have_their_own_replay_state() {
    let f = fx();
    let u = user("totp-several");
    let first = f.enroll_totp(&u).await;
    let second = f.enroll_totp(&u).await;
    assert_eq!(f.mfa.factors(&u).await.unwrap().len(), 2);
    f.advance(MIN);
    let _ = f
        .verify_totp(&u, &first.id, &totp_code(&first.seed, f.now()))
        .await
        .unwrap();
    let _ = f
        .verify_totp(&u, &second.id, &totp_code(&second.seed, f.now()))
        .await
        .unwrap();
    // One factor's code is not the other's.
    f.advance(MIN);
    let code = totp_code(&first.seed, f.now());
    if code != totp_code(&second.seed, f.now()) {
        let err = f.verify_totp(&u, &second.id, &code).await.unwrap_err();
        assert!(matches!(err, MfaError::InvalidCode { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn a_totp_code_never_verifies_for_another_user() {
    let f = fx();
    let alice = user("totp-alice");
    let bob = user("totp-bob");
    let a = f.enroll_totp(&alice).await;
    let _b = f.enroll_totp(&bob).await;
    let code = totp_code(&a.seed, f.now());
    // Bob naming Alice's factor: no such factor for Bob.
    let err = f.verify_totp(&bob, &a.id, &code).await.unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
    let _ = f.verify_totp(&alice, &a.id, &code).await.unwrap();
}

#[tokio::test]
async fn malformed_totp_codes_are_refused_without_counting() {
    let f = fx();
    let u = user("totp-malformed");
    let t = f.enroll_totp(&u).await;
    for bad in [
        "",
        "1",
        "12345",
        "1234567",
        "+12345",
        "12345\u{0}",
        "١٢٣٤٥٦",
        "12-456",
        &"1".repeat(100),
    ] {
        let err = f.verify_totp(&u, &t.id, bad).await.unwrap_err();
        assert!(
            matches!(err, MfaError::MalformedCode { digits: 6 }),
            "{bad:?}: {err:?}"
        );
        assert_eq!(err.code(), "malformed_code");
    }
    assert_eq!(f.failures(&u).await, 0);
    let code = totp_code(&t.seed, f.now());
    let _ = f
        .verify_totp(&u, &t.id, &format!("{} {}", &code[..3], &code[3..]))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_method_not_allowed_for_the_cohort_cannot_be_enrolled() {
    let policy = Policy::from_toml(
        r#"
        [defaults]
        methods = ["sms", "email"]
        "#,
    )
    .unwrap();
    let f = fx_policy(policy);
    let err = f
        .begin_totp(&user("totp-disallowed"), &f.password_only())
        .await
        .unwrap_err();
    assert!(
        matches!(err, MfaError::MethodNotAllowed(FactorKind::Totp)),
        "{err:?}"
    );
    assert_eq!(err.code(), "not_allowed");
}

#[tokio::test]
async fn the_factor_count_is_capped() {
    let f = fx_with(config().max_factors(2), Policy::default());
    let u = user("totp-cap");
    let _ = f.enroll_totp(&u).await;
    let second = f.begin_totp(&u, &f.fresh()).await.unwrap();
    let third = f.begin_totp(&u, &f.fresh()).await.unwrap();
    let code = |t: &TotpEnrollment| totp_code(&decode_base32(t.secret_base32.expose()), f.now());
    f.mfa
        .confirm_enrollment(&u, &second.factor, &code(&second))
        .await
        .unwrap();
    // Two active: neither a third confirmation nor a new start is allowed.
    let err = f
        .mfa
        .confirm_enrollment(&u, &third.factor, &code(&third))
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::InvalidInput(_)), "{err:?}");
    let err = f.begin_totp(&u, &f.fresh()).await.unwrap_err();
    assert!(matches!(err, MfaError::InvalidInput(_)), "{err:?}");
}

/// Unfinished enrolments are bounded without locking anyone out: reloading
/// the QR page many times (each start is a new pending factor) keeps at
/// most five pending, never refuses, and the newest still confirms.
#[tokio::test]
async fn restarting_an_enrolment_many_times_never_locks_the_user_out() {
    let f = fx();
    let u = user("totp-restarts");
    let mut last = None;
    for _ in 0..12 {
        f.advance(SEC);
        last = Some(f.begin_totp(&u, &f.password_only()).await.unwrap());
    }
    let pending = f.mfa.store().factors(&u).await.unwrap();
    assert!(pending.len() <= 5, "{} pending enrolments", pending.len());
    let last = last.unwrap();
    let seed = decode_base32(last.secret_base32.expose());
    let enrolled = f
        .mfa
        .confirm_enrollment(&u, &last.factor, &totp_code(&seed, f.now()))
        .await
        .unwrap();
    assert_eq!(enrolled.factor.id, last.factor);
}

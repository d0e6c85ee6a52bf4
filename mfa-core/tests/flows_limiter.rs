//! Attempts and lock-out on a `ManualClock` (docs/SECURITY-REVIEW.md §4): per-account
//! back-off from 30 s doubling to 1 h, the hard stop at 100 consecutive
//! failures until `admin_unlock`, success resetting the count, counting
//! across factors, and atomic counting under concurrency (64 parallel wrong
//! guesses, 20 parallel submissions of one valid code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use mfa_core::*;

const PHONE: &str = "+447700900123";

#[tokio::test]
async fn back_off_starts_at_the_fifth_failure_and_doubles_to_one_hour() {
    let f = fx_policy(Policy::required_from(T0));
    let u = user("lim-backoff");
    let t = f.enroll_totp(&u).await;
    f.advance(MIN);
    let bad = wrong(&totp_code(&t.seed, f.now()));
    for left in [4, 3, 2, 1] {
        let err = f.verify_totp(&u, &t.id, &bad).await.unwrap_err();
        assert!(
            matches!(err, MfaError::InvalidCode { attempts_left } if attempts_left == left),
            "{err:?}"
        );
    }
    // Failures 5..=13: 30 s, 60 s, ... capped at 1 h.
    let mut expected = 30 * SEC;
    for n in 5..=13 {
        let err = f.verify_totp(&u, &t.id, &bad).await.unwrap_err();
        assert!(
            matches!(err, MfaError::InvalidCode { .. }),
            "failure {n}: {err:?}"
        );
        let until = f.now() + expected;
        let err = f.verify_totp(&u, &t.id, &bad).await.unwrap_err();
        assert!(
            matches!(err, MfaError::Locked { until: Some(t) } if t == until),
            "failure {n}: {err:?}"
        );
        assert_eq!(
            f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
            LoginStep::Locked { until: Some(until) }
        );
        assert_eq!(f.mfa.status(&u).await.unwrap().locked, Some(Some(until)));
        // Still locked one millisecond before the end; open at the end.
        f.clock.set(until - Duration::from_millis(1));
        assert!(matches!(
            f.verify_totp(&u, &t.id, &bad).await,
            Err(MfaError::Locked { .. })
        ));
        f.clock.set(until);
        expected = (expected * 2).min(HOUR);
    }
    assert_eq!(f.failures(&u).await, 13, "locked attempts are not counted");
    let lockouts = f
        .events
        .events()
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::LockedOut { until: Some(_) }))
        .count();
    assert_eq!(lockouts, 9);
}

#[tokio::test]
async fn a_success_resets_the_count() {
    let f = fx();
    let u = user("lim-reset");
    let t = f.enroll_totp(&u).await;
    for _ in 0..4 {
        let _ = f
            .verify_totp(&u, &t.id, &wrong(&totp_code(&t.seed, f.now())))
            .await
            .unwrap_err();
    }
    assert_eq!(f.failures(&u).await, 4);
    let _ = f
        .verify_totp(&u, &t.id, &totp_code(&t.seed, f.now()))
        .await
        .unwrap();
    assert_eq!(f.failures(&u).await, 0);
    // Four more failures again start no back-off.
    f.advance(MIN);
    for _ in 0..4 {
        let err = f
            .verify_totp(&u, &t.id, &wrong(&totp_code(&t.seed, f.now())))
            .await
            .unwrap_err();
        assert!(matches!(err, MfaError::InvalidCode { .. }));
    }
    assert_eq!(f.mfa.status(&u).await.unwrap().locked, None);
}

#[tokio::test]
async fn failures_count_across_factors_and_challenges() {
    let f = fx();
    let u = user("lim-across");
    let t = f.enroll_totp(&u).await;
    let sms = f.enroll_sms(&u, PHONE).await;
    let _ = f.mfa.generate_recovery_codes(&u, &f.fresh()).await.unwrap();
    f.advance(MIN);
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    let sms_code = f.last_code(PHONE);
    let _ = f
        .verify_totp(&u, &t.id, &wrong(&totp_code(&t.seed, f.now())))
        .await
        .unwrap_err();
    let _ = f
        .verify_challenge(&u, &sent.challenge, &wrong(&sms_code))
        .await
        .unwrap_err();
    let _ = f
        .mfa
        .verify(&u, &f.attempt(AttemptTarget::RecoveryCode, "aaaa-bbbb-cccc-dddd"))
        .await
        .unwrap_err();
    let _ = f
        .verify_totp(&u, &t.id, &wrong(&totp_code(&t.seed, f.now())))
        .await
        .unwrap_err();
    assert_eq!(f.failures(&u).await, 4);
    // The fifth, on any factor, starts the back-off for all of them.
    let _ = f
        .verify_challenge(&u, &sent.challenge, &wrong(&sms_code))
        .await
        .unwrap_err();
    for r in [
        f.verify_challenge(&u, &sent.challenge, &sms_code).await,
        f.verify_totp(&u, &t.id, &totp_code(&t.seed, f.now())).await,
    ] {
        assert!(matches!(r, Err(MfaError::Locked { until: Some(_) })), "{r:?}");
    }
    // Confirming an enrolment is an attempt like any other.
    let e = f.begin_totp(&u, &f.fresh()).await.unwrap();
    let seed = decode_base32(e.secret_base32.expose());
    let err = f
        .mfa
        .confirm_enrollment(&u, &e.factor, &totp_code(&seed, f.now()))
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::Locked { .. }), "{err:?}");
}

#[tokio::test]
async fn hard_stop_at_100_failures_until_admin_unlock() {
    let f = fx();
    let u = user("lim-hard");
    let t = f.enroll_totp(&u).await;
    for n in 1..=100 {
        let bad = wrong(&totp_code(&t.seed, f.now()));
        let err = f.verify_totp(&u, &t.id, &bad).await.unwrap_err();
        assert!(
            matches!(err, MfaError::InvalidCode { .. }),
            "failure {n}: {err:?}"
        );
        f.advance(HOUR);
    }
    assert_eq!(f.failures(&u).await, 100);
    assert!(
        f.events
            .events()
            .iter()
            .any(|e| e.kind == EventKind::LockedOut { until: None })
    );
    // A day, a year later: still stopped, even with the right code.
    for wait in [DAY, 365 * DAY] {
        f.advance(wait);
        let err = f
            .verify_totp(&u, &t.id, &totp_code(&t.seed, f.now()))
            .await
            .unwrap_err();
        assert!(matches!(err, MfaError::Locked { until: None }), "{err:?}");
        assert_eq!(
            f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
            LoginStep::Locked { until: None }
        );
        assert_eq!(f.mfa.status(&u).await.unwrap().locked, Some(None));
    }
    f.mfa.admin_unlock(&u, "staff:ann").await.unwrap();
    assert!(f.saw("admin_unlock"));
    assert_eq!(f.mfa.status(&u).await.unwrap().locked, None);
    let _ = f
        .verify_totp(&u, &t.id, &totp_code(&t.seed, f.now()))
        .await
        .unwrap();
    // Unlocking kept the factor.
    assert_eq!(f.mfa.factors(&u).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_parallel_wrong_guesses_never_overrun_the_limit() {
    let f = fx();
    let u = user("lim-parallel");
    let t = f.enroll_totp(&u).await;
    let bad = wrong(&totp_code(&t.seed, f.now()));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let mfa = Arc::clone(&f.mfa);
        let (u, id, bad, web) = (u.clone(), t.id.clone(), bad.clone(), f.web.clone());
        tasks.push(tokio::spawn(async move {
            mfa.verify(&u, &Attempt::login(AttemptTarget::Totp(id), bad, web))
                .await
        }));
    }
    let mut invalid = 0;
    let mut locked = 0;
    for r in futures::future::join_all(tasks).await {
        match r.unwrap() {
            Err(MfaError::InvalidCode { .. }) => invalid += 1,
            Err(MfaError::Locked { .. }) => locked += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(invalid, 5, "only five guesses may be checked before the back-off");
    assert_eq!(locked, 59);
    assert_eq!(f.failures(&u).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_parallel_wrong_guesses_on_one_challenge_get_five_checks() {
    let f = fx_with(
        config().lockout(LockoutRules {
            free_failures: 99,
            hard_stop: 100,
            ..LockoutRules::default()
        }),
        Policy::default(),
    );
    let u = user("lim-parallel-oob");
    let sms = f.enroll_sms(&u, PHONE).await;
    f.advance(MIN);
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    let bad = wrong(&f.last_code(PHONE));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let mfa = Arc::clone(&f.mfa);
        let (u, c, bad, web) = (u.clone(), sent.challenge.clone(), bad.clone(), f.web.clone());
        tasks.push(tokio::spawn(async move {
            mfa.verify(&u, &Attempt::login(AttemptTarget::Challenge(c), bad, web))
                .await
        }));
    }
    let mut invalid = 0;
    let mut closed = 0;
    for r in futures::future::join_all(tasks).await {
        match r.unwrap() {
            Err(MfaError::InvalidCode { .. }) => invalid += 1,
            Err(MfaError::ChallengeClosed) => closed += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(invalid, 5);
    assert_eq!(closed, 59);
    assert_eq!(f.failures(&u).await, 64, "every attempt counts on the account");
}

async fn race_one_valid_code(
    f: &Fx,
    u: &UserId,
    target: AttemptTarget,
    code: String,
) -> Vec<Result<Verified, MfaError>> {
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let mfa = Arc::clone(&f.mfa);
        let (u, target, code, web) = (u.clone(), target.clone(), code.clone(), f.web.clone());
        tasks.push(tokio::spawn(async move {
            mfa.verify(&u, &Attempt::login(target, code, web)).await
        }));
    }
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_submissions_of_one_totp_code_give_exactly_one_success() {
    let f = fx();
    let u = user("lim-race-totp");
    let t = f.enroll_totp(&u).await;
    let code = totp_code(&t.seed, f.now());
    let results = race_one_valid_code(&f, &u, AttemptTarget::Totp(t.id.clone()), code).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    for r in results.iter().filter(|r| r.is_err()) {
        assert!(
            matches!(r, Err(MfaError::InvalidCode { .. } | MfaError::Locked { .. })),
            "{r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_submissions_of_one_sms_code_give_exactly_one_success() {
    let f = fx();
    let u = user("lim-race-sms");
    let sms = f.enroll_sms(&u, PHONE).await;
    f.advance(MIN);
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    let code = f.last_code(PHONE);
    let results = race_one_valid_code(&f, &u, AttemptTarget::Challenge(sent.challenge), code).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    for r in results.iter().filter(|r| r.is_err()) {
        assert!(
            matches!(r, Err(MfaError::ChallengeClosed | MfaError::Locked { .. })),
            "{r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_submissions_of_one_recovery_code_give_exactly_one_success() {
    let f = fx();
    let u = user("lim-race-recovery");
    let _ = f.enroll_totp(&u).await;
    let codes = f.mfa.generate_recovery_codes(&u, &f.fresh()).await.unwrap();
    let code = codes.codes[0].expose().to_owned();
    let results = race_one_valid_code(&f, &u, AttemptTarget::RecoveryCode, code).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert_eq!(f.mfa.status(&u).await.unwrap().recovery_codes_left, 9);
}

#[tokio::test]
async fn lockout_rules_are_validated() {
    for rules in [
        LockoutRules {
            hard_stop: 101,
            ..LockoutRules::default()
        },
        LockoutRules {
            free_failures: 100,
            ..LockoutRules::default()
        },
        LockoutRules {
            base: 2 * HOUR,
            ..LockoutRules::default()
        },
    ] {
        assert!(config().lockout(rules).build().is_err(), "{rules:?}");
    }
    assert!(config().max_attempts(11).build().is_err());
    assert!(
        config()
            .sends(SendRules {
                per_account: 0,
                ..SendRules::default()
            })
            .build()
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_confirmations_of_one_enrolment_confirm_it_once() {
    let f = fx();
    let u = user("lim-race-confirm");
    let e = f.begin_totp(&u, &f.password_only()).await.unwrap();
    let seed = decode_base32(e.secret_base32.expose());
    let code = totp_code(&seed, f.now());
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let mfa = Arc::clone(&f.mfa);
        let (u, id, code) = (u.clone(), e.factor.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            mfa.confirm_enrollment(&u, &id, &code).await
        }));
    }
    let results: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    let enrolled = f
        .events
        .events()
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::FactorEnrolled { .. }))
        .count();
    assert_eq!(enrolled, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_send_requests_deliver_one_code() {
    let f = fx();
    let u = user("lim-race-send");
    let sms = f.enroll_sms(&u, PHONE).await;
    f.advance(MIN);
    let before = f.outbox.messages_to(PHONE).len();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let mfa = Arc::clone(&f.mfa);
        let (u, sms) = (u.clone(), sms.clone());
        tasks.push(tokio::spawn(async move {
            mfa.send_code(&u, &sms, Purpose::Login).await
        }));
    }
    let results: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(MfaError::RateLimited { .. })))
    );
    assert_eq!(f.outbox.messages_to(PHONE).len(), before + 1);
}

#[tokio::test]
async fn a_trusted_device_does_not_bypass_a_lock() {
    let f = fx();
    let u = user("lim-trusted-locked");
    let t = f.enroll_totp(&u).await;
    let ok = f
        .mfa
        .verify(
            &u,
            &f.attempt(AttemptTarget::Totp(t.id.clone()), &totp_code(&t.seed, f.now()))
                .trust_device("Laptop"),
        )
        .await
        .unwrap();
    let token = ok.trust.unwrap().token.expose().to_owned();
    f.advance(MIN);
    for _ in 0..5 {
        let _ = f
            .verify_totp(&u, &t.id, &wrong(&totp_code(&t.seed, f.now())))
            .await
            .unwrap_err();
    }
    assert!(matches!(
        f.mfa.begin_login(&u, &f.login_ctx(Some(&token))).await.unwrap(),
        LoginStep::Locked { until: Some(_) }
    ));
    f.advance(30 * SEC);
    assert!(matches!(
        f.mfa.begin_login(&u, &f.login_ctx(Some(&token))).await.unwrap(),
        LoginStep::Complete {
            by: CompletedBy::TrustedDevice,
            ..
        }
    ));
}

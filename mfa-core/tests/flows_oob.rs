//! SMS and email codes on a `ManualClock` (docs/SECURITY-REVIEW.md §3): 6 digits, the
//! exact 5-minute boundary, single use, binding to challenge/user/purpose,
//! resend rules (kills the old code, keeps the failure count, 30 s
//! cool-down), send caps per account and per destination, switching method
//! mid-login, 5 wrong codes per challenge, delivery failures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use mfa_core::*;

const PHONE: &str = "+447700900123";
const EMAIL: &str = "jo.bloggs@example.org";

/// Lock-out rules that never lock in these tests, to see the per-challenge
/// limit alone.
fn no_account_lock() -> MfaConfigBuilder {
    config().lockout(LockoutRules {
        free_failures: 99,
        hard_stop: 100,
        ..LockoutRules::default()
    })
}

#[tokio::test]
async fn codes_are_six_ascii_digits_and_the_message_names_issuer_and_validity() {
    let f = fx();
    let u = user("oob-digits");
    let sms = f.enroll_sms(&u, PHONE).await;
    f.advance(MIN);
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    assert_eq!(sent.to, "•••• ••• 123");
    assert_eq!(sent.kind, FactorKind::Sms);
    assert_eq!(sent.expires_at, f.now() + 5 * MIN);
    assert_eq!(sent.resend_at, f.now() + 30 * SEC);
    assert_eq!(sent.attempts_left, 5);
    let msg = f.outbox.last_to(PHONE).unwrap();
    let code = msg.code.expose();
    assert_eq!(code.len(), 6);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(
        msg.text.expose(),
        format!(
            "{code} is your {ISSUER} verification code. It is valid for 5 minutes. Never share it with anyone."
        )
    );
    assert_eq!(msg.to_masked, "•••• ••• 123");
}

#[tokio::test]
async fn email_destinations_are_masked() {
    let f = fx();
    let u = user("oob-email");
    let email = f.enroll_email(&u, EMAIL).await;
    let factors = f.mfa.factors(&u).await.unwrap();
    assert_eq!(factors.len(), 1);
    assert_eq!(factors[0].id, email);
    assert_eq!(factors[0].masked_destination.as_deref(), Some("j•••@example.org"));
}

#[tokio::test]
async fn code_is_valid_at_4m59_999_and_expired_at_5m00_000() {
    let f = fx();
    let u = user("oob-boundary");
    let sms = f.enroll_sms(&u, PHONE).await;

    f.advance(MIN);
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    f.advance(5 * MIN - Duration::from_millis(1));
    let ok = f
        .verify_challenge(&u, &sent.challenge, &f.last_code(PHONE))
        .await
        .unwrap();
    assert_eq!(ok.method, FactorKind::Sms);

    f.advance(MIN);
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    f.advance(5 * MIN);
    let err = f
        .verify_challenge(&u, &sent.challenge, &f.last_code(PHONE))
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::Expired), "{err:?}");
}

#[tokio::test]
async fn code_is_single_use() {
    let f = fx();
    let u = user("oob-single");
    let sms = f.enroll_sms(&u, PHONE).await;
    f.advance(MIN);
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    let code = f.last_code(PHONE);
    let _ = f.verify_challenge(&u, &sent.challenge, &code).await.unwrap();
    let err = f.verify_challenge(&u, &sent.challenge, &code).await.unwrap_err();
    assert!(matches!(err, MfaError::ChallengeClosed), "{err:?}");
}

#[tokio::test]
async fn enrolment_code_is_single_use_and_confirms_once() {
    let f = fx();
    let u = user("oob-enrol-once");
    let sent = f.begin_sms(&u, PHONE, &f.fresh()).await.unwrap();
    let code = f.last_code(PHONE);
    let _ = f.mfa.confirm_enrollment(&u, &sent.factor, &code).await.unwrap();
    // Confirmed: it is no longer pending.
    let err = f
        .mfa
        .confirm_enrollment(&u, &sent.factor, &code)
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
}

#[tokio::test]
async fn resend_kills_the_old_code() {
    let f = fx();
    let u = user("oob-resend-kills");
    let sms = f.enroll_sms(&u, PHONE).await;
    f.advance(MIN);
    let first = f.send_login_code(&u, &sms).await.unwrap();
    let old_code = f.last_code(PHONE);
    f.advance(30 * SEC);
    let second = f.send_login_code(&u, &sms).await.unwrap();
    let new_code = f.last_code(PHONE);
    assert_ne!(first.challenge, second.challenge);

    // The old challenge is gone.
    let err = f
        .verify_challenge(&u, &first.challenge, &old_code)
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
    // The old code does not work on the new challenge.
    if old_code != new_code {
        let err = f
            .verify_challenge(&u, &second.challenge, &old_code)
            .await
            .unwrap_err();
        assert!(matches!(err, MfaError::InvalidCode { .. }), "{err:?}");
    }
    let _ = f
        .verify_challenge(&u, &second.challenge, &new_code)
        .await
        .unwrap();
}

#[tokio::test]
async fn resend_does_not_reset_attempts() {
    let f = fx_with(no_account_lock(), Policy::default());
    let u = user("oob-resend-count");
    let sms = f.enroll_sms(&u, PHONE).await;
    f.advance(MIN);
    let first = f.send_login_code(&u, &sms).await.unwrap();
    let code = f.last_code(PHONE);
    for left in [4, 3] {
        let err = f
            .verify_challenge(&u, &first.challenge, &wrong(&code))
            .await
            .unwrap_err();
        assert!(
            matches!(err, MfaError::InvalidCode { attempts_left } if attempts_left == left),
            "{err:?}"
        );
    }
    f.advance(30 * SEC);
    let second = f.send_login_code(&u, &sms).await.unwrap();
    assert_eq!(second.attempts_left, 3, "a resend keeps the count");
    let code = f.last_code(PHONE);
    for left in [2, 1, 0] {
        let err = f
            .verify_challenge(&u, &second.challenge, &wrong(&code))
            .await
            .unwrap_err();
        assert!(
            matches!(err, MfaError::InvalidCode { attempts_left } if attempts_left == left),
            "{err:?}"
        );
    }
    // Dead now, even with the right code; and no resend can revive it.
    let err = f
        .verify_challenge(&u, &second.challenge, &code)
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::ChallengeClosed), "{err:?}");
    f.advance(30 * SEC);
    let err = f.send_login_code(&u, &sms).await.unwrap_err();
    assert!(matches!(err, MfaError::ChallengeClosed), "{err:?}");
}

#[tokio::test]
async fn resend_within_the_30s_cool_down_is_rate_limited() {
    let f = fx();
    let u = user("oob-cooldown");
    let sms = f.enroll_sms(&u, PHONE).await;
    f.advance(MIN);
    let _ = f.send_login_code(&u, &sms).await.unwrap();
    f.advance(30 * SEC - Duration::from_millis(1));
    let err = f.send_login_code(&u, &sms).await.unwrap_err();
    assert!(
        matches!(err, MfaError::RateLimited { retry_after } if retry_after == Duration::from_millis(1)),
        "{err:?}"
    );
    assert_eq!(err.code(), "rate_limited");
    f.advance(Duration::from_millis(1));
    let _ = f.send_login_code(&u, &sms).await.unwrap();
    assert_eq!(
        f.outbox.messages_to(PHONE).len(),
        3,
        "enrolment + two login codes"
    );
}

#[tokio::test]
async fn send_cap_per_account_is_five_an_hour() {
    let f = fx();
    let u = user("oob-cap-account");
    let sms = f.enroll_sms(&u, PHONE).await; // send 1, at T0
    for _ in 0..4 {
        f.advance(MIN);
        let _ = f.send_login_code(&u, &sms).await.unwrap(); // sends 2..5
    }
    f.advance(MIN);
    let err = f.send_login_code(&u, &sms).await.unwrap_err();
    // The oldest send (T0) leaves the window at T0 + 1 h.
    assert!(
        matches!(err, MfaError::RateLimited { retry_after } if retry_after == HOUR - 5 * MIN),
        "{err:?}"
    );
    assert!(f.saw("send_refused"));
    // Step-up codes count against the same cap.
    let err = f.mfa.send_code(&u, &sms, Purpose::StepUp).await.unwrap_err();
    assert!(matches!(err, MfaError::RateLimited { .. }), "{err:?}");
    assert_eq!(f.outbox.messages_to(PHONE).len(), 5);
    // An hour after the first send, one more is allowed.
    f.clock.set(T0 + HOUR + Duration::from_millis(1));
    let _ = f.send_login_code(&u, &sms).await.unwrap();
}

#[tokio::test]
async fn send_cap_per_destination_stops_sms_pumping_across_accounts() {
    let f = fx();
    // Five accounts register the same number: five codes to it.
    for i in 0..5 {
        let _ = f
            .begin_sms(&user(&format!("pump-{i}")), PHONE, &f.fresh())
            .await
            .unwrap();
    }
    // A sixth account cannot make it send a sixth.
    let err = f.begin_sms(&user("pump-5"), PHONE, &f.fresh()).await.unwrap_err();
    assert!(matches!(err, MfaError::RateLimited { .. }), "{err:?}");
    assert_eq!(f.outbox.messages_to(PHONE).len(), 5);
    // Written differently, it is still the same number.
    let err = f
        .begin_sms(&user("pump-6"), "+44 7700 900-123", &f.fresh())
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::RateLimited { .. }), "{err:?}");
    // Another number is fine.
    let _ = f
        .begin_sms(&user("pump-5"), "+447700900999", &f.fresh())
        .await
        .unwrap();
}

#[tokio::test]
async fn switching_method_mid_login_kills_the_first_code_and_keeps_the_count() {
    let f = fx_with(no_account_lock(), Policy::default());
    let u = user("oob-switch");
    let sms = f.enroll_sms(&u, PHONE).await;
    let email = f.enroll_email(&u, EMAIL).await;
    f.advance(MIN);
    let by_sms = f.send_login_code(&u, &sms).await.unwrap();
    let sms_code = f.last_code(PHONE);
    let _ = f
        .verify_challenge(&u, &by_sms.challenge, &wrong(&sms_code))
        .await
        .unwrap_err();
    // Switching is a new send for the same purpose: the cool-down applies.
    let err = f.send_login_code(&u, &email).await.unwrap_err();
    assert!(matches!(err, MfaError::RateLimited { .. }), "{err:?}");
    f.advance(30 * SEC);
    let by_email = f.send_login_code(&u, &email).await.unwrap();
    assert_eq!(by_email.kind, FactorKind::Email);
    assert_eq!(by_email.attempts_left, 4, "switching keeps the count");
    let err = f
        .verify_challenge(&u, &by_sms.challenge, &sms_code)
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
    let ok = f
        .verify_challenge(&u, &by_email.challenge, &f.last_code(EMAIL))
        .await
        .unwrap();
    assert_eq!(ok.method, FactorKind::Email);
    assert_eq!(ok.factor, Some(email));
}

#[tokio::test]
async fn five_wrong_codes_close_the_challenge() {
    let f = fx_with(no_account_lock(), Policy::default());
    let u = user("oob-five");
    let sms = f.enroll_sms(&u, PHONE).await;
    f.advance(MIN);
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    let code = f.last_code(PHONE);
    for left in (0..5).rev() {
        let err = f
            .verify_challenge(&u, &sent.challenge, &wrong(&code))
            .await
            .unwrap_err();
        assert!(
            matches!(err, MfaError::InvalidCode { attempts_left } if attempts_left == left),
            "{err:?}"
        );
    }
    let err = f.verify_challenge(&u, &sent.challenge, &code).await.unwrap_err();
    assert!(matches!(err, MfaError::ChallengeClosed), "{err:?}");
    // Once it has expired a fresh challenge may be issued.
    f.advance(5 * MIN);
    let fresh = f.send_login_code(&u, &sms).await.unwrap();
    assert_eq!(fresh.attempts_left, 5);
    let _ = f
        .verify_challenge(&u, &fresh.challenge, &f.last_code(PHONE))
        .await
        .unwrap();
}

#[tokio::test]
async fn with_default_rules_the_fifth_wrong_code_also_starts_the_account_back_off() {
    let f = fx();
    let u = user("oob-five-default");
    let sms = f.enroll_sms(&u, PHONE).await;
    f.advance(MIN);
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    let code = f.last_code(PHONE);
    for _ in 0..5 {
        let _ = f
            .verify_challenge(&u, &sent.challenge, &wrong(&code))
            .await
            .unwrap_err();
    }
    let err = f.verify_challenge(&u, &sent.challenge, &code).await.unwrap_err();
    assert!(
        matches!(err, MfaError::Locked { until: Some(t) } if t == f.now() + 30 * SEC),
        "{err:?}"
    );
    f.advance(30 * SEC);
    let err = f.verify_challenge(&u, &sent.challenge, &code).await.unwrap_err();
    assert!(matches!(err, MfaError::ChallengeClosed), "{err:?}");
}

#[tokio::test]
async fn a_code_never_verifies_for_another_user() {
    let f = fx();
    let alice = user("oob-alice");
    let bob = user("oob-bob");
    let a_sms = f.enroll_sms(&alice, PHONE).await;
    let b_sms = f.enroll_sms(&bob, "+447700900456").await;
    f.advance(MIN);
    let a = f.send_login_code(&alice, &a_sms).await.unwrap();
    let a_code = f.last_code(PHONE);
    let b = f.send_login_code(&bob, &b_sms).await.unwrap();
    let b_code = f.last_code("+447700900456");
    // Alice's challenge named by Bob: not his.
    let err = f.verify_challenge(&bob, &a.challenge, &a_code).await.unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
    // Alice's code on Bob's challenge.
    if a_code != b_code {
        let err = f.verify_challenge(&bob, &b.challenge, &a_code).await.unwrap_err();
        assert!(matches!(err, MfaError::InvalidCode { .. }), "{err:?}");
    }
    // Both still work for their owners.
    let _ = f.verify_challenge(&alice, &a.challenge, &a_code).await.unwrap();
    let _ = f.verify_challenge(&bob, &b.challenge, &b_code).await.unwrap();
}

#[tokio::test]
async fn a_login_code_never_verifies_for_step_up_and_an_enrolment_code_never_for_login() {
    let f = fx();
    let u = user("oob-purpose");
    let sms = f.enroll_sms(&u, PHONE).await;
    f.advance(MIN);
    let login = f.send_login_code(&u, &sms).await.unwrap();
    let code = f.last_code(PHONE);
    let step_up = f
        .attempt(AttemptTarget::Challenge(login.challenge.clone()), &code)
        .step_up();
    let err = f.mfa.verify(&u, &step_up).await.unwrap_err();
    assert!(matches!(err, MfaError::InvalidCode { .. }), "{err:?}");
    let _ = f.verify_challenge(&u, &login.challenge, &code).await.unwrap();

    // A second factor's enrolment code is not a login code.
    let pending = f.begin_sms(&u, "+447700900777", &f.fresh()).await.unwrap();
    let enrol_code = f.last_code("+447700900777");
    let err = f
        .verify_challenge(&u, &pending.challenge, &enrol_code)
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::InvalidCode { .. }), "{err:?}");
    let _ = f
        .mfa
        .confirm_enrollment(&u, &pending.factor, &enrol_code)
        .await
        .unwrap();
}

#[tokio::test]
async fn step_up_codes_verify_for_step_up() {
    let f = fx();
    let u = user("oob-stepup");
    let sms = f.enroll_sms(&u, PHONE).await;
    f.advance(MIN);
    let sent = f.mfa.send_code(&u, &sms, Purpose::StepUp).await.unwrap();
    let code = f.last_code(PHONE);
    // Not for login...
    let err = f.verify_challenge(&u, &sent.challenge, &code).await.unwrap_err();
    assert!(matches!(err, MfaError::InvalidCode { .. }), "{err:?}");
    // ...for step-up.
    let ok = f
        .mfa
        .verify(
            &u,
            &f.attempt(AttemptTarget::Challenge(sent.challenge), &code)
                .step_up(),
        )
        .await
        .unwrap();
    assert_eq!(ok.purpose, Purpose::StepUp);
    assert!(f.mfa.is_fresh(&ok.assurance));
}

#[tokio::test]
async fn malformed_codes_are_refused_without_counting() {
    let f = fx();
    let u = user("oob-malformed");
    let sms = f.enroll_sms(&u, PHONE).await;
    f.advance(MIN);
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    for bad in [
        "",
        "1",
        "12345",
        "1234567",
        "+12345",
        "-12345",
        "12a456",
        "١٢٣٤٥٦",
        "１２３４５６",
        "12 34 5",
    ] {
        let err = f.verify_challenge(&u, &sent.challenge, bad).await.unwrap_err();
        assert!(
            matches!(err, MfaError::MalformedCode { digits: 6 }),
            "{bad:?}: {err:?}"
        );
    }
    assert_eq!(f.failures(&u).await, 0);
    // Spaces a user types are dropped.
    let code = f.last_code(PHONE);
    let spaced = format!(" {} {} ", &code[..3], &code[3..]);
    let _ = f.verify_challenge(&u, &sent.challenge, &spaced).await.unwrap();
}

#[tokio::test]
async fn codes_cannot_be_sent_or_verified_for_the_enrolment_purpose_directly() {
    let f = fx();
    let u = user("oob-enroll-purpose");
    let sms = f.enroll_sms(&u, PHONE).await;
    let err = f.mfa.send_code(&u, &sms, Purpose::Enroll).await.unwrap_err();
    assert!(matches!(err, MfaError::InvalidInput(_)), "{err:?}");
    let mut attempt = f.attempt(AttemptTarget::RecoveryCode, "123456");
    attempt.purpose = Purpose::Enroll;
    let err = f.mfa.verify(&u, &attempt).await.unwrap_err();
    assert!(matches!(err, MfaError::InvalidInput(_)), "{err:?}");
}

#[tokio::test]
async fn sending_through_a_totp_or_unknown_factor_is_not_found() {
    let f = fx();
    let u = user("oob-not-oob");
    let totp = f.enroll_totp(&u).await;
    let err = f.send_login_code(&u, &totp.id).await.unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
    let err = f
        .send_login_code(&u, &FactorId::generate().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
}

#[tokio::test]
async fn a_failing_sender_is_reported_as_a_delivery_error() {
    // No sender configured: every send fails.
    let mfa = Mfa::builder(MemoryStore::new(), keys(), config().build().unwrap())
        .clock(ManualClock::new(T0))
        .build();
    let err = mfa
        .begin_enrollment(
            &user("oob-nosender"),
            EnrollRequest::Sms {
                label: "Mobile".into(),
                phone: PHONE.into(),
            },
            &Caller::password_only(Audience::new(Platform::WEB)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::Delivery(_)), "{err:?}");
    assert_eq!(err.code(), "delivery_failed");
}

#[tokio::test]
async fn bad_destinations_and_labels_are_invalid_input() {
    let f = fx();
    let u = user("oob-bad-input");
    for (label, phone) in [
        ("Mobile", "call me"),
        ("Mobile", "+1 23"),
        ("", PHONE),
        ("a\u{7}b", PHONE),
    ] {
        let err = f
            .mfa
            .begin_enrollment(
                &u,
                EnrollRequest::Sms {
                    label: label.into(),
                    phone: phone.into(),
                },
                &f.fresh(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, MfaError::InvalidInput(_)),
            "{label:?} {phone:?}: {err:?}"
        );
    }
    let err = f
        .mfa
        .begin_enrollment(
            &u,
            EnrollRequest::Email {
                label: "Email".into(),
                address: "jo@localhost".into(),
            },
            &f.fresh(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::InvalidInput(_)), "{err:?}");
    assert!(f.outbox.messages().is_empty());
}

#[tokio::test]
async fn code_ttl_is_configurable_up_to_ten_minutes_only() {
    assert!(config().code_ttl(10 * MIN).build().is_ok());
    let err = config().code_ttl(10 * MIN + SEC).build().unwrap_err();
    assert!(matches!(err, ConfigError::OutOfRange(_)), "{err:?}");
    let err = MfaError::from(err);
    assert!(err.is_internal());

    let f = fx_with(config().code_ttl(2 * MIN), Policy::default());
    let u = user("oob-ttl");
    let sms = f.enroll_sms(&u, PHONE).await;
    f.advance(MIN);
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    assert!(f.last_to_text(PHONE).contains("valid for 2 minutes"));
    f.advance(2 * MIN);
    let err = f
        .verify_challenge(&u, &sent.challenge, &f.last_code(PHONE))
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::Expired), "{err:?}");
}

trait LastText {
    fn last_to_text(&self, to: &str) -> String;
}

impl LastText for Fx {
    fn last_to_text(&self, to: &str) -> String {
        self.outbox.last_to(to).unwrap().text.expose().to_owned()
    }
}

#[tokio::test]
async fn codes_are_stored_only_as_a_keyed_hash_bound_to_challenge_user_and_purpose() {
    let f = fx();
    let u = user("oob-hash");
    let sms = f.enroll_sms(&u, PHONE).await;
    f.advance(MIN);
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    let code = f.last_code(PHONE);
    let stored = f
        .mfa
        .store()
        .live_challenge(&u, Purpose::Login, f.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.id, sent.challenge);
    let expected = keyed_hash(
        "mfa/oob-code/v1",
        &[
            sent.challenge.as_str().as_bytes(),
            u.as_str().as_bytes(),
            b"login",
            code.as_bytes(),
        ],
    );
    assert_eq!(stored.code_hash.as_bytes(), &expected);
    assert!(!format!("{stored:?}").contains(&code));
    // The same code hashes differently for another purpose or user.
    let step_up = keyed_hash(
        "mfa/oob-code/v1",
        &[
            sent.challenge.as_str().as_bytes(),
            u.as_str().as_bytes(),
            b"step_up",
            code.as_bytes(),
        ],
    );
    assert_ne!(stored.code_hash.as_bytes(), &step_up);
}

#[tokio::test]
async fn an_enrolment_code_can_be_resent_and_only_the_new_one_confirms() {
    let f = fx();
    let u = user("oob-enrol-resend");
    let first = f.begin_sms(&u, PHONE, &f.password_only()).await.unwrap();
    let old = f.last_code(PHONE);
    let err = f.mfa.resend_enrollment_code(&u, &first.factor).await.unwrap_err();
    assert!(matches!(err, MfaError::RateLimited { .. }), "{err:?}");
    f.advance(30 * SEC);
    let again = f.mfa.resend_enrollment_code(&u, &first.factor).await.unwrap();
    assert_ne!(again.challenge, first.challenge);
    let new = f.last_code(PHONE);
    if old != new {
        let err = f
            .mfa
            .confirm_enrollment(&u, &first.factor, &old)
            .await
            .unwrap_err();
        assert!(matches!(err, MfaError::InvalidCode { .. }), "{err:?}");
    }
    let _ = f.mfa.confirm_enrollment(&u, &first.factor, &new).await.unwrap();
    // Nothing to resend for a confirmed or a TOTP factor.
    let err = f.mfa.resend_enrollment_code(&u, &first.factor).await.unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
    let totp = f.begin_totp(&u, &f.fresh()).await.unwrap();
    let err = f.mfa.resend_enrollment_code(&u, &totp.factor).await.unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
}

#[tokio::test]
async fn an_exhausted_challenge_cannot_be_revived_by_switching_method() {
    let f = fx_with(no_account_lock(), Policy::default());
    let u = user("oob-switch-exhausted");
    let sms = f.enroll_sms(&u, PHONE).await;
    let email = f.enroll_email(&u, EMAIL).await;
    f.advance(MIN);
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    let code = f.last_code(PHONE);
    for _ in 0..5 {
        let _ = f
            .verify_challenge(&u, &sent.challenge, &wrong(&code))
            .await
            .unwrap_err();
    }
    f.advance(30 * SEC);
    let err = f.send_login_code(&u, &email).await.unwrap_err();
    assert!(matches!(err, MfaError::ChallengeClosed), "{err:?}");
}

#[tokio::test]
async fn no_code_is_sent_to_a_locked_account() {
    let f = fx();
    let u = user("locked-sender");
    let sms = f.enroll_sms(&u, "+447700900777").await;
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    let wrong = if f.last_code("+447700900777") == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        let _ = f
            .mfa
            .verify(
                &u,
                &f.attempt(AttemptTarget::Challenge(sent.challenge.clone()), wrong),
            )
            .await;
    }
    // Five failures start the account back-off: sending is refused too.
    assert!(matches!(
        f.mfa.send_code(&u, &sms, Purpose::Login).await,
        Err(MfaError::Locked { until: Some(_) })
    ));
    // Once the back-off is over and the dead challenge has expired, codes
    // flow again.
    f.advance(Duration::from_secs(300));
    assert!(f.mfa.send_code(&u, &sms, Purpose::Login).await.is_ok());
}

//! Audit events and hygiene (docs/SECURITY-REVIEW.md §8): an event for every item §8
//! lists, user notifications for factor changes and recovery-code use, and
//! no code, secret, token or full destination in any event (checked on the
//! JSON form), in any error message, or in `Debug` output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use mfa_core::*;

const PHONE: &str = "+447700900123";
const EMAIL: &str = "jo.bloggs@example.org";

/// Drives one user through every flow that emits an event, collecting every
/// secret the flows handled and every error they returned.
struct Run {
    f: Fx,
    secrets: Vec<String>,
    errors: Vec<MfaError>,
}

async fn run_everything() -> Run {
    let f = fx_policy(Policy::from_toml("[defaults]\nrelogin_cutoff = \"2026-05-28T21:00:00Z\"").unwrap());
    let u = user("events-user");
    let mut secrets: Vec<String> = vec![
        PHONE.into(),
        "7700900123".into(),
        EMAIL.into(),
        "jo.bloggs".into(),
    ];
    let mut errors = Vec::new();

    // Enrolment: TOTP, SMS, email.
    let t = f.enroll_totp(&u).await;
    secrets.push(t.enrollment.secret_base32.expose().into());
    secrets.push(t.enrollment.otpauth_uri.expose().into());
    let sms = f.enroll_sms(&u, PHONE).await;
    let _email = f.enroll_email(&u, EMAIL).await;
    f.advance(MIN);

    // Challenge sent, failure, success.
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    let code = f.last_code(PHONE);
    errors.push(
        f.verify_challenge(&u, &sent.challenge, &wrong(&code))
            .await
            .unwrap_err(),
    );
    secrets.push(wrong(&code));
    let _ = f.verify_challenge(&u, &sent.challenge, &code).await.unwrap();
    errors.push(f.verify_challenge(&u, &sent.challenge, &code).await.unwrap_err());

    // TOTP success with trust, then a replay.
    let totp = totp_code(&t.seed, f.now());
    let trust = f
        .mfa
        .verify(
            &u,
            &f.attempt(AttemptTarget::Totp(t.id.clone()), &totp)
                .trust_device("Laptop"),
        )
        .await
        .unwrap()
        .trust
        .unwrap();
    secrets.push(trust.token.expose().into());
    errors.push(f.verify_totp(&u, &t.id, &totp).await.unwrap_err());

    // Trusted device used, revoked.
    let _ = f
        .mfa
        .begin_login(&u, &f.login_ctx(Some(trust.token.expose())))
        .await
        .unwrap();
    f.mfa.revoke_device(&u, &trust.device).await.unwrap();

    // Recovery codes generated and used.
    let set = f.mfa.generate_recovery_codes(&u, &f.fresh()).await.unwrap();
    for c in &set.codes {
        secrets.push(c.expose().into());
        secrets.push(c.expose().replace('-', ""));
    }
    let _ = f
        .mfa
        .verify(&u, &f.attempt(AttemptTarget::RecoveryCode, set.codes[0].expose()))
        .await
        .unwrap();

    // Lock-out, then unlock.
    f.advance(MIN);
    for _ in 0..6 {
        let bad = wrong(&totp_code(&t.seed, f.now()));
        errors.push(f.verify_totp(&u, &t.id, &bad).await.unwrap_err());
        secrets.push(bad);
    }
    f.mfa.admin_unlock(&u, "staff:ann").await.unwrap();

    // Send caps (send refused).
    for _ in 0..6 {
        f.advance(MIN);
        if let Err(e) = f.send_login_code(&u, &sms).await {
            errors.push(e);
        }
    }
    for m in f.outbox.messages() {
        secrets.push(m.code.expose().into());
    }

    // Factor renamed, removed; password changed; forced logout; admin reset.
    f.mfa
        .rename_factor(&u, &t.id, "Old phone", &f.fresh())
        .await
        .unwrap();
    f.mfa.remove_factor(&u, &sms, &f.fresh()).await.unwrap();
    f.mfa.password_changed(&u).await.unwrap();
    // A session issued after the password change, ended by the cut-off.
    f.advance(SEC);
    let issued = f.now();
    f.clock
        .set(Timestamp::parse_rfc3339("2026-05-28T21:00:00Z").unwrap());
    assert_eq!(
        f.mfa.check_session(&u, issued, &f.web).await.unwrap(),
        SessionCheck::RolloutCutoff
    );
    f.mfa.admin_reset(&u, "staff:ann").await.unwrap();

    Run { f, secrets, errors }
}

#[tokio::test]
async fn every_security_item_produces_an_event() {
    let run = run_everything().await;
    let names = run.f.event_names();
    // docs/SECURITY-REVIEW.md §8: enrolment, challenge sent, success, failure, lock-out,
    // replay attempt, trusted device added/used/revoked, recovery code used,
    // admin reset, policy-forced logout; and the rest the engine audits.
    for want in [
        "factor_enrolled",
        "challenge_sent",
        "verify_succeeded",
        "verify_failed",
        "locked_out",
        "replay_refused",
        "trusted_device_added",
        "trusted_device_used",
        "trusted_device_revoked",
        "recovery_code_used",
        "admin_reset",
        "forced_logout",
        "recovery_codes_generated",
        "send_refused",
        "factor_renamed",
        "factor_removed",
        "password_changed",
        "admin_unlock",
    ] {
        assert!(names.contains(&want), "no {want} event in {names:?}");
    }
    let u = user("events-user");
    assert!(run.f.events.events().iter().all(|e| e.user.as_ref() == Some(&u)));
}

#[tokio::test]
async fn factor_changes_and_recovery_code_use_notify_the_user() {
    let run = run_everything().await;
    for e in run.f.events.events() {
        let should = matches!(
            e.kind,
            EventKind::FactorEnrolled { .. }
                | EventKind::FactorRemoved { .. }
                | EventKind::FactorRenamed { .. }
                | EventKind::RecoveryCodeUsed { .. }
                | EventKind::RecoveryCodesGenerated { .. }
                | EventKind::TrustedDeviceAdded { .. }
                | EventKind::AdminReset { .. }
                | EventKind::LockedOut { .. }
                | EventKind::PasswordChanged
        );
        assert_eq!(e.kind.notifies_user(), should, "{:?}", e.kind);
    }
}

#[tokio::test]
async fn no_event_contains_a_code_secret_token_or_full_destination() {
    let run = run_everything().await;
    assert!(run.secrets.len() > 30);
    for e in run.f.events.events() {
        let json = serde_json::to_value(&e).unwrap();
        let mut leaves = Vec::new();
        json_leaves(&json, &mut leaves);
        for leaf in &leaves {
            for s in &run.secrets {
                // Numbers (timestamps, counts) cannot hold a code unless
                // equal to it; strings must not contain one.
                let leaked = if leaf.bytes().all(|b| b.is_ascii_digit()) && !leaf.is_empty() {
                    leaf == s
                } else {
                    leaf.contains(s.as_str())
                };
                assert!(!leaked, "event {} leaks {s:?}: {json}", e.kind.name());
            }
        }
        let debug = format!("{e:?}");
        for s in run.secrets.iter().filter(|s| s.len() > 6) {
            assert!(
                !debug.contains(s.as_str()),
                "Debug of {} leaks a secret",
                e.kind.name()
            );
        }
    }
}

#[tokio::test]
async fn no_error_message_contains_a_code() {
    let run = run_everything().await;
    assert!(run.errors.len() >= 8);
    for err in &run.errors {
        let shown = format!("{err} {err:?} {}", err.code());
        for s in run.secrets.iter().filter(|s| s.len() >= 6) {
            assert!(!shown.contains(s.as_str()), "{shown:?} leaks {s:?}");
        }
    }
}

#[tokio::test]
async fn debug_output_of_secrets_is_redacted() {
    let f = fx();
    let u = user("events-debug");
    let t = f.enroll_totp(&u).await;
    let secret = t.enrollment.secret_base32.expose().to_owned();
    let uri = t.enrollment.otpauth_uri.expose().to_owned();

    assert_eq!(format!("{:?}", SecretString::from("123456")), "[redacted]");
    assert_eq!(
        format!("{:?}", SecretBytes::new(vec![1, 2, 3])),
        "[redacted 3 bytes]"
    );
    let enrollment = format!("{:?}", t.enrollment);
    assert!(enrollment.contains("[redacted]"));
    assert!(!enrollment.contains(&secret) && !enrollment.contains(&uri) && !enrollment.contains("<svg"));

    let code = totp_code(&t.seed, f.now());
    let attempt = f
        .attempt(AttemptTarget::Totp(t.id.clone()), &code)
        .trust_device("Laptop");
    assert!(!format!("{attempt:?}").contains(&code));
    let ok = f.mfa.verify(&u, &attempt).await.unwrap();
    let token = ok.trust.as_ref().unwrap().token.expose().to_owned();
    assert!(!format!("{ok:?}").contains(&token));
    assert!(!format!("{:?}", ok.trust.as_ref().unwrap().token).contains(&token));
    let ctx = f.login_ctx(Some(&token));
    assert!(!format!("{ctx:?}").contains(&token));

    let set = f.mfa.generate_recovery_codes(&u, &f.fresh()).await.unwrap();
    let shown = format!("{set:?}");
    assert!(set.codes.iter().all(|c| !shown.contains(c.expose())));

    let _sms = f.enroll_sms(&u, PHONE).await;
    let msg = f.outbox.last_to(PHONE).unwrap();
    let shown = format!("{msg:?} {:?}", f.outbox);
    assert!(!shown.contains(msg.code.expose()), "{shown}");
    assert!(!shown.contains(PHONE), "{shown}");
    assert!(!format!("{:?}", Destination::phone(PHONE).unwrap()).contains(PHONE));

    let keys = Keys::new(&[0xab; 32], 7, &[0xcd; 32]).unwrap();
    let shown = format!("{keys:?} {:?} {:?}", f.mfa, f.mfa.config());
    assert!(
        !shown.contains("171") && !shown.contains("ab, ab") && !shown.contains("205"),
        "{shown}"
    );
    let rec = f.mfa.store().factor(&u, &t.id).await.unwrap().unwrap();
    let shown = format!("{rec:?}");
    assert!(!shown.contains(&secret));
    assert!(shown.contains("Sealed(key Some(1)"), "{shown}");
}

#[test]
fn error_codes_are_stable_names() {
    let cases: Vec<(MfaError, &str)> = vec![
        (MfaError::InvalidCode { attempts_left: 1 }, "invalid_code"),
        (MfaError::MalformedCode { digits: 6 }, "malformed_code"),
        (MfaError::Expired, "expired"),
        (MfaError::ChallengeClosed, "challenge_closed"),
        (MfaError::Locked { until: None }, "locked"),
        (
            MfaError::RateLimited {
                retry_after: std::time::Duration::from_millis(1),
            },
            "rate_limited",
        ),
        (MfaError::NotEnrolled, "not_enrolled"),
        (MfaError::NotFound, "not_found"),
        (MfaError::Policy(PolicyError::TrustDisabled), "not_allowed"),
        (MfaError::StepUpRequired, "step_up_required"),
        (MfaError::MethodNotAllowed(FactorKind::Sms), "not_allowed"),
        (MfaError::InvalidInput("x"), "invalid_input"),
        (MfaError::Delivery("gateway down".into()), "delivery_failed"),
        (MfaError::SecretUnavailable, "internal"),
        (MfaError::Random, "internal"),
        (MfaError::Store(StoreError::Conflict("x")), "internal"),
    ];
    for (e, want) in cases {
        assert_eq!(e.code(), want, "{e:?}");
        assert_eq!(e.is_internal(), want == "internal");
        assert!(!e.to_string().is_empty());
    }
    // "try again in 1 s", never "0 s".
    let e = MfaError::RateLimited {
        retry_after: std::time::Duration::from_millis(1),
    };
    assert!(e.to_string().contains("1 s"), "{e}");
}

/// A minimal `tracing` subscriber that writes every event's fields to a
/// string (what a log file would get from the default `TracingSink`).
struct Capture(std::sync::Arc<std::sync::Mutex<String>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(format!("{} ", event.metadata().target()));
        event.record(&mut fields);
        let mut log = self.0.lock().unwrap();
        log.push_str(&fields.0);
        log.push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn the_default_tracing_sink_logs_events_without_secrets() {
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let _guard = tracing::subscriber::set_default(Capture(log.clone()));
    let clock = std::sync::Arc::new(ManualClock::new(T0));
    let outbox = std::sync::Arc::new(Outbox::new());
    // No `.events(..)`: the default sink, `tracing`.
    let mfa = Mfa::builder(MemoryStore::new(), keys(), config().build().unwrap())
        .clock(clock.clone())
        .sender(outbox.clone())
        .build();
    let u = user("events-tracing");
    let web = Audience::new(Platform::WEB);
    let fresh = Caller::danger_fresh(web.clone(), T0, FactorKind::Totp);
    let mut secrets = vec![PHONE.to_owned()];
    let e = match mfa
        .begin_enrollment(
            &u,
            EnrollRequest::Totp {
                label: "Phone".into(),
                account_name: "u@example.org".into(),
            },
            &fresh,
        )
        .await
        .unwrap()
    {
        Enrollment::Totp(t) => t,
        other => panic!("{other:?}"),
    };
    secrets.push(e.secret_base32.expose().to_owned());
    let seed = decode_base32(e.secret_base32.expose());
    let code = totp_code(&seed, clock.now());
    secrets.push(code.clone());
    let _ = mfa.confirm_enrollment(&u, &e.factor, &code).await.unwrap();
    let sms = mfa
        .begin_enrollment(
            &u,
            EnrollRequest::Sms {
                label: "Mobile".into(),
                phone: PHONE.into(),
            },
            &fresh,
        )
        .await
        .unwrap();
    let sms_code = outbox.last_code_to(PHONE).unwrap().expose().to_owned();
    secrets.push(sms_code.clone());
    let _ = mfa.confirm_enrollment(&u, sms.factor(), &sms_code).await.unwrap();
    clock.advance(MIN);
    let code = totp_code(&seed, clock.now());
    let bad = wrong(&code);
    secrets.push(code.clone());
    secrets.push(bad.clone());
    let _ = mfa
        .verify(
            &u,
            &Attempt::login(AttemptTarget::Totp(e.factor.clone()), bad, web.clone()),
        )
        .await
        .unwrap_err();
    let ok = mfa
        .verify(
            &u,
            &Attempt::login(AttemptTarget::Totp(e.factor.clone()), code.as_str(), web.clone())
                .trust_device("Laptop"),
        )
        .await
        .unwrap();
    secrets.push(ok.trust.unwrap().token.expose().to_owned());
    let codes = mfa.generate_recovery_codes(&u, &fresh).await.unwrap();
    secrets.extend(codes.codes.iter().map(|c| c.expose().to_owned()));
    let _ = mfa
        .verify(
            &u,
            &Attempt::login(AttemptTarget::RecoveryCode, codes.codes[0].clone(), web),
        )
        .await
        .unwrap();

    let log = log.lock().unwrap().clone();
    for want in [
        "mfa::audit",
        "factor_enrolled",
        "challenge_sent",
        "verify_failed",
        "recovery_code_used",
    ] {
        assert!(log.contains(want), "no {want} in the log:\n{log}");
    }
    for s in &secrets {
        assert!(!log.contains(s.as_str()), "the log leaks {s:?}:\n{log}");
    }
}

/// I5: every change that weakens or resets security emits an event: a
/// policy change, a key rotation, a session revocation, an unlock, a
/// password change (which also ends sessions and revokes devices), an
/// admin reset, a first enrolment ending password-only sessions.
#[tokio::test]
async fn every_change_that_weakens_or_resets_security_emits_an_event() {
    let f = fx();
    let u = user("events-i5");
    let names = |f: &Fx| -> Vec<&'static str> { f.events.events().iter().map(|e| e.kind.name()).collect() };

    f.mfa.set_policy(Policy::required_from(T0)).unwrap();
    let e = f.events.events();
    let last = e.last().unwrap();
    assert_eq!(last.kind.name(), "policy_changed");
    assert_eq!(last.user, None, "a policy change is system-wide");

    // A password-only session ends once its user has a factor (I1), with
    // an event.
    let issued = f.now();
    assert_eq!(
        f.mfa
            .check_login(&u, issued, &f.web, &Assurance::PasswordOnly)
            .await
            .unwrap(),
        SessionCheck::Valid
    );
    f.advance(SEC);
    let _t = f.enroll_totp(&u).await;
    assert_eq!(
        f.mfa
            .check_login(&u, issued, &f.web, &Assurance::PasswordOnly)
            .await
            .unwrap(),
        SessionCheck::Revoked
    );
    assert_eq!(names(&f).last(), Some(&"forced_logout"));

    f.advance(SEC);
    let before = f.now();
    f.mfa.revoke_sessions(&u).await.unwrap();
    assert_eq!(names(&f).last(), Some(&"sessions_revoked"));
    assert_eq!(
        f.mfa.check_session(&u, before, &f.web).await.unwrap(),
        SessionCheck::Revoked
    );

    f.advance(SEC);
    f.mfa.admin_unlock(&u, "staff-1").await.unwrap();
    assert_eq!(names(&f).last(), Some(&"admin_unlock"));

    f.advance(SEC);
    let issued = f.now();
    f.advance(SEC);
    let revoked_at = f.mfa.password_changed(&u).await.unwrap();
    assert_eq!(revoked_at, f.now());
    assert_eq!(names(&f).last(), Some(&"password_changed"));
    assert_eq!(
        f.mfa.check_session(&u, issued, &f.web).await.unwrap(),
        SessionCheck::Revoked,
        "a password change ends the user's sessions"
    );

    let report = f.mfa.rotate_secrets().await.unwrap();
    let last = f.events.events().last().cloned().unwrap();
    assert_eq!(last.kind.name(), "secrets_rotated");
    assert_eq!(last.user, None);
    assert_eq!(report.unreadable, 0);

    f.mfa.admin_reset(&u, "staff-1").await.unwrap();
    assert_eq!(names(&f).last(), Some(&"admin_reset"));
}

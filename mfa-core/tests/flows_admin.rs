//! Lifecycle on a `ManualClock` (docs/SECURITY-REVIEW.md §2, §7): step-up before adding,
//! renaming or removing a factor or regenerating recovery codes; the
//! contact team's admin reset (everything revoked, sessions ended,
//! re-enrolment forced whatever the policy); password changes and session
//! revocation; key rotation of secrets at rest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use mfa_core::*;

const PHONE: &str = "+447700900123";

fn caller(f: &Fx, assurance: Assurance) -> Caller {
    Caller::danger_with(f.web.clone(), assurance)
}

/// Callers that must not pass a step-up check: password only, a trusted
/// device, and a second factor older than 10 minutes.
fn weak_callers(f: &Fx) -> Vec<Caller> {
    vec![
        f.password_only(),
        caller(f, Assurance::danger_trusted_device(f.now())),
        caller(
            f,
            Assurance::danger_second_factor(f.now() - 10 * MIN - Duration::from_millis(1), FactorKind::Totp),
        ),
    ]
}

#[tokio::test]
async fn step_up_is_needed_to_add_a_second_factor() {
    let f = fx();
    let u = user("adm-add");
    let _ = f.enroll_totp(&u).await;
    for c in weak_callers(&f) {
        let err = f.begin_totp(&u, &c).await.unwrap_err();
        assert!(
            matches!(err, MfaError::StepUpRequired),
            "{:?}: {err:?}",
            c.assurance
        );
        assert_eq!(err.code(), "step_up_required");
        let err = f.begin_sms(&u, PHONE, &c).await.unwrap_err();
        assert!(matches!(err, MfaError::StepUpRequired), "{err:?}");
    }
    assert!(f.outbox.messages().is_empty(), "no code sent without step-up");
    // Exactly 10 minutes old still counts as fresh.
    let ten = caller(
        &f,
        Assurance::danger_second_factor(f.now() - 10 * MIN, FactorKind::Sms),
    );
    let _ = f.begin_totp(&u, &ten).await.unwrap();
}

#[tokio::test]
async fn step_up_is_needed_to_remove_rename_or_regenerate() {
    let f = fx();
    let u = user("adm-stepup");
    let t = f.enroll_totp(&u).await;
    for c in weak_callers(&f) {
        for err in [
            f.mfa.remove_factor(&u, &t.id, &c).await.unwrap_err(),
            f.mfa.rename_factor(&u, &t.id, "New name", &c).await.unwrap_err(),
            f.mfa.generate_recovery_codes(&u, &c).await.unwrap_err(),
        ] {
            assert!(matches!(err, MfaError::StepUpRequired), "{err:?}");
        }
    }
    assert_eq!(f.mfa.factors(&u).await.unwrap()[0].label, "Phone");
}

#[tokio::test]
async fn a_fresh_caller_renames_and_removes_factors_and_the_user_is_notified() {
    let f = fx_policy(Policy::required_from(T0));
    let u = user("adm-manage");
    let t = f.enroll_totp(&u).await;
    f.mfa
        .rename_factor(&u, &t.id, "  Old Android  ", &f.fresh())
        .await
        .unwrap();
    assert_eq!(f.mfa.factors(&u).await.unwrap()[0].label, "Old Android");
    assert!(f.saw("factor_renamed"));
    let err = f.mfa.rename_factor(&u, &t.id, "", &f.fresh()).await.unwrap_err();
    assert!(matches!(err, MfaError::InvalidInput(_)), "{err:?}");
    let unknown = FactorId::generate().unwrap();
    let err = f
        .mfa
        .rename_factor(&u, &unknown, "x", &f.fresh())
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");

    f.mfa.remove_factor(&u, &t.id, &f.fresh()).await.unwrap();
    let removed: Vec<_> = f
        .events
        .events()
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::FactorRemoved { .. }))
        .collect();
    assert_eq!(removed.len(), 1);
    assert!(removed[0].kind.notifies_user());
    let err = f.mfa.remove_factor(&u, &t.id, &f.fresh()).await.unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
    // The removed factor no longer verifies; without factors, the user
    // must enrol again.
    let err = f
        .verify_totp(&u, &t.id, &totp_code(&t.seed, f.now()))
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
    assert!(matches!(
        f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
        LoginStep::MustEnroll { .. }
    ));
}

#[tokio::test]
async fn removing_an_sms_factor_kills_its_live_code() {
    let f = fx();
    let u = user("adm-remove-sms");
    let _t = f.enroll_totp(&u).await;
    let sms = f.enroll_sms(&u, PHONE).await;
    f.advance(MIN);
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    f.mfa.remove_factor(&u, &sms, &f.fresh()).await.unwrap();
    let err = f
        .verify_challenge(&u, &sent.challenge, &f.last_code(PHONE))
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
}

#[tokio::test]
async fn admin_reset_revokes_everything_and_forces_enrolment_whatever_the_policy() {
    // The policy does not require MFA.
    let f = fx();
    let u = user("adm-reset");
    let t = f.enroll_totp(&u).await;
    let sms = f.enroll_sms(&u, PHONE).await;
    let _ = f.mfa.generate_recovery_codes(&u, &f.fresh()).await.unwrap();
    f.advance(MIN);
    let trust = f
        .mfa
        .verify(
            &u,
            &f.attempt(AttemptTarget::Totp(t.id.clone()), &totp_code(&t.seed, f.now()))
                .trust_device("Laptop"),
        )
        .await
        .unwrap()
        .trust
        .unwrap();
    let session_issued = f.now();
    f.advance(MIN);
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    let _ = f
        .verify_totp(&u, &t.id, &wrong(&totp_code(&t.seed, f.now())))
        .await
        .unwrap_err();

    f.advance(MIN);
    f.mfa.admin_reset(&u, "staff:ann").await.unwrap();
    let reset_at = f.now();

    let status = f.mfa.status(&u).await.unwrap();
    assert!(status.factors.is_empty());
    assert_eq!(status.recovery_codes_left, 0);
    assert_eq!(status.trusted_devices, 0);
    assert!(status.reenroll_required);
    assert_eq!(status.locked, None);
    assert_eq!(f.failures(&u).await, 0);
    // Forced enrolment although the policy does not require MFA, and the
    // old trust cookie does not help.
    assert_eq!(
        f.mfa
            .begin_login(&u, &f.login_ctx(Some(trust.token.expose())))
            .await
            .unwrap(),
        LoginStep::MustEnroll {
            methods: vec![FactorKind::Totp, FactorKind::Sms, FactorKind::Email]
        }
    );
    // Sessions from before the reset end; later ones live.
    assert_eq!(
        f.mfa.check_session(&u, session_issued, &f.web).await.unwrap(),
        SessionCheck::Revoked
    );
    assert_eq!(
        f.mfa
            .check_session(&u, reset_at + Duration::from_millis(1), &f.web)
            .await
            .unwrap(),
        SessionCheck::Valid
    );
    // The live code died with it.
    let err = f
        .verify_challenge(&u, &sent.challenge, &f.last_code(PHONE))
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
    // Audited, notified, with the actor and no secret.
    let reset = f
        .events
        .events()
        .into_iter()
        .find(|e| matches!(e.kind, EventKind::AdminReset { .. }))
        .unwrap();
    assert_eq!(
        reset.kind,
        EventKind::AdminReset {
            actor: "staff:ann".into()
        }
    );
    assert!(reset.kind.notifies_user());
    assert!(f.events.events().iter().any(|e| e.kind
        == EventKind::ForcedLogout {
            platform: "web".into(),
            reason: "revoked"
        }));

    // Re-enrolling (password only: no factor left) clears the demand.
    let t2 = f.enroll_totp(&u).await;
    assert!(!f.mfa.status(&u).await.unwrap().reenroll_required);
    assert!(matches!(
        f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
        LoginStep::ChooseFactor { .. }
    ));
    // Removing it again falls back to the policy (not required).
    f.mfa.remove_factor(&u, &t2.id, &f.fresh()).await.unwrap();
    assert!(matches!(
        f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
        LoginStep::Complete { .. }
    ));
}

#[tokio::test]
async fn admin_reset_lifts_a_hard_stop() {
    let f = fx();
    let u = user("adm-reset-lock");
    let t = f.enroll_totp(&u).await;
    for _ in 0..100 {
        let _ = f
            .verify_totp(&u, &t.id, &wrong(&totp_code(&t.seed, f.now())))
            .await;
        f.advance(HOUR);
    }
    assert_eq!(f.mfa.status(&u).await.unwrap().locked, Some(None));
    f.mfa.admin_reset(&u, "staff:ann").await.unwrap();
    assert_eq!(f.mfa.status(&u).await.unwrap().locked, None);
    assert!(matches!(
        f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
        LoginStep::MustEnroll { .. }
    ));
}

#[tokio::test]
async fn revoked_sessions_must_log_in_again() {
    let f = fx();
    let u = user("adm-revoke-sessions");
    let issued = f.now();
    f.advance(SEC);
    f.mfa.revoke_sessions(&u).await.unwrap();
    assert_eq!(
        f.mfa.check_session(&u, issued, &f.web).await.unwrap(),
        SessionCheck::Revoked
    );
    // A login one millisecond after the revocation is a new session; one in
    // the same millisecond is not trusted to be.
    assert_eq!(
        f.mfa.check_session(&u, f.now(), &f.web).await.unwrap(),
        SessionCheck::Revoked
    );
    assert_eq!(
        f.mfa
            .check_session(&u, f.now() + Duration::from_millis(1), &f.web)
            .await
            .unwrap(),
        SessionCheck::Valid
    );
}

#[tokio::test]
async fn a_password_change_never_skips_mfa() {
    let f = fx_policy(Policy::required_from(T0));
    let u = user("adm-password");
    let _ = f.enroll_totp(&u).await;
    f.mfa.password_changed(&u).await.unwrap();
    assert!(matches!(
        f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
        LoginStep::ChooseFactor { .. }
    ));
    assert!(f.event_names().contains(&"password_changed"));
}

/// Copies a user's factor records from one engine's store to a new store
/// (what a database keeps across a restart with new keys).
async fn copy_factors(from: &Fx, u: &UserId) -> MemoryStore {
    let store = MemoryStore::new();
    for f in from.mfa.store().factors(u).await.unwrap() {
        store.insert_factor(&f).await.unwrap();
    }
    store
}

#[tokio::test]
async fn key_rotation_reseals_secrets_and_the_old_key_can_then_be_dropped() {
    let mac = [0x11; 32];
    let (k1, k2) = ([0x22; 32], [0x33; 32]);
    let u = user("adm-rotate");

    // Year one: key 1.
    let a = fx_full(
        MemoryStore::new(),
        Keys::new(&mac, 1, &k1).unwrap(),
        config(),
        Policy::default(),
    );
    let t = a.enroll_totp(&u).await;
    let _sms = a.enroll_sms(&u, PHONE).await;

    // Key 2 becomes current, key 1 stays as old: everything still opens.
    let b = fx_full(
        copy_factors(&a, &u).await,
        Keys::new(&mac, 2, &k2).unwrap().with_old_key(1, &k1).unwrap(),
        config(),
        Policy::default(),
    );
    b.clock.set(a.now() + MIN);
    let _ = b
        .verify_totp(&u, &t.id, &totp_code(&t.seed, b.now()))
        .await
        .unwrap();
    let sms = b.mfa.factors(&u).await.unwrap()[1].id.clone();
    let _ = b.send_login_code(&u, &sms).await.unwrap();
    let report = b.mfa.rotate_secrets().await.unwrap();
    assert_eq!(
        report,
        RotationReport {
            resealed: 2,
            current: 0,
            unreadable: 0
        }
    );
    assert_eq!(
        b.mfa.rotate_secrets().await.unwrap(),
        RotationReport {
            resealed: 0,
            current: 2,
            unreadable: 0
        }
    );
    for rec in b.mfa.store().factors(&u).await.unwrap() {
        for sealed in [rec.secret, rec.destination].into_iter().flatten() {
            assert_eq!(sealed.key_id(), Some(2));
        }
    }

    // Key 1 dropped: the re-sealed secrets still verify.
    let c = fx_full(
        copy_factors(&b, &u).await,
        Keys::new(&mac, 2, &k2).unwrap(),
        config(),
        Policy::default(),
    );
    c.clock.set(b.now() + MIN);
    let _ = c
        .verify_totp(&u, &t.id, &totp_code(&t.seed, c.now()))
        .await
        .unwrap();
    let sent = c.send_login_code(&u, &sms).await.unwrap();
    let ok = c
        .verify_challenge(&u, &sent.challenge, &c.last_code(PHONE))
        .await
        .unwrap();
    assert_eq!(ok.method, FactorKind::Sms);
}

/// Secrets written in format 1 (XChaCha20-Poly1305, before AES-256-GCM-SIV)
/// keep working, and a rotation with the same key upgrades them.
#[tokio::test]
async fn format_1_secrets_still_verify_and_rotation_upgrades_them() {
    let (mac, k1) = ([0x11; 32], [0x22; 32]);
    let keys = Keys::new(&mac, 1, &k1).unwrap();
    let u = user("adm-format1");
    let f = fx_full(MemoryStore::new(), keys.clone(), config(), Policy::default());
    let t = f.enroll_totp(&u).await;
    let sms = f.enroll_sms(&u, PHONE).await;
    // Re-seal both secrets the old way, as a database written before would hold them.
    for mut rec in f.mfa.store().factors(&u).await.unwrap() {
        let reseal = |s: &Option<Sealed>, what: &str| {
            s.as_ref().map(|_| {
                let (ctx, plain) = match what {
                    "seed" => (format!("totp-seed\0{u}\0{}", rec.id), t.seed.clone()),
                    _ => (format!("destination\0{u}\0{}", rec.id), PHONE.as_bytes().to_vec()),
                };
                keys.seal_format1_for_tests(&plain, ctx.as_bytes()).unwrap()
            })
        };
        let secret = reseal(&rec.secret, "seed");
        let destination = reseal(&rec.destination, "destination");
        assert_eq!(secret.iter().chain(&destination).count(), 1);
        rec.secret = secret;
        rec.destination = destination;
        f.mfa
            .store()
            .update_sealed(&u, &rec.id, rec.secret.as_ref(), rec.destination.as_ref())
            .await
            .unwrap();
    }
    let stored = f.mfa.store().factor(&u, &t.id).await.unwrap().unwrap();
    assert_eq!(stored.secret.unwrap().format(), Some(1));

    f.clock.set(f.now() + MIN);
    let _ = f
        .verify_totp(&u, &t.id, &totp_code(&t.seed, f.now()))
        .await
        .unwrap();
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    let _ = f
        .verify_challenge(&u, &sent.challenge, &f.last_code(PHONE))
        .await
        .unwrap();

    assert_eq!(
        f.mfa.rotate_secrets().await.unwrap(),
        RotationReport {
            resealed: 2,
            current: 0,
            unreadable: 0
        }
    );
    for rec in f.mfa.store().factors(&u).await.unwrap() {
        for sealed in [rec.secret, rec.destination].into_iter().flatten() {
            assert_eq!(sealed.format(), Some(Sealed::CURRENT_FORMAT));
            assert!(sealed.is_current(1));
        }
    }
    f.clock.set(f.now() + MIN);
    let _ = f
        .verify_totp(&u, &t.id, &totp_code(&t.seed, f.now()))
        .await
        .unwrap();
}

#[tokio::test]
async fn secrets_sealed_with_a_dropped_key_are_unavailable_not_wrong() {
    let mac = [0x11; 32];
    let u = user("adm-lost-key");
    let a = fx_full(
        MemoryStore::new(),
        Keys::new(&mac, 1, &[0x22; 32]).unwrap(),
        config(),
        Policy::default(),
    );
    let t = a.enroll_totp(&u).await;
    let sms = a.enroll_sms(&u, PHONE).await;

    // Key 1 dropped before rotating.
    let b = fx_full(
        copy_factors(&a, &u).await,
        Keys::new(&mac, 2, &[0x33; 32]).unwrap(),
        config(),
        Policy::default(),
    );
    b.clock.set(a.now() + MIN);
    let err = b
        .verify_totp(&u, &t.id, &totp_code(&t.seed, b.now()))
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::SecretUnavailable), "{err:?}");
    assert!(err.is_internal());
    let err = b.send_login_code(&u, &sms).await.unwrap_err();
    assert!(matches!(err, MfaError::SecretUnavailable), "{err:?}");
    assert_eq!(
        b.mfa.rotate_secrets().await.unwrap(),
        RotationReport {
            resealed: 0,
            current: 0,
            unreadable: 2
        }
    );
}

#[tokio::test]
async fn a_sealed_secret_copied_to_another_user_does_not_open() {
    let f = fx();
    let alice = user("adm-alice");
    let mallory = user("adm-mallory");
    let t = f.enroll_totp(&alice).await;
    // Copy Alice's factor record, sealed seed and all, to Mallory.
    let mut rec = f.mfa.store().factor(&alice, &t.id).await.unwrap().unwrap();
    rec.user = mallory.clone();
    f.mfa.store().insert_factor(&rec).await.unwrap();
    let err = f
        .verify_totp(&mallory, &t.id, &totp_code(&t.seed, f.now()))
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::SecretUnavailable), "{err:?}");
}

#[tokio::test]
async fn secrets_at_rest_are_sealed_and_reveal_no_seed_or_destination() {
    let f = fx();
    let u = user("adm-at-rest");
    let t = f.enroll_totp(&u).await;
    let sms = f.enroll_sms(&u, PHONE).await;
    let totp_rec = f.mfa.store().factor(&u, &t.id).await.unwrap().unwrap();
    let sealed = totp_rec.secret.unwrap();
    assert_eq!(sealed.key_id(), Some(1));
    assert!(!sealed.0.windows(t.seed.len()).any(|w| w == t.seed.as_slice()));
    let sms_rec = f.mfa.store().factor(&u, &sms).await.unwrap().unwrap();
    let sealed = sms_rec.destination.clone().unwrap();
    assert!(!sealed.0.windows(PHONE.len()).any(|w| w == PHONE.as_bytes()));
    assert_eq!(sms_rec.masked.as_deref(), Some("•••• ••• 123"));
    assert!(!format!("{sms_rec:?}").contains(PHONE));
}

#[tokio::test]
async fn nobody_can_rename_or_remove_another_users_factor() {
    let f = fx();
    let alice = user("adm-owner");
    let mallory = user("adm-other");
    let t = f.enroll_totp(&alice).await;
    let _ = f.enroll_totp(&mallory).await;
    let err = f
        .mfa
        .remove_factor(&mallory, &t.id, &f.fresh())
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
    let err = f
        .mfa
        .rename_factor(&mallory, &t.id, "mine", &f.fresh())
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
    let factors = f.mfa.factors(&alice).await.unwrap();
    assert_eq!(factors.len(), 1);
    assert_eq!(factors[0].label, "Phone");
}

#[tokio::test]
async fn a_first_enrolment_raced_by_the_real_user_cannot_be_confirmed_without_step_up() {
    let f = fx();
    let u = user("race-first");
    // A password holder starts an enrolment while the user has no factor...
    let intruder = f.begin_totp(&u, &f.password_only()).await.unwrap();
    let seed = decode_base32(intruder.secret_base32.expose());
    // ...the real user enrols first...
    f.advance(MIN);
    let _real = f.enroll_totp(&u).await;
    // ...so the intruder's pending factor can no longer be confirmed.
    f.advance(MIN);
    let code = totp_code(&seed, f.now());
    assert!(matches!(
        f.mfa.confirm_enrollment(&u, &intruder.factor, &code).await,
        Err(MfaError::StepUpRequired)
    ));
    assert_eq!(f.mfa.factors(&u).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_session_issued_in_the_same_millisecond_as_a_reset_is_revoked() {
    let f = fx();
    let u = user("reset-same-ms");
    let _t = f.enroll_totp(&u).await;
    let issued = f.now();
    f.mfa.admin_reset(&u, "staff").await.unwrap();
    assert_eq!(
        f.mfa.check_session(&u, issued, &f.web).await.unwrap(),
        SessionCheck::Revoked
    );
}

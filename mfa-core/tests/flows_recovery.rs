//! Recovery codes (docs/SECURITY-REVIEW.md §6): 10 codes of 16 base32 characters (80
//! bits) grouped for humans, generated only after a fresh second factor,
//! single use, normalised on input, regenerating replaces all, remaining
//! count, bound to their user, and every use notifies the user.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use mfa_core::*;

async fn use_code(f: &Fx, u: &UserId, code: &str) -> Result<Verified, MfaError> {
    f.mfa
        .verify(u, &f.attempt(AttemptTarget::RecoveryCode, code))
        .await
}

#[tokio::test]
async fn ten_codes_of_sixteen_characters_in_groups_of_four() {
    let f = fx();
    let u = user("rec-shape");
    let _ = f.enroll_totp(&u).await;
    let set = f.mfa.generate_recovery_codes(&u, &f.fresh()).await.unwrap();
    assert_eq!(set.codes.len(), 10);
    let mut seen = std::collections::HashSet::new();
    for c in &set.codes {
        let c = c.expose();
        let groups: Vec<&str> = c.split('-').collect();
        assert_eq!(groups.len(), 4, "{c}");
        assert!(groups.iter().all(|g| g.len() == 4), "{c}");
        let raw = c.replace('-', "");
        assert_eq!(raw.len(), recovery::CODE_CHARS);
        // 16 base32 characters: 80 bits.
        assert!(
            raw.bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)),
            "{c}"
        );
        assert!(seen.insert(raw));
    }
    assert_eq!(f.mfa.status(&u).await.unwrap().recovery_codes_left, 10);
    assert!(f.saw("recovery_codes_generated"));
    assert!(matches!(
        f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
        LoginStep::ChooseFactor {
            recovery_codes: true,
            ..
        }
    ));
}

#[tokio::test]
async fn generating_codes_needs_a_fresh_factor_and_an_enrolled_one() {
    let f = fx();
    let u = user("rec-guard");
    let err = f.mfa.generate_recovery_codes(&u, &f.fresh()).await.unwrap_err();
    assert!(matches!(err, MfaError::NotEnrolled), "{err:?}");
    assert_eq!(err.code(), "not_enrolled");
    let _ = f.enroll_totp(&u).await;
    let err = f
        .mfa
        .generate_recovery_codes(&u, &f.password_only())
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::StepUpRequired), "{err:?}");
    // A second factor from more than 10 minutes ago is not fresh.
    let stale = f.fresh();
    f.advance(10 * MIN + SEC);
    let err = f.mfa.generate_recovery_codes(&u, &stale).await.unwrap_err();
    assert!(matches!(err, MfaError::StepUpRequired), "{err:?}");
}

#[tokio::test]
async fn a_recovery_code_is_single_use_and_counts_down() {
    let f = fx();
    let u = user("rec-single");
    let _ = f.enroll_totp(&u).await;
    let set = f.mfa.generate_recovery_codes(&u, &f.fresh()).await.unwrap();
    let ok = use_code(&f, &u, set.codes[3].expose()).await.unwrap();
    assert_eq!(ok.method, FactorKind::RecoveryCode);
    assert_eq!(ok.factor, None);
    assert_eq!(ok.recovery_codes_left, Some(9));
    assert!(f.mfa.is_fresh(&ok.assurance));
    let err = use_code(&f, &u, set.codes[3].expose()).await.unwrap_err();
    assert!(matches!(err, MfaError::InvalidCode { .. }), "{err:?}");
    let ok = use_code(&f, &u, set.codes[4].expose()).await.unwrap();
    assert_eq!(ok.recovery_codes_left, Some(8));
    assert_eq!(f.mfa.status(&u).await.unwrap().recovery_codes_left, 8);
}

#[tokio::test]
async fn using_the_last_code_leaves_none() {
    let f = fx_with(config().recovery_codes(2), Policy::default());
    let u = user("rec-last");
    let _ = f.enroll_totp(&u).await;
    let set = f.mfa.generate_recovery_codes(&u, &f.fresh()).await.unwrap();
    assert_eq!(set.codes.len(), 2);
    for c in &set.codes {
        let _ = use_code(&f, &u, c.expose()).await.unwrap();
    }
    assert!(matches!(
        f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
        LoginStep::ChooseFactor {
            recovery_codes: false,
            ..
        }
    ));
}

#[tokio::test]
async fn codes_are_read_without_regard_to_case_spaces_dashes_or_look_alikes() {
    let f = fx();
    let u = user("rec-normalise");
    let _ = f.enroll_totp(&u).await;
    let set = f.mfa.generate_recovery_codes(&u, &f.fresh()).await.unwrap();
    let typed = [
        set.codes[0].expose().to_uppercase(),
        set.codes[1].expose().replace('-', ""),
        format!(" {} ", set.codes[2].expose().replace('-', " ")),
        set.codes[3]
            .expose()
            .replace('o', "0")
            .replace('l', "1")
            .replace('b', "8"),
    ];
    for t in typed {
        let _ = use_code(&f, &u, &t)
            .await
            .unwrap_or_else(|e| panic!("{t:?}: {e}"));
    }
}

#[tokio::test]
async fn regenerating_replaces_every_code() {
    let f = fx();
    let u = user("rec-regen");
    let _ = f.enroll_totp(&u).await;
    let old = f.mfa.generate_recovery_codes(&u, &f.fresh()).await.unwrap();
    let _ = use_code(&f, &u, old.codes[0].expose()).await.unwrap();
    let new = f.mfa.generate_recovery_codes(&u, &f.fresh()).await.unwrap();
    assert_eq!(f.mfa.status(&u).await.unwrap().recovery_codes_left, 10);
    for c in &old.codes[1..] {
        let err = use_code(&f, &u, c.expose()).await.unwrap_err();
        assert!(matches!(err, MfaError::InvalidCode { .. }), "{err:?}");
        assert!(!new.codes.iter().any(|n| n.expose() == c.expose()));
        f.mfa.admin_unlock(&u, "test").await.unwrap();
    }
    let _ = use_code(&f, &u, new.codes[0].expose()).await.unwrap();
}

#[tokio::test]
async fn using_a_code_notifies_the_user() {
    let f = fx();
    let u = user("rec-notify");
    let _ = f.enroll_totp(&u).await;
    let set = f.mfa.generate_recovery_codes(&u, &f.fresh()).await.unwrap();
    let _ = use_code(&f, &u, set.codes[0].expose()).await.unwrap();
    let used: Vec<_> = f
        .events
        .events()
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::RecoveryCodeUsed { .. }))
        .collect();
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].kind, EventKind::RecoveryCodeUsed { remaining: 9 });
    assert!(used[0].kind.notifies_user());
    assert_eq!(used[0].user, Some(u));
}

#[tokio::test]
async fn a_code_never_verifies_for_another_user() {
    let f = fx();
    let alice = user("rec-alice");
    let bob = user("rec-bob");
    let _ = f.enroll_totp(&alice).await;
    let _ = f.enroll_totp(&bob).await;
    let a = f.mfa.generate_recovery_codes(&alice, &f.fresh()).await.unwrap();
    let _ = f.mfa.generate_recovery_codes(&bob, &f.fresh()).await.unwrap();
    let err = use_code(&f, &bob, a.codes[0].expose()).await.unwrap_err();
    assert!(matches!(err, MfaError::InvalidCode { .. }), "{err:?}");
    let _ = use_code(&f, &alice, a.codes[0].expose()).await.unwrap();
}

#[tokio::test]
async fn malformed_recovery_codes_are_refused_without_counting() {
    let f = fx();
    let u = user("rec-malformed");
    let _ = f.enroll_totp(&u).await;
    let _ = f.mfa.generate_recovery_codes(&u, &f.fresh()).await.unwrap();
    for bad in [
        "",
        "abcd-efgh",
        "abcd-efgh-ijkl-mnop-q",
        "abcd-efgh-ijkl-mn9p",
        "abcd-efgh-ijkl-mnö!",
    ] {
        let err = use_code(&f, &u, bad).await.unwrap_err();
        assert!(matches!(err, MfaError::InvalidInput(_)), "{bad:?}: {err:?}");
    }
    assert_eq!(f.failures(&u).await, 0);
    // A well formed wrong code counts.
    let err = use_code(&f, &u, "aaaa-bbbb-cccc-dddd").await.unwrap_err();
    assert!(
        matches!(err, MfaError::InvalidCode { attempts_left: 4 }),
        "{err:?}"
    );
    assert_eq!(f.failures(&u).await, 1);
}

#[tokio::test]
async fn codes_are_gone_after_an_admin_reset() {
    let f = fx();
    let u = user("rec-reset");
    let _ = f.enroll_totp(&u).await;
    let set = f.mfa.generate_recovery_codes(&u, &f.fresh()).await.unwrap();
    f.mfa.admin_reset(&u, "staff:ann").await.unwrap();
    assert_eq!(f.mfa.status(&u).await.unwrap().recovery_codes_left, 0);
    let err = use_code(&f, &u, set.codes[0].expose()).await.unwrap_err();
    assert!(matches!(err, MfaError::InvalidCode { .. }), "{err:?}");
}

#[tokio::test]
async fn codes_are_stored_as_argon2id_hashes_found_by_a_keyed_fingerprint() {
    let f = fx();
    let u = user("rec-stored");
    let _ = f.enroll_totp(&u).await;
    let set = f.mfa.generate_recovery_codes(&u, &f.fresh()).await.unwrap();
    for c in &set.codes {
        let normalized = c.expose().replace('-', "");
        let fp = keyed_hash(
            "mfa/recovery-fingerprint/v1",
            &[u.as_str().as_bytes(), normalized.as_bytes()],
        );
        let rec = f
            .mfa
            .store()
            .recovery_code(&u, &KeyedHash(fp))
            .await
            .unwrap()
            .expect("found by fingerprint");
        assert!(rec.phc.starts_with("$argon2id$v=19$"), "{}", rec.phc);
        assert!(!rec.phc.contains(&normalized));
        assert!(!format!("{rec:?}").contains(&normalized));
    }
}

//! "Trust this device" on a `ManualClock` (docs/SECURITY-REVIEW.md §5): issue, check,
//! list, expiry at 90 days, revoke one / all, revoked by password change,
//! factor removal and admin reset, bound to one user, weaker than a fresh
//! factor (never fresh for step-up), and policy controls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use mfa_core::*;

/// Logs in with TOTP asking to trust the device; returns the issued trust.
async fn trusted_login(f: &Fx, u: &UserId, t: &TotpFactor, label: &str) -> IssuedTrust {
    f.advance(MIN);
    let attempt = f
        .attempt(AttemptTarget::Totp(t.id.clone()), &totp_code(&t.seed, f.now()))
        .trust_device(label);
    let ok = f.mfa.verify(u, &attempt).await.unwrap();
    ok.trust.expect("trust token issued")
}

async fn login(f: &Fx, u: &UserId, token: &str) -> LoginStep {
    f.mfa.begin_login(u, &f.login_ctx(Some(token))).await.unwrap()
}

fn is_trusted(step: &LoginStep, device: &DeviceId) -> bool {
    matches!(step, LoginStep::Complete { by: CompletedBy::TrustedDevice, device: Some(d), .. } if d == device)
}

#[tokio::test]
async fn a_trusted_device_skips_the_second_factor_and_is_recorded() {
    let f = fx_policy(Policy::required_from(T0));
    let u = user("trust-basic");
    let t = f.enroll_totp(&u).await;
    let issued = trusted_login(&f, &u, &t, "Firefox on Linux").await;
    assert_eq!(issued.token.expose().len(), 43, "256 bits in base64url");
    assert!(TrustToken::parse(issued.token.expose()).is_some());
    assert_eq!(issued.expires_at, f.now() + 90 * DAY);
    assert!(f.saw("trusted_device_added"));

    f.advance(DAY);
    let step = login(&f, &u, issued.token.expose()).await;
    assert!(is_trusted(&step, &issued.device), "{step:?}");
    assert!(f.saw("trusted_device_used"));

    let devices = f.mfa.trusted_devices(&u).await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].id, issued.device);
    assert_eq!(devices[0].label, "Firefox on Linux");
    assert_eq!(devices[0].expires_at, issued.expires_at);
    assert_eq!(devices[0].last_used_at, Some(f.now()));
    assert_eq!(f.mfa.status(&u).await.unwrap().trusted_devices, 1);
    // Without the cookie the factor is asked for.
    assert!(matches!(
        f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
        LoginStep::ChooseFactor {
            trust_allowed: true,
            ..
        }
    ));
}

#[tokio::test]
async fn a_trusted_device_login_is_never_fresh_for_step_up() {
    let f = fx();
    let u = user("trust-weak");
    let t = f.enroll_totp(&u).await;
    let issued = trusted_login(&f, &u, &t, "Laptop").await;
    f.advance(MIN);
    let LoginStep::Complete { assurance: weak, .. } = login(&f, &u, issued.token.expose()).await else {
        panic!("the trusted device should complete the login");
    };
    assert!(matches!(weak, Assurance::TrustedDevice { .. }));
    assert!(!f.mfa.is_fresh(&weak));
    assert!(!f.mfa.is_fresh(&Assurance::PasswordOnly));
    let caller = Caller::danger_with(f.web.clone(), weak);
    let err = f.begin_totp(&u, &caller).await.unwrap_err();
    assert!(matches!(err, MfaError::StepUpRequired), "{err:?}");
    let err = f.mfa.generate_recovery_codes(&u, &caller).await.unwrap_err();
    assert!(matches!(err, MfaError::StepUpRequired), "{err:?}");
}

#[tokio::test]
async fn trust_expires_after_90_days() {
    let f = fx();
    let u = user("trust-expiry");
    let t = f.enroll_totp(&u).await;
    let issued = trusted_login(&f, &u, &t, "Laptop").await;
    f.clock.set(issued.expires_at - Duration::from_millis(1));
    assert!(is_trusted(
        &login(&f, &u, issued.token.expose()).await,
        &issued.device
    ));
    f.clock.set(issued.expires_at);
    let step = login(&f, &u, issued.token.expose()).await;
    assert!(matches!(step, LoginStep::ChooseFactor { .. }), "{step:?}");
    assert!(f.mfa.trusted_devices(&u).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_cohort_may_trust_for_less_or_not_at_all() {
    let policy = Policy::from_toml(
        r#"
        [[cohorts]]
        name = "staff"
        groups = ["staff"]
        trust_device = false
        [[cohorts]]
        name = "android"
        platforms = ["android"]
        trust_for = "7days"
        "#,
    )
    .unwrap();
    let f = fx_policy(policy);
    let u = user("trust-cohort");
    let t = f.enroll_totp(&u).await;

    // Android: seven days.
    f.advance(MIN);
    let android = Audience::new(Platform::ANDROID);
    let ok = f
        .mfa
        .verify(
            &u,
            &Attempt::login(
                AttemptTarget::Totp(t.id.clone()),
                totp_code(&t.seed, f.now()),
                android.clone(),
            )
            .trust_device("Pixel"),
        )
        .await
        .unwrap();
    let issued = ok.trust.unwrap();
    assert_eq!(issued.expires_at, f.now() + 7 * DAY);

    // Staff: no token, and an existing cookie is not honoured.
    f.advance(MIN);
    let staff = Audience::new(Platform::WEB).with_groups(["staff"]);
    let ok = f
        .mfa
        .verify(
            &u,
            &Attempt::login(
                AttemptTarget::Totp(t.id.clone()),
                totp_code(&t.seed, f.now()),
                staff.clone(),
            )
            .trust_device("Office PC"),
        )
        .await
        .unwrap();
    assert!(ok.trust.is_none());
    let step = f
        .mfa
        .begin_login(
            &u,
            &LoginContext::new(staff).with_trust_token(issued.token.expose()),
        )
        .await
        .unwrap();
    assert!(
        matches!(
            step,
            LoginStep::ChooseFactor {
                trust_allowed: false,
                ..
            }
        ),
        "{step:?}"
    );
}

#[tokio::test]
async fn no_trust_token_is_issued_for_step_up() {
    let f = fx();
    let u = user("trust-stepup");
    let t = f.enroll_totp(&u).await;
    let ok = f
        .mfa
        .verify(
            &u,
            &f.attempt(AttemptTarget::Totp(t.id.clone()), &totp_code(&t.seed, f.now()))
                .step_up()
                .trust_device("Laptop"),
        )
        .await
        .unwrap();
    assert!(ok.trust.is_none());
    assert!(f.mfa.trusted_devices(&u).await.unwrap().is_empty());
}

#[tokio::test]
async fn revoking_one_device_leaves_the_others() {
    let f = fx();
    let u = user("trust-revoke-one");
    let t = f.enroll_totp(&u).await;
    let a = trusted_login(&f, &u, &t, "A").await;
    let b = trusted_login(&f, &u, &t, "B").await;
    let listed: Vec<_> = f
        .mfa
        .trusted_devices(&u)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.label)
        .collect();
    assert_eq!(listed, ["B", "A"], "newest first");
    f.mfa.revoke_device(&u, &a.device).await.unwrap();
    assert!(matches!(
        login(&f, &u, a.token.expose()).await,
        LoginStep::ChooseFactor { .. }
    ));
    assert!(is_trusted(&login(&f, &u, b.token.expose()).await, &b.device));
    assert!(f.saw("trusted_device_revoked"));
    // Twice, or someone else's: not found.
    let err = f.mfa.revoke_device(&u, &a.device).await.unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
    let err = f
        .mfa
        .revoke_device(&user("trust-mallory"), &b.device)
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::NotFound), "{err:?}");
    assert!(is_trusted(&login(&f, &u, b.token.expose()).await, &b.device));
}

#[tokio::test]
async fn revoking_all_devices_revokes_every_one() {
    let f = fx();
    let u = user("trust-revoke-all");
    let t = f.enroll_totp(&u).await;
    let a = trusted_login(&f, &u, &t, "A").await;
    let b = trusted_login(&f, &u, &t, "B").await;
    assert_eq!(f.mfa.revoke_all_devices(&u).await.unwrap(), 2);
    for token in [&a.token, &b.token] {
        assert!(matches!(
            login(&f, &u, token.expose()).await,
            LoginStep::ChooseFactor { .. }
        ));
    }
    assert!(f.mfa.trusted_devices(&u).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_password_change_revokes_trusted_devices() {
    let f = fx();
    let u = user("trust-password");
    let t = f.enroll_totp(&u).await;
    let a = trusted_login(&f, &u, &t, "A").await;
    f.mfa.password_changed(&u).await.unwrap();
    assert!(matches!(
        login(&f, &u, a.token.expose()).await,
        LoginStep::ChooseFactor { .. }
    ));
    assert!(f.saw("password_changed"));
    // A device trusted after the change works.
    let b = trusted_login(&f, &u, &t, "B").await;
    assert!(is_trusted(&login(&f, &u, b.token.expose()).await, &b.device));
}

#[tokio::test]
async fn removing_a_factor_revokes_trusted_devices() {
    let f = fx();
    let u = user("trust-remove");
    let t = f.enroll_totp(&u).await;
    let _sms = f.enroll_sms(&u, "+447700900123").await;
    let a = trusted_login(&f, &u, &t, "A").await;
    f.mfa.remove_factor(&u, &t.id, &f.fresh()).await.unwrap();
    assert!(matches!(
        login(&f, &u, a.token.expose()).await,
        LoginStep::ChooseFactor { .. }
    ));
}

#[tokio::test]
async fn an_admin_reset_revokes_trusted_devices() {
    let f = fx();
    let u = user("trust-reset");
    let t = f.enroll_totp(&u).await;
    let a = trusted_login(&f, &u, &t, "A").await;
    f.mfa.admin_reset(&u, "staff:ann").await.unwrap();
    // Re-enrol: the old device is still not trusted.
    let t2 = f.enroll_totp(&u).await;
    let step = login(&f, &u, a.token.expose()).await;
    assert!(matches!(step, LoginStep::ChooseFactor { .. }), "{step:?}");
    let b = trusted_login(&f, &u, &t2, "B").await;
    assert!(is_trusted(&login(&f, &u, b.token.expose()).await, &b.device));
}

#[tokio::test]
async fn a_trust_cookie_of_user_a_is_not_valid_for_user_b() {
    let f = fx();
    let alice = user("trust-alice");
    let bob = user("trust-bob");
    let ta = f.enroll_totp(&alice).await;
    let _tb = f.enroll_totp(&bob).await;
    let a = trusted_login(&f, &alice, &ta, "Alice's laptop").await;
    let step = login(&f, &bob, a.token.expose()).await;
    assert!(matches!(step, LoginStep::ChooseFactor { .. }), "{step:?}");
    assert!(is_trusted(&login(&f, &alice, a.token.expose()).await, &a.device));
}

#[tokio::test]
async fn tampered_or_malformed_cookies_are_ignored() {
    let f = fx();
    let u = user("trust-tamper");
    let t = f.enroll_totp(&u).await;
    let a = trusted_login(&f, &u, &t, "A").await;
    let token = a.token.expose();
    let mut flipped: Vec<char> = token.chars().collect();
    flipped[10] = if flipped[10] == 'A' { 'B' } else { 'A' };
    let flipped: String = flipped.into_iter().collect();
    for bad in [
        flipped.as_str(),
        &token[..42],
        &format!("{token}A"),
        "",
        &"=".repeat(43),
        &format!("{}é", &token[..41]),
    ] {
        let step = login(&f, &u, bad).await;
        assert!(
            matches!(step, LoginStep::ChooseFactor { .. }),
            "{bad:?}: {step:?}"
        );
    }
}

#[tokio::test]
async fn device_labels_are_cleaned() {
    let f = fx();
    let u = user("trust-label");
    let t = f.enroll_totp(&u).await;
    let _ = trusted_login(&f, &u, &t, "  \u{7}  ").await;
    let _ = trusted_login(&f, &u, &t, &"x".repeat(200)).await;
    let labels: Vec<String> = f
        .mfa
        .trusted_devices(&u)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.label)
        .collect();
    assert_eq!(labels[0].chars().count(), 80);
    assert_eq!(labels[1], "Unnamed device");
    assert_eq!(TRUST_COOKIE, "__Host-mfa_trust");
}

#[tokio::test]
async fn the_token_is_stored_only_as_a_keyed_hash() {
    let f = fx();
    let u = user("trust-hash");
    let t = f.enroll_totp(&u).await;
    let issued = trusted_login(&f, &u, &t, "A").await;
    let token = issued.token.expose();
    let hash = keyed_hash("mfa/trust-token/v1", &[token.as_bytes()]);
    let record = f
        .mfa
        .store()
        .device_by_token(&KeyedHash(hash))
        .await
        .unwrap()
        .expect("found by its keyed hash");
    assert_eq!(record.id, issued.device);
    assert_eq!(record.user, u);
    assert!(!format!("{record:?}").contains(token));
}

/// Shortening `trust_for` in the policy shortens devices already trusted:
/// a device's expiry is capped by its cohort's current setting.
#[tokio::test]
async fn shortening_trust_for_in_the_policy_shortens_existing_devices() {
    let f = fx();
    let u = user("trust-shortened");
    let t = f.enroll_totp(&u).await;
    let issued = trusted_login(&f, &u, &t, "Laptop").await;
    let trusted_at = f.now();
    f.clock.set(trusted_at + 10 * DAY);
    assert!(is_trusted(
        &login(&f, &u, issued.token.expose()).await,
        &issued.device
    ));
    f.mfa
        .set_policy(Policy::from_toml("[defaults]\ntrust_for = \"7d\"").unwrap())
        .unwrap();
    let step = login(&f, &u, issued.token.expose()).await;
    assert!(
        matches!(step, LoginStep::ChooseFactor { .. }),
        "10 days old, the policy now trusts for 7: {step:?}"
    );
    // Lengthening it again never extends a device past its own expiry.
    f.mfa
        .set_policy(Policy::from_toml("[defaults]\ntrust_for = \"365d\"").unwrap())
        .unwrap();
    f.clock.set(issued.expires_at);
    assert!(!is_trusted(
        &login(&f, &u, issued.token.expose()).await,
        &issued.device
    ));
}

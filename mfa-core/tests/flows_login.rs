//! The login decision and the rollout policy on a `ManualClock`
//! (docs/SECURITY-REVIEW.md §7, the login flow of docs/http-api.md): `begin_login` answers the same
//! for first-time and existing users, grace period (`OfferEnroll`),
//! enforcement date (`MustEnroll`), cohort methods and enforcement dates,
//! forced re-login cut-offs per cohort through `check_session`, and policy
//! loading and validation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use mfa_core::*;

const ENFORCE: &str = "2026-06-11T00:00:00Z";

fn at(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

/// Required from ENFORCE, offered for 14 days before; Android may only use
/// TOTP; staff must use MFA from an earlier date.
fn rollout() -> Policy {
    Policy::from_toml(&format!(
        r#"
        enforce_from = "{ENFORCE}"
        grace = "14days"

        [defaults]
        methods = ["totp", "sms", "email"]
        relogin_cutoff = "2026-06-11T18:00:00Z"

        [[cohorts]]
        name = "staff"
        groups = ["staff"]
        enforce_from = "2026-05-01T00:00:00Z"

        [[cohorts]]
        name = "android"
        platforms = ["android"]
        methods = ["totp"]
        relogin_cutoff = "2026-07-01T00:00:00Z"
        "#
    ))
    .unwrap()
}

fn all_methods() -> Vec<FactorKind> {
    vec![FactorKind::Totp, FactorKind::Sms, FactorKind::Email]
}

#[tokio::test]
async fn without_a_policy_mfa_is_not_required_but_enrolled_users_are_asked() {
    let f = fx();
    let newcomer = user("login-new");
    assert!(matches!(
        f.mfa.begin_login(&newcomer, &f.login_ctx(None)).await.unwrap(),
        LoginStep::Complete {
            by: CompletedBy::NotRequired,
            assurance: Assurance::PasswordOnly,
            device: None,
            ..
        }
    ));
    let enrolled = user("login-enrolled");
    let t = f.enroll_totp(&enrolled).await;
    match f.mfa.begin_login(&enrolled, &f.login_ctx(None)).await.unwrap() {
        LoginStep::ChooseFactor {
            factors,
            recovery_codes,
            trust_allowed,
        } => {
            assert_eq!(factors.len(), 1);
            assert_eq!(factors[0].id, t.id);
            assert!(!recovery_codes);
            assert!(trust_allowed);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn first_time_and_existing_users_without_a_factor_get_the_same_answer() {
    let f = fx_policy(Policy::required_from(T0));
    // Never seen before.
    let first = user("login-first");
    // Known to the store: failed attempts, a pending enrolment, a removed factor.
    let known = user("login-known");
    let t = f.enroll_totp(&known).await;
    let _ = f.verify_totp(&known, &t.id, "000000").await;
    f.mfa.remove_factor(&known, &t.id, &f.fresh()).await.unwrap();
    let _pending = f.begin_totp(&known, &f.password_only()).await.unwrap();

    let a = f.mfa.begin_login(&first, &f.login_ctx(None)).await.unwrap();
    let b = f.mfa.begin_login(&known, &f.login_ctx(None)).await.unwrap();
    assert_eq!(
        a,
        LoginStep::MustEnroll {
            methods: all_methods()
        }
    );
    assert_eq!(a, b);
    // Restarting the login does not skip enforcement.
    let again = f.mfa.begin_login(&first, &f.login_ctx(None)).await.unwrap();
    assert_eq!(again, a);
}

#[tokio::test]
async fn a_must_enroll_session_can_enrol_its_first_factor_with_the_password_alone() {
    let f = fx_policy(Policy::required_from(T0));
    let u = user("login-first-enrol");
    let step = f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap();
    assert!(matches!(step, LoginStep::MustEnroll { .. }));
    let e = f.begin_totp(&u, &f.password_only()).await.unwrap();
    let seed = decode_base32(e.secret_base32.expose());
    let done = f
        .mfa
        .confirm_enrollment(&u, &e.factor, &totp_code(&seed, f.now()))
        .await
        .unwrap();
    assert!(f.mfa.is_fresh(&done.assurance));
    // A second factor then needs step-up.
    let err = f.begin_totp(&u, &f.password_only()).await.unwrap_err();
    assert!(matches!(err, MfaError::StepUpRequired), "{err:?}");
}

#[tokio::test]
async fn the_grace_period_offers_enrolment_and_the_enforcement_date_demands_it() {
    let f = fx_policy(rollout());
    let u = user("login-grace");
    let enforce = at(ENFORCE);

    f.clock.set(enforce - 15 * DAY);
    assert!(matches!(
        f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
        LoginStep::Complete {
            by: CompletedBy::NotRequired,
            ..
        }
    ));
    f.clock.set(enforce - 14 * DAY);
    assert_eq!(
        f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
        LoginStep::OfferEnroll {
            methods: all_methods(),
            enforce_from: Some(enforce)
        }
    );
    f.clock.set(enforce - Duration::from_millis(1));
    assert!(matches!(
        f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
        LoginStep::OfferEnroll { .. }
    ));
    f.clock.set(enforce);
    assert_eq!(
        f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
        LoginStep::MustEnroll {
            methods: all_methods()
        }
    );
}

#[tokio::test]
async fn cohorts_choose_methods_and_enforcement_dates() {
    let f = fx_policy(rollout());
    f.clock.set(at("2026-06-01T12:00:00Z"));
    let u = user("login-cohorts");
    let android = Audience::new(Platform::ANDROID);
    let staff = Audience::new(Platform::WEB).with_groups(["staff"]);

    // Staff: required already. Android: offered, TOTP only.
    assert_eq!(
        f.mfa.begin_login(&u, &LoginContext::new(staff)).await.unwrap(),
        LoginStep::MustEnroll {
            methods: all_methods()
        }
    );
    assert!(matches!(
        f.mfa.begin_login(&u, &LoginContext::new(android.clone())).await.unwrap(),
        LoginStep::OfferEnroll { methods, .. } if methods == [FactorKind::Totp]
    ));
    // SMS cannot be enrolled from Android.
    let err = f
        .mfa
        .begin_enrollment(
            &u,
            EnrollRequest::Sms {
                label: "Mobile".into(),
                phone: "+447700900123".into(),
            },
            &Caller::password_only(android.clone()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, MfaError::MethodNotAllowed(FactorKind::Sms)),
        "{err:?}"
    );

    // An SMS factor enrolled on the web stays usable on Android (cohort
    // methods restrict enrolment only, I4): the Android login asks for it,
    // before and after enforcement, and never answers from the policy.
    let sms = f.enroll_sms(&u, "+447700900123").await;
    for when in [at("2026-06-01T12:00:00Z"), at(ENFORCE)] {
        f.clock.set(when);
        for audience in [f.web.clone(), android.clone()] {
            match f.mfa.begin_login(&u, &LoginContext::new(audience)).await.unwrap() {
                LoginStep::ChooseFactor { factors, .. } => {
                    assert_eq!(factors.len(), 1);
                    assert_eq!(factors[0].id, sms);
                }
                other => panic!("an enrolled user must be asked for a factor: {other:?}"),
            }
        }
    }
}

/// The regression of the bypass found by trying the engine's own rollout
/// example as an attacker: a resident who enrolled SMS on the web, logging
/// in with the password from a client that *claims* `android` (a cohort
/// allowing only TOTP), was let in on the password alone during the grace
/// period (`OfferEnroll`, then a complete session) and stranded after it
/// (`MustEnroll`, whose enrolment was then refused). I1 and I4: the claim
/// changes nothing; the SMS factor is offered, and its code completes the
/// login on Android.
#[tokio::test]
async fn a_claimed_platform_never_lets_an_enrolled_user_in_on_the_password_alone() {
    let f = fx_policy(rollout());
    let u = user("login-claim-bypass");
    let sms = f.enroll_sms(&u, "+447700900123").await;
    let android = Audience::new(Platform::ANDROID);
    for when in [
        at("2026-05-20T12:00:00Z"), // before the grace period
        at("2026-06-01T12:00:00Z"), // grace period: was OfferEnroll
        at("2026-06-20T12:00:00Z"), // enforced: was MustEnroll
    ] {
        f.clock.set(when);
        let step = f
            .mfa
            .begin_login(&u, &LoginContext::new(android.clone()))
            .await
            .unwrap();
        let LoginStep::ChooseFactor { factors, .. } = step else {
            panic!("{when}: a claimed platform must not skip the second factor: {step:?}");
        };
        assert_eq!(factors.iter().map(|x| &x.id).collect::<Vec<_>>(), [&sms]);
    }
    // And the factor works from Android.
    f.advance(MIN);
    let sent = f.mfa.send_code(&u, &sms, Purpose::Login).await.unwrap();
    let code = f.last_code("+447700900123");
    let ok = f
        .mfa
        .verify(
            &u,
            &Attempt::login(AttemptTarget::Challenge(sent.challenge), code.as_str(), android),
        )
        .await
        .unwrap();
    assert_eq!(ok.method, FactorKind::Sms);
    assert!(matches!(ok.assurance, Assurance::SecondFactor { .. }));
}

#[tokio::test]
async fn a_web_cut_off_logs_out_web_sessions_not_android_ones() {
    let f = fx_policy(rollout());
    let u = user("login-cutoff");
    let web = Audience::new(Platform::WEB);
    let android = Audience::new(Platform::ANDROID);
    let issued = at("2026-06-10T09:00:00Z");

    f.clock.set(at("2026-06-11T17:59:59Z"));
    assert_eq!(
        f.mfa.check_session(&u, issued, &web).await.unwrap(),
        SessionCheck::Valid
    );

    f.clock.set(at("2026-06-11T18:00:00Z"));
    assert_eq!(
        f.mfa.check_session(&u, issued, &web).await.unwrap(),
        SessionCheck::RolloutCutoff
    );
    assert!(f.mfa.must_relogin(issued, &web));
    assert_eq!(
        f.mfa.check_session(&u, issued, &android).await.unwrap(),
        SessionCheck::Valid
    );
    assert!(!f.mfa.must_relogin(issued, &android));
    // A web session started after the cut-off is fine.
    assert_eq!(
        f.mfa
            .check_session(&u, at("2026-06-11T18:00:00Z"), &web)
            .await
            .unwrap(),
        SessionCheck::Valid
    );
    let forced: Vec<_> = f
        .events
        .events()
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::ForcedLogout { .. }))
        .collect();
    assert_eq!(forced.len(), 1);
    assert_eq!(
        forced[0].kind,
        EventKind::ForcedLogout {
            platform: "web".into(),
            reason: "rollout_cutoff"
        }
    );

    // Android's wave comes later.
    f.clock.set(at("2026-07-01T00:00:00Z"));
    assert_eq!(
        f.mfa.check_session(&u, issued, &android).await.unwrap(),
        SessionCheck::RolloutCutoff
    );
}

#[tokio::test]
async fn a_locked_account_is_locked_at_login() {
    let f = fx();
    let u = user("login-locked");
    let t = f.enroll_totp(&u).await;
    for _ in 0..5 {
        let _ = f
            .verify_totp(&u, &t.id, &wrong(&totp_code(&t.seed, f.now())))
            .await
            .unwrap_err();
    }
    assert_eq!(
        f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
        LoginStep::Locked {
            until: Some(f.now() + 30 * SEC)
        }
    );
}

#[tokio::test]
async fn a_policy_change_takes_effect_on_the_next_call_and_is_validated() {
    let f = fx();
    let u = user("login-set-policy");
    assert!(matches!(
        f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
        LoginStep::Complete { .. }
    ));
    f.mfa.set_policy(Policy::required_from(T0)).unwrap();
    assert!(matches!(
        f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
        LoginStep::MustEnroll { .. }
    ));
    let bad = Policy {
        grace: Some(DAY),
        enforce_from: None,
        ..Policy::default()
    };
    let err = f.mfa.set_policy(bad).unwrap_err();
    assert!(matches!(err, PolicyError::Invalid(_)), "{err:?}");
    // The policy in force is unchanged.
    assert_eq!(f.mfa.policy().enforce_from, Some(T0));
    // Surfaced as an engine error it reads "not allowed".
    assert_eq!(MfaError::from(err).code(), "not_allowed");
}

#[tokio::test]
async fn policies_load_from_toml_and_json_and_say_what_is_wrong() {
    let p = rollout();
    assert_eq!(Policy::from_toml(&p.to_toml().unwrap()).unwrap(), p);
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(Policy::from_json(&json).unwrap(), p);
    assert_eq!(p.cohort_name(&Audience::new(Platform::ANDROID)), Some("android"));
    assert_eq!(p.cohort_name(&Audience::new(Platform::IOS)), None);
    for (text, want) in [
        ("enforce_from = \"tomorrow\"", "RFC 3339"),
        ("grace = \"14days\"", "enforce_from"),
        ("[defaults]\nmethods = [\"recovery_code\"]", "recovery_code"),
        ("[defaults]\ntrust_for = \"30min\"", "trust_for"),
        ("[[cohorts]]\nname = \"x\"", "matches everyone"),
        ("enforce = 1", "unknown field"),
    ] {
        let err = Policy::from_toml(text).unwrap_err();
        assert!(err.to_string().contains(want), "{text:?}: {err}");
    }
    assert!(matches!(Policy::from_json("{"), Err(PolicyError::Parse(_))));
    assert!(Platform::new("Web!").is_err());
}

#[tokio::test]
async fn cohort_methods_order_the_factors_offered_and_never_remove_one() {
    // Settings::methods restrict what may be *enrolled*; factors a user has
    // stay usable for login everywhere (I4). On Android (TOTP only) the
    // TOTP factor is offered first, the SMS one still listed and usable.
    let f = fx_policy(rollout());
    f.clock.set(at(ENFORCE));
    let u = user("login-method-order");
    let sms = f.enroll_sms(&u, "+447700900123").await;
    let t = f.enroll_totp(&u).await;
    let android = Audience::new(Platform::ANDROID);
    let ids = |step: LoginStep| match step {
        LoginStep::ChooseFactor { factors, .. } => factors.into_iter().map(|x| x.id).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    let on_android = ids(f
        .mfa
        .begin_login(&u, &LoginContext::new(android.clone()))
        .await
        .unwrap());
    assert_eq!(on_android, [t.id.clone(), sms.clone()]);
    let on_web = ids(f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap());
    assert_eq!(on_web, [sms.clone(), t.id.clone()]);

    f.advance(MIN);
    let sent = f.send_login_code(&u, &sms).await.unwrap();
    let code = f.last_code("+447700900123");
    let ok = f
        .mfa
        .verify(
            &u,
            &Attempt::login(
                AttemptTarget::Challenge(sent.challenge.clone()),
                code.as_str(),
                android,
            ),
        )
        .await
        .unwrap();
    assert_eq!(ok.method, FactorKind::Sms);
}

#[tokio::test]
async fn a_policy_that_drops_a_method_does_not_strand_users_who_have_it() {
    // Removing TOTP from every cohort stops new TOTP enrolments; an
    // existing TOTP factor is still asked for and still works (retiring a
    // method for existing users is the contact team's reset, not a policy
    // edit, which must never turn into "no factor asked").
    let f = fx();
    let u = user("login-totp-dropped");
    let t = f.enroll_totp(&u).await;
    f.mfa
        .set_policy(Policy::from_toml("[defaults]\nmethods = [\"sms\", \"email\"]").unwrap())
        .unwrap();
    assert!(matches!(
        f.mfa.begin_login(&u, &f.login_ctx(None)).await.unwrap(),
        LoginStep::ChooseFactor { ref factors, .. } if factors.len() == 1 && factors[0].id == t.id
    ));
    let ok = f
        .verify_totp(&u, &t.id, &totp_code(&t.seed, f.now()))
        .await
        .unwrap();
    assert_eq!(ok.method, FactorKind::Totp);
    let err = f.begin_totp(&u, &f.fresh()).await.unwrap_err();
    assert!(
        matches!(err, MfaError::MethodNotAllowed(FactorKind::Totp)),
        "{err:?}"
    );
}

//! Scenarios for the decision core's invariants (I1–I4, see
//! `docs/SECURITY-REVIEW.md`) over HTTP, against every adapter.

use serde_json::json;

use crate::scenarios::{send, sms_user};
use crate::{Env, ServerUnderTest, Setup};

const PHONE_INPUT: &str = "+44 7700 900123";
const PHONE: &str = "+447700900123";

/// The engine's own rollout example as an attacker tried it: a resident
/// who enrolled SMS on the web logs in with the password from a client
/// that *claims* `X-Client-Platform: android`, a cohort allowing only
/// TOTP, during the grace period and after enforcement. The login must
/// stay pending (I1, I4): no complete session on the password alone, no
/// forced enrolment dead end; the SMS factor is offered and completes it.
pub async fn claimed_platform_never_skips_mfa_for_an_enrolled_user(server: &dyn ServerUnderTest) {
    let enforce = crate::START + std::time::Duration::from_secs(14 * 86_400);
    let policy = mfa_core::Policy::from_toml(&format!(
        r#"
        enforce_from = "{}"
        grace = "30d"

        [[cohorts]]
        name = "android"
        platforms = ["android"]
        methods = ["totp"]
        "#,
        enforce.to_rfc3339()
    ))
    .unwrap();
    let env = Env::start(server, Setup::with_policy(policy)).await;
    let (_web, factor) = sms_user(&env, "alice", PHONE_INPUT, PHONE).await;
    for days in [1, 20] {
        env.advance(days * 86_400);
        let app = env.client();
        let r = app.login_from("alice", "android").await;
        r.expect(200);
        assert_eq!(r.body["state"], "pending", "day {days}: {}", r.text);
        assert_eq!(r.body["step"], "choose_factor", "{}", r.text);
        assert_eq!(r.body["factors"][0]["id"], factor.as_str(), "{}", r.text);
        assert!(r.body.get("enroll_offered").is_none(), "{}", r.text);
        app.get("/app/account").await.expect_error(401, "mfa_required");
        app.post(&app.mfa("/enroll/totp"), json!({"label": "Phone"}))
            .await
            .expect_error(401, "mfa_required");
        env.advance(31);
        let challenge = send(&app, &factor).await;
        let r = app
            .post(
                &app.mfa("/verify"),
                json!({"method": "challenge", "challenge_id": challenge, "code": env.last_code(PHONE)}),
            )
            .await;
        r.expect(200);
        app.get("/app/account").await.expect(200);
    }
}

/// A first enrolment ends every session opened with the password alone
/// (a password-holder's session does not outlive the resident's
/// enrolment), and the enrolling session goes on.
pub async fn first_enrolment_ends_password_only_sessions(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::with_policy(mfa_core::Policy::default())).await;
    let intruder = env.client();
    let r = intruder.login("dan").await;
    assert_eq!(r.body["completed_by"], "not_required", "{}", r.text);
    intruder.get("/app/account").await.expect(200);
    env.advance(1);
    let (owner, _) = sms_user(&env, "dan", PHONE_INPUT, PHONE).await;
    owner.get("/app/account").await.expect(200);
    let r = intruder.get("/app/account").await;
    r.expect_error(401, "session_ended");
    assert_eq!(r.body["reason"], "revoked");
}

//! The scenarios. Each starts its own server from a [`Setup`] and drives
//! it as browsers would. Names state the property.

use std::sync::Arc;

use serde_json::json;

use crate::{Client, Env, Prepared, Resp, START, ServerUnderTest, Setup};

const PHONE: &str = "+447700900123";
const PHONE_INPUT: &str = "+44 7700 900123";

/// A user who enrolled an authenticator app; the browser's session is
/// complete and fresh.
pub struct TotpUser {
    /// The browser.
    pub client: Client,
    /// The app's otpauth URI.
    pub uri: String,
    /// The factor id.
    pub factor: String,
}

/// Logs `user` in (first time: must enrol) and enrols TOTP.
pub async fn totp_user(env: &Env, user: &str) -> TotpUser {
    let c = env.client();
    let r = c.login(user).await;
    r.expect(200);
    assert_eq!(r.body["state"], "pending", "{}", r.text);
    assert_eq!(r.body["step"], "must_enroll");
    let r = c.post(&c.mfa("/enroll/totp"), json!({"label": "Phone"})).await;
    r.expect(201);
    let uri = r.body["otpauth_uri"].as_str().unwrap().to_owned();
    let factor = r.body["factor_id"].as_str().unwrap().to_owned();
    let code = env.totp(&uri);
    c.post(
        &c.mfa("/enroll/confirm"),
        json!({"factor_id": factor, "code": code}),
    )
    .await
    .expect(200);
    TotpUser {
        client: c,
        uri,
        factor,
    }
}

/// A user who enrolled SMS to `phone_input` (normalised `phone`).
pub async fn sms_user(env: &Env, user: &str, phone_input: &str, phone: &str) -> (Client, String) {
    let c = env.client();
    c.login(user).await.expect(200);
    let r = c
        .post(
            &c.mfa("/enroll/sms"),
            json!({"label": "Mobile", "phone": phone_input}),
        )
        .await;
    r.expect(201);
    let factor = r.body["factor_id"].as_str().unwrap().to_owned();
    let code = env.last_code(phone);
    c.post(
        &c.mfa("/enroll/confirm"),
        json!({"factor_id": factor, "code": code}),
    )
    .await
    .expect(200);
    (c, factor)
}

/// A new browser with a pending login of `user`.
pub async fn pending(env: &Env, user: &str) -> Client {
    let c = env.client();
    let r = c.login(user).await;
    r.expect(200);
    assert_eq!(r.body["state"], "pending", "{}", r.text);
    c
}

/// Sends a login/step-up code through `factor`; returns the challenge id.
pub async fn send(c: &Client, factor: &str) -> String {
    let r = c.post(&c.mfa("/send-code"), json!({"factor_id": factor})).await;
    r.expect(200);
    r.body["challenge_id"].as_str().unwrap().to_owned()
}

/// `POST /verify` with a TOTP code.
pub async fn verify_totp(c: &Client, factor: &str, code: &str, trust: bool) -> Resp {
    c.post(
        &c.mfa("/verify"),
        json!({"method": "totp", "factor_id": factor, "code": code, "trust_device": trust, "device_label": "Laptop"}),
    )
    .await
}

/// `POST /verify` with an SMS/email code.
pub async fn verify_challenge(c: &Client, challenge: &str, code: &str) -> Resp {
    c.post(
        &c.mfa("/verify"),
        json!({"method": "challenge", "challenge_id": challenge, "code": code}),
    )
    .await
}

/// A six-digit code different from `code`.
fn other_than(code: &str) -> String {
    if code == "000000" { "111111" } else { "000000" }.to_owned()
}

/// A TOTP code valid in none of the steps around now.
fn wrong_totp(env: &Env, uri: &str) -> String {
    let now = env.totp(uri);
    env.advance(30);
    let next = env.totp(uri);
    env.clock.set(mfa_core::Timestamp::from_unix_millis(
        mfa_core::Clock::now(&*env.clock).unix_millis() - 60_000,
    ));
    let prev = env.totp(uri);
    env.advance(30);
    (0..10u32)
        .map(|d| d.to_string().repeat(6))
        .find(|c| c != &now && c != &next && c != &prev)
        .unwrap()
}

fn assert_status_state(r: &Resp, state: &str) {
    r.expect(200);
    assert_eq!(r.body["state"], state, "{}", r.text);
}

// ---------------------------------------------------------------------------

/// Anonymous: status says so; app and MFA routes refuse with 401 JSON.
pub async fn anonymous_status_and_refusals(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let c = env.client();
    assert_status_state(&c.status().await, "anonymous");
    c.get("/app/account").await.expect_error(401, "unauthenticated");
    c.get("/app/payments").await.expect_error(401, "unauthenticated");
    c.get("/app/pending").await.expect_error(401, "unauthenticated");
    c.get(&c.mfa("/factors"))
        .await
        .expect_error(401, "unauthenticated");
    c.get(&c.mfa("/devices"))
        .await
        .expect_error(401, "unauthenticated");
    c.post(&c.mfa("/send-code"), json!({"factor_id": "fa_x"}))
        .await
        .expect_error(401, "unauthenticated");
    c.post(
        &c.mfa("/verify"),
        json!({"method": "totp", "factor_id": "fa_x", "code": "123456"}),
    )
    .await
    .expect_error(401, "unauthenticated");
    c.post(&c.mfa("/enroll/totp"), json!({"label": "x"}))
        .await
        .expect_error(401, "unauthenticated");
    c.post(&c.mfa("/recovery-codes"), json!({}))
        .await
        .expect_error(401, "unauthenticated");
}

/// The fake login's wrong password creates no session.
pub async fn wrong_password_is_the_apps_refusal(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let c = env.client();
    c.post("/login", json!({"user": "alice", "password": "nope"}))
        .await
        .expect_error(401, "invalid_credentials");
    assert_status_state(&c.status().await, "anonymous");
}

/// First login under a required policy: must enrol; TOTP enrolment gives
/// URI, QR SVG and key; a wrong or malformed code is refused; the right
/// one completes the login with a fresh second factor.
pub async fn first_login_must_enroll_totp(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let c = env.client();
    let r = c.login("alice").await;
    assert_status_state(&r, "pending");
    assert_eq!(r.body["step"], "must_enroll");
    assert!(r.body["methods"].as_array().unwrap().contains(&json!("totp")));
    c.get("/app/account").await.expect_error(401, "mfa_required");
    c.get("/app/pending").await.expect(200);

    let r = c.post(&c.mfa("/enroll/totp"), json!({"label": "Phone"})).await;
    r.expect(201);
    let uri = r.body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Contract%20Homes:alice?"), "{uri}");
    assert!(r.body["qr_svg"].as_str().unwrap().contains("<svg"));
    let secret = r.body["secret"].as_str().unwrap();
    assert!(secret.len() >= 32 && uri.contains(secret));
    let factor = r.body["factor_id"].as_str().unwrap();
    assert!(factor.starts_with("fa_"));
    assert!(
        r.headers
            .get("cache-control")
            .is_some_and(|v| v.to_str().unwrap_or("").contains("no-store")),
        "secrets must not be cached"
    );

    let good = env.totp(uri);
    let r = c
        .post(
            &c.mfa("/enroll/confirm"),
            json!({"factor_id": factor, "code": other_than(&good)}),
        )
        .await;
    r.expect_error(422, "invalid_code");
    assert!(r.body["attempts_left"].is_u64());
    let r = c
        .post(
            &c.mfa("/enroll/confirm"),
            json!({"factor_id": factor, "code": "12ab56"}),
        )
        .await;
    r.expect_error(400, "malformed_code");
    assert_eq!(r.body["digits"], 6);

    let r = c
        .post(
            &c.mfa("/enroll/confirm"),
            json!({"factor_id": factor, "code": good}),
        )
        .await;
    assert_status_state(&r, "complete");
    assert_eq!(r.body["factor"]["method"], "totp");
    assert_eq!(r.body["factor"]["id"], factor);

    let s = c.status().await;
    assert_status_state(&s, "complete");
    assert_eq!(s.body["completed_by"], "second_factor");
    assert_eq!(s.body["fresh"], true);
    assert_eq!(s.body["factors"].as_array().unwrap().len(), 1);
    let r = c.get("/app/account").await;
    r.expect(200);
    assert_eq!(r.body["user"], "alice");
    c.get("/app/payments").await.expect(200);
    c.get("/app/pending").await.expect_error(409, "not_pending");
}

/// A returning user chooses a factor; a TOTP code verifies once, a replay
/// of it is refused.
pub async fn totp_login_and_replay_refused(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    env.advance(30);
    let code = env.totp(&u.uri);

    let c = env.client();
    let r = c.login("alice").await;
    assert_status_state(&r, "pending");
    assert_eq!(r.body["step"], "choose_factor");
    assert_eq!(r.body["factors"][0]["id"], u.factor.as_str());
    assert_eq!(r.body["factors"][0]["method"], "totp");
    assert_eq!(r.body["recovery_codes"], false);
    assert_eq!(r.body["trust_allowed"], true);
    let s = c.status().await;
    assert_eq!(s.body["step"], "choose_factor");

    let r = verify_totp(&c, &u.factor, &code, false).await;
    assert_status_state(&r, "complete");
    assert_eq!(r.body["method"], "totp");
    assert_eq!(r.body["trusted_device"], false);
    c.get("/app/account").await.expect(200);

    let replay = pending(&env, "alice").await;
    verify_totp(&replay, &u.factor, &code, false)
        .await
        .expect_error(422, "invalid_code");
    replay.get("/app/account").await.expect_error(401, "mfa_required");
}

/// SMS: enrol (code sent, destination masked), confirm, then log in with a
/// sent code.
pub async fn sms_enrolment_and_login(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let c = env.client();
    c.login("bob").await.expect(200);
    let r = c
        .post(
            &c.mfa("/enroll/sms"),
            json!({"label": "Mobile", "phone": PHONE_INPUT}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["method"], "sms");
    assert_eq!(r.body["sent_to"], "•••• ••• 123");
    assert_eq!(r.body["attempts_left"], 5);
    assert!(r.body["challenge_id"].as_str().unwrap().starts_with("ch_"));
    assert!(!r.text.contains(PHONE) && !r.text.contains("7700900123"));
    let factor = r.body["factor_id"].as_str().unwrap().to_owned();
    // An enrolment code is bound to its purpose: it does not log in.
    let enrol_challenge = r.body["challenge_id"].as_str().unwrap().to_owned();
    verify_challenge(&c, &enrol_challenge, &env.last_code(PHONE))
        .await
        .expect_error(422, "invalid_code");
    c.get("/app/account").await.expect_error(401, "mfa_required");
    let r = c
        .post(
            &c.mfa("/enroll/confirm"),
            json!({"factor_id": factor, "code": env.last_code(PHONE)}),
        )
        .await;
    assert_status_state(&r, "complete");
    assert_eq!(r.body["factor"]["masked_destination"], "•••• ••• 123");

    let c2 = pending(&env, "bob").await;
    let s = c2.status().await;
    assert_eq!(s.body["factors"][0]["method"], "sms");
    let ch = send(&c2, &factor).await;
    let code = env.last_code(PHONE);
    let r = verify_challenge(&c2, &ch, &code).await;
    assert_status_state(&r, "complete");
    assert_eq!(r.body["method"], "sms");
    c2.get("/app/account").await.expect(200);
    // The used challenge is closed, for this and any other session.
    let c3 = pending(&env, "bob").await;
    verify_challenge(&c3, &ch, &code)
        .await
        .expect_error(422, "challenge_closed");
}

/// Methods the policy does not allow for the cohort are refused.
pub async fn method_not_allowed_by_policy(server: &dyn ServerUnderTest) {
    let policy = mfa_core::Policy::from_toml(
        r#"
        enforce_from = "1970-01-01T00:00:00Z"
        [defaults]
        methods = ["totp"]
        "#,
    )
    .unwrap();
    let env = Env::start(server, Setup::with_policy(policy)).await;
    let c = env.client();
    let r = c.login("erin").await;
    assert_eq!(r.body["methods"], json!(["totp"]));
    c.post(
        &c.mfa("/enroll/sms"),
        json!({"label": "Mobile", "phone": PHONE_INPUT}),
    )
    .await
    .expect_error(403, "not_allowed");
    c.post(
        &c.mfa("/enroll/email"),
        json!({"label": "Mail", "address": "erin@example.org"}),
    )
    .await
    .expect_error(403, "not_allowed");
    c.post(
        &c.mfa("/enroll/totp"),
        json!({"label": "Phone", "account_name": "a:b"}),
    )
    .await
    .expect_error(400, "invalid_input");
    c.post(&c.mfa("/enroll/totp"), json!({"label": ""}))
        .await
        .expect_error(400, "invalid_input");
    c.post(&c.mfa("/enroll/totp"), json!({"label": "Phone"}))
        .await
        .expect(201);
}

/// A login code does not verify a step-up (codes are bound to their purpose).
pub async fn login_code_does_not_verify_step_up(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let (c, factor) = sms_user(&env, "bob", PHONE_INPUT, PHONE).await;
    env.advance(31);
    let p = pending(&env, "bob").await;
    let ch = send(&p, &factor).await;
    let code = env.last_code(PHONE);
    // `c` is complete: it tries the other session's login challenge for step-up.
    c.post(
        &c.mfa("/step-up"),
        json!({"method": "challenge", "challenge_id": ch, "code": code}),
    )
    .await
    .expect_error(422, "invalid_code");
}

/// Email enrolment; a resend inside the cool-down is 429 with
/// `retry_after`; after it a new code replaces the old one.
pub async fn email_enrolment_resend_replaces_code(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let c = env.client();
    c.login("carol").await.expect(200);
    let r = c
        .post(
            &c.mfa("/enroll/email"),
            json!({"label": "Mail", "address": "Carol@Example.ORG"}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["method"], "email");
    assert_eq!(r.body["sent_to"], "C•••@example.org");
    let factor = r.body["factor_id"].as_str().unwrap().to_owned();
    let to = "Carol@example.org";
    let old = env.last_code(to);

    let r = c
        .post(&c.mfa("/enroll/resend"), json!({"factor_id": factor}))
        .await;
    r.expect_error(429, "rate_limited");
    assert!(r.body["retry_after"].as_u64().unwrap() >= 1);
    assert!(r.headers.get("retry-after").is_some());

    env.advance(31);
    c.post(&c.mfa("/enroll/resend"), json!({"factor_id": factor}))
        .await
        .expect(200);
    let new = env.last_code(to);
    if new != old {
        c.post(
            &c.mfa("/enroll/confirm"),
            json!({"factor_id": factor, "code": old}),
        )
        .await
        .expect_error(422, "invalid_code");
    }
    let r = c
        .post(
            &c.mfa("/enroll/confirm"),
            json!({"factor_id": factor, "code": new}),
        )
        .await;
    assert_status_state(&r, "complete");
}

/// A pending session reaches nothing but its MFA routes (forced browsing
/// while MFA is pending).
pub async fn pending_session_is_confined(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    let c = pending(&env, "alice").await;
    for path in ["/app/account", "/app/payments"] {
        c.get(path).await.expect_error(401, "mfa_required");
    }
    c.get(&c.mfa("/factors")).await.expect_error(401, "mfa_required");
    c.get(&c.mfa("/devices")).await.expect_error(401, "mfa_required");
    c.delete(&c.mfa(&format!("/factors/{}", u.factor)))
        .await
        .expect_error(401, "mfa_required");
    c.delete(&c.mfa("/devices"))
        .await
        .expect_error(401, "mfa_required");
    c.post(&c.mfa("/recovery-codes"), json!({}))
        .await
        .expect_error(401, "mfa_required");
    c.post(
        &c.mfa("/step-up"),
        json!({"method": "totp", "factor_id": u.factor, "code": "123456"}),
    )
    .await
    .expect_error(401, "mfa_required");
    let r = c.get("/app/pending").await;
    r.expect(200);
    assert_eq!(r.body["user"], "alice");
    // The app path is no way around it.
    let app = env.client();
    assert_status_state(&app.login_from("alice", "android").await, "pending");
    app.get("/app/account").await.expect_error(401, "mfa_required");
    assert_status_state(&c.status().await, "pending");
    // The factor is still there, untouched.
    u.client.get(&u.client.mfa("/factors")).await.expect(200);
}

/// A half-logged-in session (password only, user has a factor) cannot add
/// a factor.
pub async fn adding_a_factor_while_half_logged_in_is_refused(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    let c = pending(&env, "alice").await;
    c.post(&c.mfa("/enroll/totp"), json!({"label": "Evil"}))
        .await
        .expect_error(401, "mfa_required");
    c.post(
        &c.mfa("/enroll/sms"),
        json!({"label": "Evil", "phone": PHONE_INPUT}),
    )
    .await
    .expect_error(401, "mfa_required");
    c.post(
        &c.mfa("/enroll/email"),
        json!({"label": "Evil", "address": "e@evil.example"}),
    )
    .await
    .expect_error(401, "mfa_required");
    c.post(
        &c.mfa("/enroll/confirm"),
        json!({"factor_id": u.factor, "code": "123456"}),
    )
    .await
    .expect_error(401, "mfa_required");
    assert!(env.outbox.messages().is_empty(), "nothing was sent");
    let r = u.client.get(&u.client.mfa("/factors")).await;
    assert_eq!(r.body["factors"].as_array().unwrap().len(), 1);
}

/// Session fixation: the id changes after the password and again after
/// the second factor; old ids are dead.
pub async fn session_id_changes_after_password_and_after_mfa(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    let name = env.server.session_cookie.clone();
    let c = env.client();
    c.set_cookie(&name, "attacker-chosen-session-id");
    c.login("alice").await.expect(200);
    let a = c.cookie(&name).expect("session cookie after password");
    assert_ne!(a, "attacker-chosen-session-id");
    let before_relogin = c.fork();
    c.login("alice").await.expect(200);
    let b = c.cookie(&name).unwrap();
    assert_ne!(a, b, "a second password step cycles the id");
    // Restarting the login does not skip the second factor.
    c.get("/app/account").await.expect_error(401, "mfa_required");
    assert_status_state(&before_relogin.status().await, "anonymous");

    let pending_copy = c.fork();
    env.advance(30);
    verify_totp(&c, &u.factor, &env.totp(&u.uri), false)
        .await
        .expect(200);
    let d = c.cookie(&name).unwrap();
    assert_ne!(b, d, "the second factor cycles the id");
    assert_status_state(&pending_copy.status().await, "anonymous");
    pending_copy
        .get("/app/account")
        .await
        .expect_error(401, "unauthenticated");
    assert_status_state(&c.status().await, "complete");
}

/// "Trust this device": the cookie's attributes; the next login skips the
/// factor but is not fresh, so sensitive actions need a step-up.
pub async fn trusted_device_skips_factor_but_is_not_fresh(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    env.advance(30);
    let c = pending(&env, "alice").await;
    let r = verify_totp(&c, &u.factor, &env.totp(&u.uri), true).await;
    r.expect(200);
    assert_eq!(r.body["trusted_device"], true);
    let name = env.server.trust_cookie.clone();
    let set = r.set_cookie(&name).expect("trust cookie set");
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=7776000"] {
        assert!(set.contains(attr), "{attr} missing in {set}");
    }
    assert!(!set.to_ascii_lowercase().contains("domain="), "{set}");
    let token = c.cookie(&name).unwrap();
    assert_eq!(token.len(), 43);
    assert!(!r.text.contains(&token), "the token is only in the cookie");

    let d = c.get(&c.mfa("/devices")).await;
    d.expect(200);
    assert_eq!(d.body["devices"][0]["label"], "Laptop");

    c.post("/logout", json!({})).await.expect(204);
    let r = c.login("alice").await;
    assert_status_state(&r, "complete");
    assert_eq!(r.body["completed_by"], "trusted_device");
    let s = c.status().await;
    assert_eq!(s.body["completed_by"], "trusted_device");
    assert_eq!(s.body["fresh"], false);
    c.get("/app/account").await.expect(200);
    c.get("/app/payments").await.expect_error(403, "step_up_required");
    c.delete(&c.mfa(&format!("/factors/{}", u.factor)))
        .await
        .expect_error(403, "step_up_required");
    c.post(&c.mfa("/recovery-codes"), json!({}))
        .await
        .expect_error(403, "step_up_required");

    env.advance(30);
    let r = c
        .post(
            &c.mfa("/step-up"),
            json!({"method": "totp", "factor_id": u.factor, "code": env.totp(&u.uri)}),
        )
        .await;
    assert_status_state(&r, "complete");
    assert_eq!(c.status().await.body["fresh"], true);
    c.get("/app/payments").await.expect(200);
}

/// A trust cookie copied to another user, tampered with, or revoked does
/// not skip the second factor.
pub async fn trust_cookie_tampered_foreign_or_revoked_is_ignored(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let name = env.server.trust_cookie.clone();
    let alice = totp_user(&env, "alice").await;
    let _bob = totp_user(&env, "bob").await;
    env.advance(30);
    let a = pending(&env, "alice").await;
    verify_totp(&a, &alice.factor, &env.totp(&alice.uri), true)
        .await
        .expect(200);
    let token = a.cookie(&name).unwrap();

    let b = env.client();
    b.set_cookie(&name, &token);
    assert_status_state(&b.login("bob").await, "pending");

    let mut chars: Vec<char> = token.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    for value in [tampered.as_str(), "x", &"A".repeat(43), &format!("{token}x")] {
        let t = env.client();
        t.set_cookie(&name, value);
        assert_status_state(&t.login("alice").await, "pending");
    }

    let again = env.client();
    again.set_cookie(&name, &token);
    let r = again.login("alice").await;
    assert_eq!(r.body["completed_by"], "trusted_device", "{}", r.text);

    let devices = alice.client.get(&alice.client.mfa("/devices")).await;
    let id = devices.body["devices"][0]["id"].as_str().unwrap().to_owned();
    alice
        .client
        .delete(&alice.client.mfa(&format!("/devices/{id}")))
        .await
        .expect(204);
    alice
        .client
        .delete(&alice.client.mfa(&format!("/devices/{id}")))
        .await
        .expect_error(404, "not_found");
    let after = env.client();
    after.set_cookie(&name, &token);
    assert_status_state(&after.login("alice").await, "pending");
}

/// How many requests a race sends at once.
pub const RACERS: usize = 20;

/// A race of [`RACERS`] requests that really run together: each racer is
/// a separate browser holding a copy of `c`'s cookies, with its own
/// connection, on its own task of the test's multi-threaded runtime; its
/// request, built by `request`, is sent held back
/// ([`Prepared::send_behind`]): headers and all of the body but the last
/// byte, then a wait at one `tokio::sync::Barrier` for all the racers,
/// then the last byte. So every request has been parsed by the server and
/// is waiting for its body when all are released at once. The answers are
/// in the racers' order, which says nothing of the order they were
/// handled in.
///
/// The servers under test serve on several threads (actix: 4 workers;
/// axum: its own 4-thread runtime), so the requests are handled in
/// parallel; [`crate::race_suite!`] runs the races once more on a store
/// that yields and takes a millisecond at every call
/// ([`crate::yielding`]), so they also interleave inside one verification
/// (between its store calls), and checks that they did.
pub async fn race(c: &Client, request: impl Fn(&Client) -> Prepared) -> Vec<Resp> {
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|_| tokio::spawn(request(&c.fork()).send_behind(barrier.clone())))
        .collect();
    let mut answers = Vec::with_capacity(RACERS);
    for racer in racers {
        match racer.await {
            Ok(r) => answers.push(r),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("a racer was cancelled: {e}"),
        }
    }
    let mut tally = std::collections::BTreeMap::new();
    for o in outcomes(&answers) {
        *tally.entry(o).or_insert(0) += 1;
    }
    eprintln!("race answers: {tally:?}");
    answers
}

/// `status error` of every answer, for failure messages.
fn outcomes(answers: &[Resp]) -> Vec<String> {
    answers
        .iter()
        .map(|r| format!("{} {}", r.status, r.error()))
        .collect()
}

/// Asserts that every answer is one of `allowed` (status and `error`),
/// with the extra field the contract gives that error; returns how many
/// answers had each entry of `allowed`.
#[track_caller]
fn assert_only(answers: &[Resp], allowed: &[(u16, &str)]) -> Vec<usize> {
    let mut counts = vec![0; allowed.len()];
    for r in answers {
        let Some(i) = allowed
            .iter()
            .position(|&(status, error)| r.status == status && r.error() == error)
        else {
            panic!(
                "an answer outside {allowed:?}: {} {}\nall answers: {:?}",
                r.status,
                r.text,
                outcomes(answers)
            );
        };
        counts[i] += 1;
        match r.error() {
            "invalid_code" => assert!(r.body["attempts_left"].is_u64(), "{}", r.text),
            // `until`: RFC 3339, or `null` (only an administrator can
            // unlock), but present.
            "locked" => assert!(
                r.body.get("until").is_some_and(|u| u.is_string() || u.is_null()),
                "{}",
                r.text
            ),
            _ => {}
        }
    }
    counts
}

/// After a race of right codes: exactly one racer completed the login,
/// every other one got an answer in `losers`, and the racers' shared
/// session id is dead (the winner's login cycled it), which is why
/// `401 unauthenticated` is a loser's answer: a racer whose request
/// arrived after the winner's holds an id that no longer exists.
#[track_caller]
fn one_winner(answers: &[Resp], method: &str, losers: &[(u16, &str)]) {
    let (won, lost): (Vec<&Resp>, Vec<&Resp>) = answers.iter().partition(|r| r.status == 200);
    assert_eq!(
        won.len(),
        1,
        "exactly one racer must win; answers: {:?}",
        outcomes(answers)
    );
    assert_eq!(won[0].body["state"], "complete", "{}", won[0].text);
    assert_eq!(won[0].body["method"], method, "{}", won[0].text);
    let lost: Vec<Resp> = lost.into_iter().cloned().collect();
    assert_only(&lost, losers);
}

/// 20 parallel submissions of one valid SMS code: exactly one succeeds,
/// every other one is refused as the contract says (`/verify`: "an
/// SMS/email code works once even under parallel submission"): `422
/// challenge_closed` (the challenge was used, or used up its 5 attempts),
/// `423 locked` (each submission reserves an account attempt until proven
/// good, so 20 at once reach the back-off), or `401 unauthenticated` (the
/// shared session id was cycled by the winner). Never `invalid_code` (the
/// code is right), `409 not_pending` (that would be the old session id
/// still logged in: no id cycling) or a second `200`.
///
/// The submissions are released together behind a barrier ([`race`]);
/// against the adapters' servers this also runs on a store that yields
/// and takes a millisecond at every call ([`crate::race_suite!`]), where
/// the racers do interleave inside one verification.
pub async fn parallel_submissions_of_one_sms_code_succeed_once(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let (_c, factor) = sms_user(&env, "bob", PHONE_INPUT, PHONE).await;
    env.advance(31);
    let c = pending(&env, "bob").await;
    let ch = send(&c, &factor).await;
    let code = env.last_code(PHONE);
    let answers = race(&c, |r| {
        r.prepare_post(
            &r.mfa("/verify"),
            &json!({"method": "challenge", "challenge_id": ch, "code": code}),
        )
    })
    .await;
    one_winner(
        &answers,
        "sms",
        &[
            (422, "challenge_closed"),
            (423, "locked"),
            (401, "unauthenticated"),
        ],
    );
    assert_status_state(&c.status().await, "anonymous");
}

/// 20 parallel submissions of one valid TOTP code: exactly one succeeds,
/// every other one is refused as the contract says (`/verify`: "a TOTP
/// code works once (replay refused)"): `422 invalid_code` with
/// `attempts_left` (a replay), `423 locked` (every submission reserves an
/// account attempt until proven good, so 20 at once reach the back-off),
/// or `401 unauthenticated` (the shared session id was cycled by the
/// winner). Never `challenge_closed` (no challenge here), `409
/// not_pending` (the old session id still logged in) or a second `200`.
///
/// The submissions are released together behind a barrier ([`race`]);
/// against the adapters' servers this also runs on a store that yields
/// and takes a millisecond at every call ([`crate::race_suite!`]), where
/// the racers do interleave inside one verification.
pub async fn parallel_submissions_of_one_totp_code_succeed_once(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    env.advance(30);
    let c = pending(&env, "alice").await;
    let code = env.totp(&u.uri);
    let answers = race(&c, |r| {
        r.prepare_post(
            &r.mfa("/verify"),
            &json!({"method": "totp", "factor_id": u.factor, "code": code}),
        )
    })
    .await;
    one_winner(
        &answers,
        "totp",
        &[(422, "invalid_code"), (423, "locked"), (401, "unauthenticated")],
    );
    assert_status_state(&c.status().await, "anonymous");
}

/// A resend keeps the challenge's failure count.
pub async fn resend_does_not_reset_attempts(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let (_c, factor) = sms_user(&env, "bob", PHONE_INPUT, PHONE).await;
    env.advance(31);
    let c = pending(&env, "bob").await;
    let r = c.post(&c.mfa("/send-code"), json!({"factor_id": factor})).await;
    r.expect(200);
    assert_eq!(r.body["attempts_left"], 5);
    let ch = r.body["challenge_id"].as_str().unwrap().to_owned();
    let wrong = other_than(&env.last_code(PHONE));
    let r = verify_challenge(&c, &ch, &wrong).await;
    r.expect_error(422, "invalid_code");
    assert_eq!(r.body["attempts_left"], 4);
    let r = verify_challenge(&c, &ch, &wrong).await;
    assert_eq!(r.body["attempts_left"], 3);

    c.post(&c.mfa("/send-code"), json!({"factor_id": factor}))
        .await
        .expect_error(429, "rate_limited");
    env.advance(31);
    let r = c.post(&c.mfa("/send-code"), json!({"factor_id": factor})).await;
    r.expect(200);
    assert_eq!(r.body["attempts_left"], 3, "resend must not reset attempts");
    let ch2 = r.body["challenge_id"].as_str().unwrap().to_owned();
    let code = env.last_code(PHONE);
    let r = verify_challenge(&c, &ch2, &other_than(&code)).await;
    assert_eq!(r.body["attempts_left"], 2);
    let old = verify_challenge(&c, &ch, &code).await;
    assert!(
        old.status == 404 || old.status == 422,
        "the replaced challenge is dead: {}",
        old.text
    );
    assert_status_state(&verify_challenge(&c, &ch2, &code).await, "complete");
}

/// Wrong codes lock the account long before 100; while locked even the
/// right code and a new login are refused with `423` and `until`.
pub async fn brute_force_is_stopped_and_login_locked(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    env.advance(30);
    let c = pending(&env, "alice").await;
    let wrong = wrong_totp(&env, &u.uri);
    let mut locked_at = None;
    for i in 1..=10 {
        let r = verify_totp(&c, &u.factor, &wrong, false).await;
        if r.status == 423 {
            r.expect_error(423, "locked");
            assert!(r.body["until"].is_string(), "{}", r.text);
            locked_at = Some(i);
            break;
        }
        r.expect_error(422, "invalid_code");
    }
    let n = locked_at.expect("locked");
    assert!(n <= 6, "locked after {n} attempts");
    verify_totp(&c, &u.factor, &env.totp(&u.uri), false)
        .await
        .expect_error(423, "locked");
    let r = env.client().login("alice").await;
    r.expect_error(423, "locked");
    assert!(r.body["until"].is_string());
}

/// SMS pumping: sends are capped per account/destination per hour.
pub async fn sms_flooding_is_capped(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let (_c, factor) = sms_user(&env, "bob", PHONE_INPUT, PHONE).await;
    let c = pending(&env, "bob").await;
    let mut refused = false;
    for _ in 0..10 {
        env.advance(31);
        let r = c.post(&c.mfa("/send-code"), json!({"factor_id": factor})).await;
        if r.status == 429 {
            r.expect_error(429, "rate_limited");
            assert!(r.body["retry_after"].as_u64().unwrap() > 31);
            refused = true;
            break;
        }
        r.expect(200);
    }
    assert!(refused, "sends must be capped");
    assert!(env.outbox.messages_to(PHONE).len() <= 5);
}

/// An expired code is refused as `expired`.
pub async fn expired_code_is_refused(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let (_c, factor) = sms_user(&env, "bob", PHONE_INPUT, PHONE).await;
    env.advance(31);
    let c = pending(&env, "bob").await;
    let ch = send(&c, &factor).await;
    env.advance(301);
    verify_challenge(&c, &ch, &env.last_code(PHONE))
        .await
        .expect_error(422, "expired");
}

/// Another user's code or challenge does not work.
pub async fn code_from_another_user_is_refused(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let (_a, fa) = sms_user(&env, "alice", "+447700900111", "+447700900111").await;
    let (_b, fb) = sms_user(&env, "bob", "+447700900222", "+447700900222").await;
    env.advance(31);
    let a = pending(&env, "alice").await;
    let b = pending(&env, "bob").await;
    let cha = send(&a, &fa).await;
    let chb = send(&b, &fb).await;
    let code_a = env.last_code("+447700900111");
    let code_b = env.last_code("+447700900222");
    if code_a != code_b {
        verify_challenge(&a, &cha, &code_b)
            .await
            .expect_error(422, "invalid_code");
    }
    verify_challenge(&a, &chb, &code_b)
        .await
        .expect_error(404, "not_found");
    assert_status_state(&verify_challenge(&b, &chb, &code_b).await, "complete");
    a.get("/app/account").await.expect_error(401, "mfa_required");
}

/// Another user's ids and unknown ids answer alike (no enumeration).
pub async fn unknown_and_foreign_ids_answer_the_same(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let alice = totp_user(&env, "alice").await;
    let bob = totp_user(&env, "bob").await;
    let c = &bob.client;
    let unknown_factor = format!("fa_{}", "a".repeat(26));
    let foreign = c.delete(&c.mfa(&format!("/factors/{}", alice.factor))).await;
    let unknown = c.delete(&c.mfa(&format!("/factors/{unknown_factor}"))).await;
    foreign.expect_error(404, "not_found");
    assert_eq!((foreign.status, &foreign.body), (unknown.status, &unknown.body));

    let unknown_device = format!("dv_{}", "a".repeat(26));
    c.delete(&c.mfa(&format!("/devices/{unknown_device}")))
        .await
        .expect_error(404, "not_found");

    let p = pending(&env, "bob").await;
    let foreign = p
        .post(&p.mfa("/send-code"), json!({"factor_id": alice.factor}))
        .await;
    let unknown = p
        .post(&p.mfa("/send-code"), json!({"factor_id": unknown_factor}))
        .await;
    foreign.expect_error(404, "not_found");
    assert_eq!((foreign.status, &foreign.body), (unknown.status, &unknown.body));
}

/// Wrong content types, broken JSON, wrong shapes, bad ids and malformed
/// codes: 4xx with a JSON error, never counted, never 5xx.
pub async fn malformed_bodies_and_wrong_content_types_are_4xx_json(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    let c = pending(&env, "alice").await;
    let path = c.mfa("/verify");
    let good_body = json!({"method": "totp", "factor_id": u.factor, "code": "123456"}).to_string();
    let post = |ct: Option<&'static str>, body: String| {
        let c = c.clone();
        let path = path.clone();
        async move {
            let headers: Vec<(&str, &str)> = ct.map(|ct| vec![("content-type", ct)]).unwrap_or_default();
            c.raw(reqwest::Method::POST, &path, &headers, Some(body.into_bytes()))
                .await
        }
    };
    post(Some("text/plain"), good_body.clone())
        .await
        .expect_error(415, "unsupported_media_type");
    post(None, good_body.clone())
        .await
        .expect_error(415, "unsupported_media_type");
    post(Some("application/x-www-form-urlencoded"), "code=123456".into())
        .await
        .expect_error(415, "unsupported_media_type");
    for bad in [
        "{not json",
        "",
        "[]",
        "null",
        r#"{"method":"sms","code":"1"}"#,
        r#"{"method":"totp"}"#,
    ] {
        post(Some("application/json"), bad.into())
            .await
            .expect_error(400, "invalid_json");
    }
    // Not UTF-8, and nesting deep enough to overflow a naive parser.
    c.raw(
        reqwest::Method::POST,
        &path,
        &[("content-type", "application/json")],
        Some(vec![0xff, 0xfe, 0x7b]),
    )
    .await
    .expect_error(400, "invalid_json");
    post(Some("application/json"), "[".repeat(8000))
        .await
        .expect_error(400, "invalid_json");
    post(Some("application/json"), format!("{}1", "{\"a\":".repeat(3000)))
        .await
        .expect_error(400, "invalid_json");
    for bad_id in [
        "x",
        "fa_",
        "FA_AAAAAAAAAAAAAAAAAAAAAAAAAA",
        "ch_aaaaaaaaaaaaaaaaaaaaaaaaaa",
    ] {
        post(
            Some("application/json"),
            json!({"method": "totp", "factor_id": bad_id, "code": "123456"}).to_string(),
        )
        .await
        .expect_error(400, "invalid_input");
    }
    for bad_code in [
        "",
        "1",
        "12345",
        "1234567",
        "+12345",
        "12ab56",
        "١٢٣٤٥٦",
        &"9".repeat(5000),
    ] {
        let r = verify_totp(&c, &u.factor, bad_code, false).await;
        r.expect_error(400, "malformed_code");
        assert_eq!(r.body["digits"], 6);
    }
    c.get(&path).await.expect_error(405, "method_not_allowed");
    let r = c
        .raw(
            reqwest::Method::POST,
            &c.mfa("/step-up"),
            &[("content-type", "application/json; charset=utf-8")],
            Some(b"{\"method\":\"recovery_code\",\"code\":\"x\"}".to_vec()),
        )
        .await;
    r.expect_error(401, "mfa_required");

    // None of that counted: the right code still works at once.
    env.advance(30);
    assert_status_state(
        &verify_totp(&c, &u.factor, &env.totp(&u.uri), false).await,
        "complete",
    );
    c.delete(&c.mfa("/factors/not-an-id"))
        .await
        .expect_error(400, "invalid_input");
    c.delete(&c.mfa("/devices/not-an-id"))
        .await
        .expect_error(400, "invalid_input");
}

/// Bodies over the limit (16 KiB) are `413` JSON.
pub async fn huge_bodies_are_413_json(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    let c = pending(&env, "alice").await;
    let big = json!({"method": "totp", "factor_id": u.factor, "code": "1".repeat(64 * 1024)}).to_string();
    c.raw(
        reqwest::Method::POST,
        &c.mfa("/verify"),
        &[("content-type", "application/json")],
        Some(big.into_bytes()),
    )
    .await
    .expect_error(413, "payload_too_large");
    let label = json!({"label": "x".repeat(20 * 1024)});
    u.client
        .post(&u.client.mfa("/enroll/totp"), label)
        .await
        .expect_error(413, "payload_too_large");
}

/// CSRF: cross-site requests to state-changing routes are refused.
pub async fn cross_site_requests_are_refused(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    let c = pending(&env, "alice").await;
    let body = json!({"method": "totp", "factor_id": u.factor, "code": "000000"}).to_string();
    let base = env.server.base_url.clone();
    let cases: [(&str, &str); 5] = [
        ("origin", "http://evil.example"),
        ("origin", "null"),
        ("origin", "http://127.0.0.1:1"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ];
    for (h, v) in cases {
        c.raw(
            reqwest::Method::POST,
            &c.mfa("/verify"),
            &[("content-type", "application/json"), (h, v)],
            Some(body.clone().into_bytes()),
        )
        .await
        .expect_error(403, "cross_site");
    }
    let u2 = &u.client;
    u2.raw(
        reqwest::Method::DELETE,
        &u2.mfa("/devices"),
        &[("origin", "http://evil.example")],
        None,
    )
    .await
    .expect_error(403, "cross_site");
    // Same origin passes the rule (and reaches the engine).
    env.advance(30);
    let ok = json!({"method": "totp", "factor_id": u.factor, "code": env.totp(&u.uri)}).to_string();
    let r = c
        .raw(
            reqwest::Method::POST,
            &c.mfa("/verify"),
            &[
                ("content-type", "application/json"),
                ("origin", &base),
                ("sec-fetch-site", "same-origin"),
            ],
            Some(ok.into_bytes()),
        )
        .await;
    assert_status_state(&r, "complete");
}

/// Step-up by TOTP and by SMS makes a stale session fresh.
pub async fn step_up_makes_a_session_fresh(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    let c = &u.client;
    // Add SMS while fresh (a moment after the first factor was confirmed).
    env.advance(1);
    let r = c
        .post(
            &c.mfa("/enroll/sms"),
            json!({"label": "Mobile", "phone": PHONE_INPUT}),
        )
        .await;
    r.expect(201);
    let sms = r.body["factor_id"].as_str().unwrap().to_owned();
    c.post(
        &c.mfa("/enroll/confirm"),
        json!({"factor_id": sms, "code": env.last_code(PHONE)}),
    )
    .await
    .expect(200);

    env.advance(601);
    assert_eq!(c.status().await.body["fresh"], false);
    c.get("/app/payments").await.expect_error(403, "step_up_required");
    let wrong = wrong_totp(&env, &u.uri);
    c.post(
        &c.mfa("/step-up"),
        json!({"method": "totp", "factor_id": u.factor, "code": wrong}),
    )
    .await
    .expect_error(422, "invalid_code");
    let r = c
        .post(
            &c.mfa("/step-up"),
            json!({"method": "totp", "factor_id": u.factor, "code": env.totp(&u.uri)}),
        )
        .await;
    assert_status_state(&r, "complete");
    c.get("/app/payments").await.expect(200);

    env.advance(601);
    c.get("/app/payments").await.expect_error(403, "step_up_required");
    let ch = send(c, &sms).await;
    let r = c
        .post(
            &c.mfa("/step-up"),
            json!({"method": "challenge", "challenge_id": ch, "code": env.last_code(PHONE)}),
        )
        .await;
    assert_status_state(&r, "complete");
    assert_eq!(r.body["method"], "sms");
    c.get("/app/payments").await.expect(200);
    c.post(&c.mfa("/verify"), json!({"method": "recovery_code", "code": "x"}))
        .await
        .expect_error(409, "not_pending");
}

/// Adding a second factor needs a fresh second factor.
pub async fn second_factor_enrolment_needs_step_up(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    let c = &u.client;
    env.advance(601);
    c.post(
        &c.mfa("/enroll/sms"),
        json!({"label": "Mobile", "phone": PHONE_INPUT}),
    )
    .await
    .expect_error(403, "step_up_required");
    c.post(&c.mfa("/enroll/totp"), json!({"label": "Tablet"}))
        .await
        .expect_error(403, "step_up_required");
    c.post(
        &c.mfa("/step-up"),
        json!({"method": "totp", "factor_id": u.factor, "code": env.totp(&u.uri)}),
    )
    .await
    .expect(200);
    c.post(&c.mfa("/enroll/totp"), json!({"label": "Tablet"}))
        .await
        .expect(201);
}

/// Recovery codes: 10 shown once; one logs in; reuse is refused.
pub async fn recovery_codes_generate_use_and_no_reuse(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    let c = &u.client;
    let r = c.post(&c.mfa("/recovery-codes"), json!({})).await;
    r.expect(201);
    let codes: Vec<String> = r.body["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    assert_eq!(c.status().await.body["recovery_codes_left"], 10);

    let p = pending(&env, "alice").await;
    assert_eq!(p.status().await.body["recovery_codes"], true);
    let r = p
        .post(
            &p.mfa("/verify"),
            json!({"method": "recovery_code", "code": codes[0]}),
        )
        .await;
    assert_status_state(&r, "complete");
    assert_eq!(r.body["method"], "recovery_code");
    assert_eq!(r.body["recovery_codes_left"], 9);

    let again = pending(&env, "alice").await;
    again
        .post(
            &again.mfa("/verify"),
            json!({"method": "recovery_code", "code": codes[0]}),
        )
        .await
        .expect_error(422, "invalid_code");
    again
        .post(
            &again.mfa("/verify"),
            json!({"method": "recovery_code", "code": "short"}),
        )
        .await
        .expect_error(400, "invalid_input");
}

/// Removing a factor (fresh) works once, and revokes trusted devices.
pub async fn remove_factor_and_devices_follow(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    let name = env.server.trust_cookie.clone();
    env.advance(30);
    let t = pending(&env, "alice").await;
    verify_totp(&t, &u.factor, &env.totp(&u.uri), true)
        .await
        .expect(200);
    let c = &u.client;
    let r = c
        .post(
            &c.mfa("/enroll/email"),
            json!({"label": "Mail", "address": "alice@example.org"}),
        )
        .await;
    r.expect(201);
    let email = r.body["factor_id"].as_str().unwrap().to_owned();
    c.post(
        &c.mfa("/enroll/confirm"),
        json!({"factor_id": email, "code": env.last_code("alice@example.org")}),
    )
    .await
    .expect(200);
    assert_eq!(
        c.get(&c.mfa("/factors")).await.body["factors"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        c.get(&c.mfa("/devices")).await.body["devices"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    c.delete(&c.mfa(&format!("/factors/{}", u.factor)))
        .await
        .expect(204);
    let f = c.get(&c.mfa("/factors")).await;
    assert_eq!(f.body["factors"].as_array().unwrap().len(), 1);
    assert_eq!(f.body["factors"][0]["method"], "email");
    assert_eq!(c.get(&c.mfa("/devices")).await.body["devices"], json!([]));
    c.delete(&c.mfa(&format!("/factors/{}", u.factor)))
        .await
        .expect_error(404, "not_found");

    let token = t.cookie(&name).unwrap();
    let x = env.client();
    x.set_cookie(&name, &token);
    let r = x.login("alice").await;
    assert_status_state(&r, "pending");
    assert_eq!(r.body["factors"][0]["method"], "email");

    // Removing the last factor is allowed; recovery codes then need one.
    c.delete(&c.mfa(&format!("/factors/{email}"))).await.expect(204);
    c.post(&c.mfa("/recovery-codes"), json!({}))
        .await
        .expect_error(422, "not_enrolled");
    let r = env.client().login("alice").await;
    assert_eq!(r.body["step"], "must_enroll", "{}", r.text);
}

/// Revoking all devices answers the count and clears this browser's cookie.
pub async fn revoke_all_devices_clears_cookie(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    let name = env.server.trust_cookie.clone();
    let mut browsers = Vec::new();
    for _ in 0..2 {
        env.advance(30);
        let t = pending(&env, "alice").await;
        verify_totp(&t, &u.factor, &env.totp(&u.uri), true)
            .await
            .expect(200);
        browsers.push(t);
    }
    let t = &browsers[0];
    let r = t.delete(&t.mfa("/devices")).await;
    r.expect(200);
    assert_eq!(r.body["revoked"], 2);
    let cleared = r.set_cookie(&name).expect("cookie cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(t.cookie(&name).is_none());
    let token = browsers[1].cookie(&name).unwrap();
    let x = env.client();
    x.set_cookie(&name, &token);
    assert_status_state(&x.login("alice").await, "pending");
}

/// An admin reset ends existing sessions and trusted devices; the user
/// must enrol again.
pub async fn admin_reset_ends_sessions_and_devices(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    let name = env.server.trust_cookie.clone();
    env.advance(30);
    let t = pending(&env, "alice").await;
    verify_totp(&t, &u.factor, &env.totp(&u.uri), true)
        .await
        .expect(200);
    let p = pending(&env, "alice").await;
    env.advance(1);
    env.server.control.admin_reset("alice").await.unwrap();
    env.advance(1);

    let r = u.client.get("/app/account").await;
    r.expect_error(401, "session_ended");
    assert_eq!(r.body["reason"], "revoked");
    assert_status_state(&u.client.status().await, "anonymous");
    p.get(&p.mfa("/status")).await.expect_error(401, "session_ended");
    t.get(&t.mfa("/factors")).await.expect_error(401, "session_ended");

    let token = t.cookie(&name).unwrap_or_default();
    let x = env.client();
    x.set_cookie(&name, &token);
    let r = x.login("alice").await;
    assert_status_state(&r, "pending");
    assert_eq!(r.body["step"], "must_enroll");
}

/// A forced re-login wave ends sessions issued before its cut-off, per
/// platform.
pub async fn rollout_cutoff_ends_old_sessions_by_platform(server: &dyn ServerUnderTest) {
    let cutoff = START + std::time::Duration::from_secs(3600);
    let policy = mfa_core::Policy::from_toml(&format!(
        r#"
        [[cohorts]]
        name = "web"
        platforms = ["web"]
        relogin_cutoff = "{}"
        "#,
        cutoff.to_rfc3339()
    ))
    .unwrap();
    let env = Env::start(server, Setup::with_policy(policy)).await;
    let web = env.client();
    assert_status_state(&web.login("alice").await, "complete");
    let app = env.client();
    assert_status_state(&app.login_from("alice", "android").await, "complete");
    web.get("/app/account").await.expect(200);

    env.advance(7200);
    let r = web.get("/app/account").await;
    r.expect_error(401, "session_ended");
    assert_eq!(r.body["reason"], "rollout_cutoff");
    app.get("/app/account").await.expect(200);
    assert_status_state(&web.login("alice").await, "complete");
    web.get("/app/account").await.expect(200);
}

/// Policy not requiring MFA: the login completes with the password only,
/// which is not fresh; a first factor may be enrolled with the password.
pub async fn not_required_policy_completes_without_mfa(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::with_policy(mfa_core::Policy::default())).await;
    let c = env.client();
    let r = c.login("dan").await;
    assert_status_state(&r, "complete");
    assert_eq!(r.body["completed_by"], "not_required");
    c.get("/app/account").await.expect(200);
    c.get("/app/payments").await.expect_error(403, "step_up_required");
    let r = c.post(&c.mfa("/enroll/totp"), json!({"label": "Phone"})).await;
    r.expect(201);
    let uri = r.body["otpauth_uri"].as_str().unwrap().to_owned();
    let factor = r.body["factor_id"].as_str().unwrap().to_owned();
    c.post(
        &c.mfa("/enroll/confirm"),
        json!({"factor_id": factor, "code": env.totp(&uri)}),
    )
    .await
    .expect(200);
    c.get("/app/payments").await.expect(200);
    // Having a factor, the next login asks for it even though not required.
    assert_status_state(&env.client().login("dan").await, "pending");
}

/// `/verify` on a complete session is `409 not_pending`.
pub async fn verify_when_not_pending_is_409(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    env.advance(30);
    verify_totp(&u.client, &u.factor, &env.totp(&u.uri), false)
        .await
        .expect_error(409, "not_pending");
}

/// Logout ends the session.
pub async fn logout_ends_session(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    let old = u.client.fork();
    u.client.post("/logout", json!({})).await.expect(204);
    u.client
        .get("/app/account")
        .await
        .expect_error(401, "unauthenticated");
    assert_status_state(&u.client.status().await, "anonymous");
    old.get("/app/account").await.expect_error(401, "unauthenticated");
}

/// No SMS/email code ever appears in a response (body or headers).
pub async fn codes_never_appear_in_responses(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let (c, factor) = sms_user(&env, "bob", PHONE_INPUT, PHONE).await;
    env.advance(1);
    let r = c
        .post(
            &c.mfa("/enroll/email"),
            json!({"label": "Mail", "address": "bob@example.org"}),
        )
        .await;
    let email = r.body["factor_id"].as_str().unwrap_or_default().to_owned();
    c.post(
        &c.mfa("/enroll/confirm"),
        json!({"factor_id": email, "code": env.last_code("bob@example.org")}),
    )
    .await
    .expect(200);
    env.advance(31);
    let p = pending(&env, "bob").await;
    let ch = send(&p, &factor).await;
    let code = env.last_code(PHONE);
    verify_challenge(&p, &ch, &other_than(&code)).await.expect(422);
    p.status().await.expect(200);
    verify_challenge(&p, &ch, &code).await.expect(200);
    env.advance(601);
    let ch = send(&p, &email).await;
    p.post(
        &p.mfa("/step-up"),
        json!({"method": "challenge", "challenge_id": ch, "code": env.last_code("bob@example.org")}),
    )
    .await
    .expect(200);
    p.get(&p.mfa("/factors")).await.expect(200);
    p.get(&p.mfa("/devices")).await.expect(200);
    p.status().await.expect(200);

    let transcript: Vec<String> = c.transcript().into_iter().chain(p.transcript()).collect();
    let codes = env.all_codes();
    assert!(codes.len() >= 4);
    for code in &codes {
        for entry in &transcript {
            assert!(
                !entry.contains(code.as_str()),
                "code {code} leaked in a response:\n{entry}"
            );
        }
    }
}

/// The routes of `docs/http-api.md`, relative to the prefix.
pub const ROUTES: [(&str, &str); 16] = [
    ("get", "/status"),
    ("post", "/send-code"),
    ("post", "/verify"),
    ("post", "/enroll/totp"),
    ("post", "/enroll/sms"),
    ("post", "/enroll/email"),
    ("post", "/enroll/resend"),
    ("post", "/enroll/confirm"),
    ("get", "/factors"),
    ("delete", "/factors/{id}"),
    ("post", "/recovery-codes"),
    ("get", "/devices"),
    ("delete", "/devices/{id}"),
    ("delete", "/devices"),
    ("post", "/step-up"),
    ("get", "/openapi.json"),
];

/// `GET {prefix}/openapi.json` is OpenAPI 3.1 and lists exactly the routes
/// of the contract, each of which the server answers.
pub async fn openapi_lists_every_route(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let c = env.client();
    let r = c.get(&c.mfa("/openapi.json")).await;
    r.expect(200);
    assert!(
        r.body["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        r.text
    );
    let mut listed: Vec<(String, String)> = Vec::new();
    for (path, item) in r.body["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                listed.push((method.to_owned(), path.clone()));
            }
        }
    }
    let mut expected: Vec<(String, String)> =
        ROUTES.iter().map(|(m, p)| ((*m).to_owned(), c.mfa(p))).collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    for (method, path) in &listed {
        let path = path.replace("{id}", "fa_aaaaaaaaaaaaaaaaaaaaaaaaaa");
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = c
            .raw(
                m,
                &path,
                &[("content-type", "application/json")],
                Some(b"{}".to_vec()),
            )
            .await;
        assert!(
            r.status == 200 || !r.error().is_empty(),
            "{method} {path} is not served: {} {}",
            r.status,
            r.text
        );
        assert_ne!(r.error(), "method_not_allowed", "{method} {path}");
    }
    // A path outside the contract is a JSON 404.
    c.raw(reqwest::Method::GET, &c.mfa("/nope"), &[], None)
        .await
        .expect_error(404, "not_found");
}

/// 20 parallel wrong guesses cannot overrun the account's counter: each
/// is judged `422 invalid_code` (with `attempts_left`) or refused `423
/// locked` (with `until`), and no more than 5 are judged before the lock
/// ("back-off from the 5th consecutive failure"); nothing else. The right
/// code is then refused as locked.
///
/// The guesses are released together behind a barrier ([`race`]);
/// against the adapters' servers this also runs on a store that yields
/// and takes a millisecond at every call ([`crate::race_suite!`]), where
/// the racers do interleave inside one verification.
pub async fn parallel_guesses_do_not_overrun_the_counter(server: &dyn ServerUnderTest) {
    let env = Env::start(server, Setup::required()).await;
    let u = totp_user(&env, "alice").await;
    env.advance(30);
    let c = pending(&env, "alice").await;
    let wrong = wrong_totp(&env, &u.uri);
    let answers = race(&c, |r| {
        r.prepare_post(
            &r.mfa("/verify"),
            &json!({"method": "totp", "factor_id": u.factor, "code": wrong}),
        )
    })
    .await;
    let counts = assert_only(&answers, &[(422, "invalid_code"), (423, "locked")]);
    let judged = counts[0];
    assert!(
        judged <= 5,
        "{judged} guesses were judged before the lock: {:?}",
        outcomes(&answers)
    );
    verify_totp(&c, &u.factor, &env.totp(&u.uri), false)
        .await
        .expect_error(423, "locked");
}

/// Grace period: the login completes, enrolment is offered and may be done
/// with the password alone.
pub async fn grace_period_offers_enrolment(server: &dyn ServerUnderTest) {
    let from = START + std::time::Duration::from_secs(7 * 86_400);
    let policy = mfa_core::Policy::from_toml(&format!(
        "enforce_from = \"{}\"\ngrace = \"14d\"\n",
        from.to_rfc3339()
    ))
    .unwrap();
    let env = Env::start(server, Setup::with_policy(policy)).await;
    let c = env.client();
    let r = c.login("gail").await;
    assert_status_state(&r, "complete");
    assert_eq!(r.body["completed_by"], "not_required");
    assert!(
        r.body["enroll_offered"]
            .as_array()
            .unwrap()
            .contains(&json!("totp"))
    );
    assert!(c.status().await.body["enroll_offered"].is_array());
    c.get("/app/account").await.expect(200);
    let r = c.post(&c.mfa("/enroll/totp"), json!({"label": "Phone"})).await;
    r.expect(201);
    // After the enforcement date, a user without a factor must enrol.
    env.advance(8 * 86_400);
    let late = env.client();
    let r = late.login("hana").await;
    assert_status_state(&r, "pending");
    assert_eq!(r.body["step"], "must_enroll");
}

/// A cohort without "trust this device": no cookie, and status says so.
pub async fn trust_disabled_by_policy_sets_no_cookie(server: &dyn ServerUnderTest) {
    let policy = mfa_core::Policy::from_toml(
        r#"
        enforce_from = "1970-01-01T00:00:00Z"
        [defaults]
        trust_device = false
        "#,
    )
    .unwrap();
    let env = Env::start(server, Setup::with_policy(policy)).await;
    let u = totp_user(&env, "alice").await;
    env.advance(30);
    let c = pending(&env, "alice").await;
    assert_eq!(c.status().await.body["trust_allowed"], false);
    let r = verify_totp(&c, &u.factor, &env.totp(&u.uri), true).await;
    assert_status_state(&r, "complete");
    assert_eq!(r.body["trusted_device"], false);
    assert!(r.set_cookie(&env.server.trust_cookie).is_none());
    assert!(c.cookie(&env.server.trust_cookie).is_none());
}

/// After the hard stop only an administrator can unlock: `until` is null.
pub async fn hard_stop_answers_locked_until_null(server: &dyn ServerUnderTest) {
    let mut setup = Setup::required();
    setup.config = mfa_core::MfaConfig::builder("Contract Homes")
        .argon2(mfa_core::Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .lockout(mfa_core::LockoutRules {
            hard_stop: 8,
            ..Default::default()
        })
        .build()
        .unwrap();
    let env = Env::start(server, setup).await;
    let u = totp_user(&env, "alice").await;
    let c = pending(&env, "alice").await;
    let mut last = None;
    for _ in 0..12 {
        env.advance(3601);
        let wrong = wrong_totp(&env, &u.uri);
        let r = verify_totp(&c, &u.factor, &wrong, false).await;
        assert!(r.status == 422 || r.status == 423, "{}", r.text);
        last = Some(r);
    }
    let r = last.unwrap();
    r.expect_error(423, "locked");
    assert!(
        r.body.as_object().unwrap().contains_key("until") && r.body["until"].is_null(),
        "{}",
        r.text
    );
    let r = env.client().login("alice").await;
    r.expect_error(423, "locked");
    assert!(r.body.as_object().unwrap().contains_key("until") && r.body["until"].is_null());
}

pub use crate::invariants::*;

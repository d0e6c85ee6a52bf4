//! Parity: mfa-axum and mfa-actix answer the same scripted sequence
//! (success and error paths) with the same statuses, the same body shapes
//! (JSON keys and value types, recursively) and the same cookie attributes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod servers;

use std::collections::BTreeMap;

use mfa_contract_tests::scenarios::{pending, send, sms_user, totp_user, verify_challenge, verify_totp};
use mfa_contract_tests::{Client, Env, Resp, ServerUnderTest, Setup};
use reqwest::Method;
use serde_json::{Value, json};
use servers::actix::ActixServer;
use servers::axum::AxumServer;

/// What is compared of one response.
#[derive(Debug, PartialEq)]
struct Seen {
    step: String,
    status: u16,
    shape: Value,
    /// Cookie name → attribute (lower case) → value (empty for flags;
    /// `Expires` dates dropped, as they move with the wall clock).
    cookies: BTreeMap<String, BTreeMap<String, String>>,
    retry_after: bool,
    no_store: bool,
}

/// The JSON's shape: keys kept, leaves replaced by their type.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().take(1).map(shape).collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => Value::Null,
    }
}

/// The session cookie's name in both servers.
const SESSION_COOKIE: &str = "sid";

/// A session-cookie *deletion* is the session crate's own (tower-sessions
/// sends `Max-Age=0; Path=/` only, actix-session repeats every attribute);
/// both delete the cookie, so only `Max-Age` and `Path` are compared there.
/// Every other cookie (the session cookie when set, the trust cookie set
/// and cleared) is compared attribute by attribute.
fn cookies(r: &Resp) -> BTreeMap<String, BTreeMap<String, String>> {
    r.headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|c| {
            let mut parts = c.split(';').map(str::trim);
            let name = parts
                .next()
                .and_then(|nv| nv.split_once('='))
                .map(|(n, v)| format!("{n}{}", if v.is_empty() { " (cleared)" } else { "" }))
                .unwrap_or_default();
            let session_deleted = name == format!("{SESSION_COOKIE} (cleared)");
            let attrs = parts
                .filter_map(|a| {
                    let (k, v) = a.split_once('=').unwrap_or((a, ""));
                    let k = k.to_ascii_lowercase();
                    let kept = k != "expires" && (!session_deleted || k == "max-age" || k == "path");
                    kept.then(|| (k, v.to_owned()))
                })
                .collect();
            (name, attrs)
        })
        .collect()
}

/// One server's record of the script.
struct Recorder {
    seen: Vec<Seen>,
}

impl Recorder {
    fn note(&mut self, step: &str, r: &Resp) -> Resp {
        self.seen.push(Seen {
            step: step.to_owned(),
            status: r.status,
            shape: shape(&r.body),
            cookies: cookies(r),
            retry_after: r.headers.contains_key(reqwest::header::RETRY_AFTER),
            no_store: r
                .headers
                .get(reqwest::header::CACHE_CONTROL)
                .is_some_and(|v| v == "no-store"),
        });
        r.clone()
    }
}

async fn post_raw(c: &Client, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    c.raw(Method::POST, path, headers, Some(body.to_vec())).await
}

/// The script: every route, its success and its typical errors.
async fn script(server: &dyn ServerUnderTest) -> Vec<Seen> {
    let env = Env::start(server, Setup::required()).await;
    let mut rec = Recorder { seen: Vec::new() };
    let c = env.client();
    let m = |p: &str| c.mfa(p);

    // Anonymous.
    rec.note("anonymous status", &c.status().await);
    rec.note("anonymous account", &c.get("/app/account").await);
    rec.note("anonymous factors", &c.get(&m("/factors")).await);
    rec.note("anonymous pending page", &c.get("/app/pending").await);
    rec.note(
        "anonymous verify",
        &c.post(&m("/verify"), json!({"method": "recovery_code", "code": "x"}))
            .await,
    );
    rec.note("unknown route", &c.get(&m("/nope")).await);
    rec.note(
        "wrong method",
        &c.raw(Method::PUT, &m("/status"), &[], None).await,
    );
    rec.note("openapi", &c.get(&m("/openapi.json")).await);

    // First login: must enrol.
    rec.note("login", &c.login("alice").await);
    rec.note("pending account", &c.get("/app/account").await);
    rec.note("pending page", &c.get("/app/pending").await);
    rec.note("pending factors", &c.get(&m("/factors")).await);
    rec.note(
        "pending recovery codes",
        &c.post(&m("/recovery-codes"), json!({})).await,
    );
    let r = rec.note(
        "enroll totp",
        &c.post(&m("/enroll/totp"), json!({"label": "Phone"})).await,
    );
    let uri = r.body["otpauth_uri"].as_str().unwrap().to_owned();
    let factor = r.body["factor_id"].as_str().unwrap().to_owned();
    rec.note(
        "enroll totp bad body",
        &c.post(&m("/enroll/totp"), json!({"label": 1})).await,
    );
    rec.note(
        "confirm bad id",
        &c.post(
            &m("/enroll/confirm"),
            json!({"factor_id": "nope", "code": "123456"}),
        )
        .await,
    );
    rec.note(
        "confirm malformed code",
        &c.post(&m("/enroll/confirm"), json!({"factor_id": factor, "code": "12"}))
            .await,
    );
    let code = env.totp(&uri);
    rec.note(
        "confirm",
        &c.post(&m("/enroll/confirm"), json!({"factor_id": factor, "code": code}))
            .await,
    );

    // Complete and fresh.
    rec.note("complete status", &c.status().await);
    rec.note("account", &c.get("/app/account").await);
    rec.note("payments", &c.get("/app/payments").await);
    rec.note("pending page when complete", &c.get("/app/pending").await);
    rec.note(
        "verify when complete",
        &verify_totp(&c, &factor, "123456", false).await,
    );
    rec.note("factors", &c.get(&m("/factors")).await);
    rec.note("recovery codes", &c.post(&m("/recovery-codes"), json!({})).await);
    rec.note("devices", &c.get(&m("/devices")).await);
    rec.note(
        "remove unknown factor",
        &c.delete(&m("/factors/fa_unknown")).await,
    );
    rec.note(
        "revoke unknown device",
        &c.delete(&m("/devices/dv_unknown")).await,
    );

    // Request hygiene.
    let json_ct = [("content-type", "application/json")];
    rec.note("invalid json", &post_raw(&c, &m("/verify"), &json_ct, b"{").await);
    rec.note(
        "wrong content type",
        &post_raw(&c, &m("/verify"), &[("content-type", "text/plain")], b"{}").await,
    );
    rec.note(
        "cross site",
        &post_raw(
            &c,
            &m("/recovery-codes"),
            &[
                ("content-type", "application/json"),
                ("sec-fetch-site", "cross-site"),
            ],
            b"{}",
        )
        .await,
    );
    rec.note(
        "foreign origin",
        &post_raw(
            &c,
            &m("/recovery-codes"),
            &[
                ("content-type", "application/json"),
                ("origin", "https://evil.example"),
            ],
            b"{}",
        )
        .await,
    );
    let huge = vec![b' '; 64 * 1024];
    rec.note("huge body", &post_raw(&c, &m("/step-up"), &json_ct, &huge).await);

    // Logout, then a login with a second factor, trusting the device.
    rec.note("logout", &c.post("/logout", json!({})).await);
    rec.note("status after logout", &c.status().await);
    rec.note("login again", &c.login("alice").await);
    rec.note("wrong code", &verify_totp(&c, &factor, "000000", false).await);
    env.advance(30);
    rec.note(
        "verify trusting",
        &verify_totp(&c, &factor, &env.totp(&uri), true).await,
    );
    rec.note(
        "verify replayed",
        &verify_totp(&c, &factor, &env.totp(&uri), false).await,
    );
    rec.note("devices after trust", &c.get(&m("/devices")).await);
    rec.note("logout again", &c.post("/logout", json!({})).await);
    rec.note("trusted login", &c.login("alice").await);
    rec.note("trusted payments (not fresh)", &c.get("/app/payments").await);
    env.advance(30);
    rec.note(
        "step up",
        &c.post(
            &m("/step-up"),
            json!({"method": "totp", "factor_id": factor, "code": env.totp(&uri)}),
        )
        .await,
    );
    rec.note("payments after step up", &c.get("/app/payments").await);
    rec.note("revoke all devices", &c.delete(&m("/devices")).await);

    // SMS: send, resend rate limit, verify, lock-out errors.
    let (s, sms) = sms_user(&env, "bob", "+44 7700 900123", "+447700900123").await;
    rec.note("sms logout", &s.post("/logout", json!({})).await);
    let p = pending(&env, "bob").await;
    let challenge = send(&p, &sms).await;
    rec.note(
        "resend too soon",
        &p.post(&p.mfa("/send-code"), json!({"factor_id": sms})).await,
    );
    rec.note(
        "challenge wrong code",
        &verify_challenge(&p, &challenge, "000000").await,
    );
    let code = env.last_code("+447700900123");
    rec.note(
        "challenge right code",
        &verify_challenge(&p, &challenge, &code).await,
    );

    // Forced logout: an admin reset ends the session.
    let t = totp_user(&env, "carol").await;
    env.server.control.admin_reset("carol").await.unwrap();
    rec.note("after admin reset", &t.client.get("/app/account").await);
    rec.note("after admin reset, status", &t.client.status().await);

    // Lock-out.
    let l = totp_user(&env, "dave").await;
    l.client.post("/logout", json!({})).await.expect(204);
    let lp = pending(&env, "dave").await;
    let mut last = None;
    for _ in 0..12 {
        let r = verify_totp(&lp, &l.factor, "000000", false).await;
        if r.status == 423 {
            last = Some(r);
            break;
        }
    }
    rec.note("locked", &last.expect("locked within 12 attempts"));
    rec.note("login while locked", &env.client().login("dave").await);
    rec.seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_adapters_answer_the_script_alike() {
    let axum = script(&AxumServer::new("/mfa")).await;
    let actix = script(&ActixServer::new("/mfa")).await;
    assert_eq!(axum.len(), actix.len());
    let mut differences = Vec::new();
    for (a, b) in axum.iter().zip(&actix) {
        if a != b {
            differences.push(format!("{}:\n  axum:  {a:?}\n  actix: {b:?}", a.step));
        }
    }
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
    // The script exercised errors, not only successes.
    assert!(axum.iter().filter(|s| s.status >= 400).count() >= 20);
    // And compared the cookies that matter: the session cookie set, the
    // trust cookie set and cleared.
    for name in [SESSION_COOKIE, "__Host-mfa_trust", "__Host-mfa_trust (cleared)"] {
        assert!(
            axum.iter().any(|s| s.cookies.contains_key(name)),
            "the script never saw {name}"
        );
    }
}

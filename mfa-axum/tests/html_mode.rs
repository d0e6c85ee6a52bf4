//! Settings the shared contract suite does not exercise: redirects for
//! server-rendered apps, the development cookie, a missing layer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::cookie::CookieJar;
use mfa_axum::{MfaSettings, MfaState, Refusal, RequireMfa, mfa_routes, start_login};
use mfa_core::{Audience, Keys, MemoryStore, Mfa, MfaConfig, Outbox, Platform, Policy, Timestamp, UserId};
use tower_sessions::Session;

type St = MfaState<MemoryStore>;

async fn login(State(st): State<St>, session: Session, jar: CookieJar) -> Response {
    let user = UserId::new("alice").unwrap();
    mfa_axum::login_response(start_login(&st, &session, &user, Audience::new(Platform::WEB), &jar).await)
}

async fn serve(settings: MfaSettings, protect: bool) -> (String, reqwest::Client) {
    let mfa = Mfa::builder(
        MemoryStore::new(),
        Keys::generate_ephemeral().unwrap(),
        MfaConfig::builder("Html").build().unwrap(),
    )
    .policy(Policy::required_from(Timestamp::EPOCH))
    .sender(Arc::new(Outbox::new()))
    .build();
    let state = MfaState::new(mfa, settings);
    let app: Router = Router::new()
        .route("/login", post(login))
        .route(
            "/account",
            get(|m: RequireMfa| async move { Json(m.user.to_string()) }),
        )
        .with_state(state.clone())
        .merge(mfa_routes(state.clone()));
    let app = if protect { state.protect(app) } else { app };
    let app = app.layer(tower_sessions::SessionManagerLayer::new(
        tower_sessions::MemoryStore::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (format!("http://{addr}"), client)
}

#[tokio::test]
async fn html_apps_get_redirects_and_mfa_routes_stay_json() {
    let settings = MfaSettings::default().refusal(Refusal::Redirect {
        login: "/login-page".into(),
        mfa: "/code-page".into(),
    });
    let (base, c) = serve(settings, true).await;
    let r = c.get(format!("{base}/account")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login-page");

    let r = c.post(format!("{base}/login")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c.get(format!("{base}/account")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/code-page");

    let r = c.get(format!("{base}/mfa/factors")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"error":"mfa_required","message":"complete the second factor first"}"#
    );
}

#[tokio::test]
async fn extractors_without_the_layer_fail_closed() {
    let (base, c) = serve(MfaSettings::default(), false).await;
    c.post(format!("{base}/login")).send().await.unwrap();
    let r = c.get(format!("{base}/account")).send().await.unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(r.text().await.unwrap(), r#"{"error":"internal"}"#);
    // The MFA routes carry their own layer.
    let r = c.get(format!("{base}/mfa/status")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn the_dev_setting_is_the_only_way_to_drop_secure() {
    assert_eq!(MfaSettings::default().trust_cookie_name(), "__Host-mfa_trust");
    assert_eq!(
        MfaSettings::default().dev_insecure_cookie().trust_cookie_name(),
        mfa_axum::DEV_TRUST_COOKIE
    );
}

#[test]
fn prefixes_are_normalised() {
    assert_eq!(
        MfaSettings::default().prefix("/auth/mfa/").prefix_str(),
        "/auth/mfa"
    );
    assert_eq!(MfaSettings::default().prefix("").prefix_str(), "/mfa");
    assert_eq!(MfaSettings::default().prefix("mfa").prefix_str(), "/mfa");
}

#[tokio::test]
async fn the_dev_cookie_has_no_secure_flag_and_another_name() {
    let outbox = Arc::new(Outbox::new());
    let mfa = Mfa::builder(
        MemoryStore::new(),
        Keys::generate_ephemeral().unwrap(),
        MfaConfig::builder("Dev").build().unwrap(),
    )
    .policy(Policy::required_from(Timestamp::EPOCH))
    .sender(outbox.clone())
    .build();
    let state = MfaState::new(mfa, MfaSettings::default().dev_insecure_cookie());
    let app: Router = Router::new()
        .route("/login", post(login))
        .with_state(state.clone())
        .merge(mfa_routes(state.clone()));
    let app = state.protect(app).layer(tower_sessions::SessionManagerLayer::new(
        tower_sessions::MemoryStore::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let c = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let post_json = |path: &str, body: serde_json::Value| {
        c.post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };

    c.post(format!("{base}/login")).send().await.unwrap();
    let r: serde_json::Value = post_json(
        "/mfa/enroll/sms",
        serde_json::json!({"label": "m", "phone": "+447700900123"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let factor = r["factor_id"].as_str().unwrap().to_owned();
    let code = outbox.last_code_to("+447700900123").unwrap();
    let r = post_json(
        "/mfa/enroll/confirm",
        serde_json::json!({"factor_id": factor, "code": code.expose()}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);

    c.post(format!("{base}/login")).send().await.unwrap();
    let r: serde_json::Value = post_json("/mfa/send-code", serde_json::json!({"factor_id": factor}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = outbox.last_code_to("+447700900123").unwrap();
    let r = post_json(
        "/mfa/verify",
        serde_json::json!({"method": "challenge", "challenge_id": r["challenge_id"], "code": code.expose(), "trust_device": true}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let set: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let trust = set
        .iter()
        .find(|c| c.starts_with(&format!("{}=", mfa_axum::DEV_TRUST_COOKIE)))
        .expect("dev trust cookie");
    assert!(!trust.contains("Secure"), "{trust}");
    assert!(
        trust.contains("HttpOnly") && trust.contains("SameSite=Lax"),
        "{trust}"
    );
    assert!(!set.iter().any(|c| c.starts_with("__Host-")));
}

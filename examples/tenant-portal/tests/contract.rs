//! The HTTP contract suite (tests/contract) against the portal's MFA
//! routes, as the portal serves them: mounted by `app::start` +
//! `App::serve` on a real SQLite file (mfa-store-sqlx), with the portal's
//! persistent sessions, its guard settings (redirect refusals for browsers,
//! its pending-page allow-list), CSRF origin and security headers.
//!
//! The portal's own HTML pages are replaced by the suite's scaffold (a JSON
//! `POST /login` that accepts the suite's password for any user, `/logout`
//! and `/app/*`), because the suite must control the password step. Its
//! client asks for JSON, which is what the portal's mobile apps do, so the
//! guard answers it with JSON refusals instead of redirects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::cookie::CookieJar;
use base64::Engine as _;
use mfa_axum::{MfaState, PendingMfa, RequireFreshMfa, RequireMfa, login_response, mfa_routes, start_login};
use mfa_contract_tests::{PASSWORD, Running, ServerUnderTest, Setup, contract_suite};
use mfa_core::{Audience, Platform, UserId};
use mfa_store_sqlx::SqlxStore;
use serde_json::json;
use tenant_portal::app::{self, App, EngineParts};
use tenant_portal::config::Config;
use tower_sessions::Session;

#[derive(serde::Deserialize)]
struct LoginForm {
    user: String,
    password: String,
}

fn refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "invalid_credentials"})),
    )
        .into_response()
}

async fn login(
    State(st): State<MfaState<SqlxStore>>,
    session: Session,
    jar: CookieJar,
    headers: HeaderMap,
    Json(f): Json<LoginForm>,
) -> Response {
    if f.password != PASSWORD {
        return refused();
    }
    let Ok(user) = UserId::new(f.user) else {
        return refused();
    };
    let platform = headers
        .get("x-client-platform")
        .and_then(|v| v.to_str().ok())
        .and_then(|p| Platform::new(p).ok())
        .unwrap_or(Platform::WEB);
    login_response(start_login(&st, &session, &user, Audience::new(platform), &jar).await)
}

async fn logout(session: Session) -> Response {
    match mfa_axum::logout(&session).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The portal in production mode (keys given, nothing seeded) on a fresh
/// SQLite file, with the suite's clock, outbox, policy and configuration.
struct Portal;

#[async_trait::async_trait]
impl ServerUnderTest for Portal {
    async fn start(&self, setup: Setup) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("portal.sqlite3").display()
        );
        let b64 = |b: [u8; 32]| base64::engine::general_purpose::STANDARD.encode(b);
        let mut config = Config::demo(addr, url);
        config.demo = false;
        config.mac_key = Some(b64(rand::random()));
        config.encryption_keys = Some(format!("1:{}", b64(rand::random())));
        let parts = EngineParts {
            clock: Some(setup.clock),
            outbox: Some(setup.outbox),
            policy: Some(setup.policy),
            config: Some(setup.config),
            pending_pages: vec!["/app/pending"],
        };
        let (portal, _) = app::start(config, parts).await.expect("portal starts");
        let routes: Router<App> = Router::new()
            .route("/login", post(login))
            .route("/logout", post(logout))
            .route(
                "/app/account",
                get(|m: RequireMfa| async move { Json(json!({"user": m.user})) }),
            )
            .route(
                "/app/payments",
                get(|m: RequireFreshMfa| async move { Json(json!({"user": m.user})) }),
            )
            .route(
                "/app/pending",
                get(|m: PendingMfa| async move { Json(json!({"user": m.user})) }),
            )
            .merge(mfa_routes(portal.mfa.clone()));
        let router = portal.serve(routes);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Running {
            base_url: format!("http://{addr}"),
            prefix: "/mfa".into(),
            session_cookie: "portal_session".into(),
            trust_cookie: portal.mfa.settings().trust_cookie_name().to_owned(),
            control: portal.mfa.mfa().clone(),
            guard: Box::new((dir, task.abort_handle())),
        }
    }
}

contract_suite!(Portal);
